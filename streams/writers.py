"""ClickHouse writers of the sink: one per table, each buffering rows until the flush.

* :class:`DocumentWriter` — ``documents``: one row per handled ``OcrResult`` with its
  lateness flags (``is_late`` = too late, ``late_update``) and source position,
  sent as the record's own Avro body (ClickHouse parses it, migration 011);
* :class:`WindowWriter` — ``windows``: every row the operator emits and every late
  update (:mod:`streams.recompute`), each with a strictly increasing version
  (:data:`streams.checkpoint.VERSIONS`, wall-clock µs: newest wins);
* checkpoints are written by :class:`streams.checkpoint.CheckpointStore`.

Column sets come from :mod:`ocrstream.tables`. Every insert holds
:data:`~streams.checkpoint.CLICKHOUSE_LOCK` (one chDB handle per process).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ocrstream.avro_prefix import container, zigzag
from ocrstream.codec import Schema
from ocrstream.errors import Transient
from ocrstream.result_validation import constraint_reason
from ocrstream.tables import WINDOW_COLUMN_NAMES
from streams.checkpoint import CLICKHOUSE_LOCK, VERSIONS


#: Fields the sink appends to every OcrResult body (the ``documents_avro`` record, migration 011).
ROW_FIELDS: tuple[tuple[str, str], ...] = (
    ("is_late", "int"), ("late_update", "int"), ("version", "long"), ("source_partition", "int"),
    ("source_offset", "long"),
)
_FLAGS = {(False, False): b"\x00\x00", (True, False): b"\x02\x00", (False, True): b"\x00\x02",
          (True, True): b"\x02\x02"}  # zig-zag ints 0/1 of (is_late, late_update)


@dataclass
class DocumentBatch:
    """Buffered ``documents`` rows: Avro chunks (body, own fields, body, ...) and their sources."""

    chunks: list[Any]
    items: list[tuple[int, int, Any]]  # (partition, offset, body)

    @property
    def n(self) -> int:
        return len(self.items)


class DocumentWriter:
    """Buffers ``documents`` rows as Avro: each record's body (current ``OcrResult`` schema)
    plus :data:`ROW_FIELDS`; a batch goes to ClickHouse as one object container into
    ``documents_avro`` (ClickHouse parses the bodies; its view fills ``documents``)."""

    def __init__(self, client: Any, schema: Schema) -> None:
        self.client = client
        self.row_schema = {**schema.raw, "name": "DocumentRow",
                           "fields": [*schema.raw["fields"], *({"name": n, "type": t} for n, t in ROW_FIELDS)]}
        self._batch = DocumentBatch([], [])

    @property
    def pending(self) -> int:
        return self._batch.n

    def add(self, partition: int, batch: list[tuple[int, Any]], too_late: set[int], late_update: set[int]) -> None:
        """Append ``(offset, body)`` pairs of one partition; ``too_late`` / ``late_update`` are
        the offsets with those flags."""
        tail = zigzag(VERSIONS()) + zigzag(partition)
        chunks = self._batch.chunks
        flags = _FLAGS
        for off, body in batch:
            chunks.append(body)
            chunks.append(flags[(off in too_late, off in late_update)] + tail + zigzag(off))
        self._batch.items.extend([(partition, off, body) for off, body in batch])

    def take(self) -> DocumentBatch | None:
        """The buffered rows (and an empty buffer), or None when there are none."""
        batch = self._batch
        if not batch.n:
            return None
        self._batch = DocumentBatch([], [])
        return batch

    def clear(self) -> None:
        self._batch = DocumentBatch([], [])

    def insert_batch(self, batch: DocumentBatch) -> None:
        """One insert of ``batch`` (raises on failure)."""
        self._send(batch.chunks, batch.n)

    def _send(self, chunks: list[Any], n: int) -> None:
        blob = container(self.row_schema, chunks, n)
        with CLICKHOUSE_LOCK:
            self.client.raw_insert("documents_avro", None, blob, fmt="Avro")

    def refused(self, batch: DocumentBatch, parse: Callable[[Any], Any],
                max_refused: int = 10) -> dict[tuple[int, int], str]:
        """After ClickHouse refused ``batch``: ``(partition, offset) -> reason`` of the rows it
        refuses on their own, found by bisection (the accepted halves are inserted —
        harmless, the caller replays them from its checkpoint). ``parse`` (a full decode)
        names the reason. More than ``max_refused`` such rows means ClickHouse refuses
        everything: :class:`~ocrstream.deadletter.Transient`, nothing is blamed on the records."""
        bad: dict[tuple[int, int], str] = {}

        def bisect(lo: int, hi: int) -> None:
            try:
                self._send(batch.chunks[2 * lo:2 * hi], hi - lo)
                return
            except Exception as exc:  # noqa: BLE001 - narrowed down below
                if hi - lo == 1:
                    p, off, body = batch.items[lo]
                    try:
                        parse(body)
                        why = f"ClickHouse refused it: {constraint_reason(str(exc))}"
                    except Exception as parse_exc:  # noqa: BLE001
                        why = f"{type(parse_exc).__name__}: {parse_exc}"
                    bad[(p, off)] = why[:300]
                    if len(bad) > max_refused:
                        raise Transient(f"ClickHouse refuses most documents rows: {why[:200]}") from exc
                    return
            mid = (lo + hi) // 2
            bisect(lo, mid)
            bisect(mid, hi)

        bisect(0, batch.n)
        return bad


class WindowWriter:
    """Buffers ``windows`` rows (:data:`ocrstream.tables.WINDOW_COLUMNS` order)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._rows: list[list[Any]] = []

    @property
    def pending(self) -> int:
        return len(self._rows)

    def add_row(self, r: Mapping[str, Any]) -> None:
        """A ``WindowAggregate`` row dict from the operator; versioned now."""
        self._rows.append([
            r["business_id"], r["granularity"], r["window_start"], r["window_end"], r["document_count"],
            r["total_amount"], r["avg_score"], r["avg_ocr_score"], r["median_score"], r["median_ocr_score"],
            r["ocr_seconds_p50"], r["ocr_seconds_p95"], r["type_counts"], r["late_events"], r["too_late_events"],
            r["min_event_time"], r["max_event_time"], 1 if r["is_final"] else 0, r["status"], r["emitted_at"],
            VERSIONS(),
        ])  # fmt: skip

    def take(self) -> list[list[Any]]:
        rows, self._rows = self._rows, []
        return rows

    def clear(self) -> None:
        self._rows = []

    def insert_rows(self, rows: list[list[Any]]) -> None:
        with CLICKHOUSE_LOCK:
            self.client.insert("windows", rows, column_names=list(WINDOW_COLUMN_NAMES))


__all__ = ["DocumentBatch", "DocumentWriter", "ROW_FIELDS", "WindowWriter"]
