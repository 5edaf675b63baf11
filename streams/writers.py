"""ClickHouse writers of the sink: one per table, each buffering rows until the flush.

* :class:`DocumentWriter` — ``documents``: one row per handled ``OcrResult`` with its
  lateness flags (``is_late`` = too late, ``late_update``) and source position;
* :class:`WindowWriter` — ``windows``: every row the operator emits and every late
  update (:mod:`streams.recompute`), each with a strictly increasing version
  (:data:`streams.checkpoint.VERSIONS`, wall-clock µs: newest wins);
* checkpoints are written by :class:`streams.checkpoint.CheckpointStore`.

Column sets come from :mod:`ocrstream.tables`. Every insert holds
:data:`~streams.checkpoint.CLICKHOUSE_LOCK` (one chDB handle per process).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ocrstream.tables import DOCUMENT_COLUMN_NAMES, WINDOW_COLUMN_NAMES
from streams.checkpoint import CLICKHOUSE_LOCK, VERSIONS

_EMPTY: dict[str, Any] = {}

try:  # optional speed-up (~10x on the lines/line_items columns); same JSON text
    import orjson

    def json_list(value: Any) -> str:
        if not value:
            return "[]"
        return orjson.dumps(value).decode()
except ImportError:  # pragma: no cover
    def json_list(value: Any) -> str:
        if not value:
            return "[]"
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class DocumentWriter:
    """Buffers ``documents`` rows column by column; :meth:`insert` writes them in one insert."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._cols: dict[str, list[Any]] = {c: [] for c in DOCUMENT_COLUMN_NAMES}
        self.pending = 0
        self.written = 0

    def add(self, partition: int, batch: list[tuple[int, Mapping[str, Any]]], too_late: set[int],
            late_update: set[int]) -> None:
        """Append the rows of ``(offset, record)`` pairs of one partition; ``too_late`` /
        ``late_update`` are the offsets with those flags."""
        cols = self._cols
        n = len(batch)
        version = VERSIONS()
        recs = [r for _, r in batch]
        offs = [off for off, _ in batch]
        fs = [r.get("fields") or _EMPTY for r in recs]
        ts = [r.get("timings") or _EMPTY for r in recs]
        cols["document_id"] += [r["document_id"] for r in recs]
        cols["business_id"] += [r["business_id"] for r in recs]
        cols["event_time"] += [r["event_time"] for r in recs]
        cols["processed_at"] += [r.get("processed_at") or 0 for r in recs]
        cols["source"] += [r.get("source") or "" for r in recs]
        cols["uri"] += [r.get("uri") or "" for r in recs]
        cols["doc_type"] += [r.get("doc_type") or "" for r in recs]
        cols["type_confidence"] += [r.get("type_confidence") or 0.0 for r in recs]
        cols["engine"] += [r.get("engine") or "" for r in recs]
        cols["text"] += [r.get("text") or "" for r in recs]
        cols["pages"] += [r.get("pages") or 1 for r in recs]
        cols["vendor"] += [f.get("vendor") for f in fs]
        cols["date"] += [f.get("date") for f in fs]
        cols["currency"] += [f.get("currency") for f in fs]
        cols["subtotal"] += [f.get("subtotal") for f in fs]
        cols["tax"] += [f.get("tax") for f in fs]
        cols["total"] += [f.get("total") for f in fs]
        cols["field_confidences"] += [f.get("confidences") or _EMPTY for f in fs]
        cols["line_items"] += [json_list(r.get("line_items")) for r in recs]
        cols["lines"] += [json_list(r.get("lines")) for r in recs]
        cols["field_evidence"] += [json_list(r.get("field_evidence")) if r.get("field_evidence") else "{}"
                                   for r in recs]
        cols["page_sizes"] += [json_list(r.get("page_sizes")) for r in recs]
        cols["score"] += [r.get("score", 0.0) for r in recs]
        cols["ocr_score"] += [r.get("ocr_score", 0.0) for r in recs]
        cols["fetch_s"] += [t.get("fetch_s", 0.0) for t in ts]
        cols["classify_s"] += [t.get("classify_s", 0.0) for t in ts]
        cols["ocr_s"] += [t.get("ocr_s", 0.0) for t in ts]
        cols["extract_s"] += [t.get("extract_s", 0.0) for t in ts]
        cols["is_late"] += [1 if off in too_late else 0 for off in offs] if too_late else [0] * n
        cols["late_update"] += [1 if off in late_update else 0 for off in offs] if late_update else [0] * n
        cols["version"] += [version] * n
        cols["source_partition"] += [partition] * n
        cols["source_offset"] += offs
        self.pending += n

    def insert(self) -> int:
        """Write the buffered rows (one insert); returns how many. Raises on failure, keeping them."""
        if not self.pending:
            return 0
        with CLICKHOUSE_LOCK:
            self.client.insert("documents", [self._cols[c] for c in DOCUMENT_COLUMN_NAMES],
                               column_names=list(DOCUMENT_COLUMN_NAMES), column_oriented=True)
        n = self.pending
        self._cols = {c: [] for c in DOCUMENT_COLUMN_NAMES}
        self.pending = 0
        self.written += n
        return n


class WindowWriter:
    """Buffers ``windows`` rows (:data:`ocrstream.tables.WINDOW_COLUMNS` order)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._rows: list[list[Any]] = []
        self.written = 0

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

    def add_rows(self, rows: list[list[Any]]) -> None:
        """Rows already in table order (late updates)."""
        self._rows += rows

    def insert(self) -> int:
        if not self._rows:
            return 0
        rows = self._rows
        with CLICKHOUSE_LOCK:
            self.client.insert("windows", rows, column_names=list(WINDOW_COLUMN_NAMES))
        self._rows = []
        self.written += len(rows)
        return len(rows)


__all__ = ["DocumentWriter", "WindowWriter", "json_list"]
