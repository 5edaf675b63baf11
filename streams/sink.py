"""Aggregation sink: ``ocr-results`` -> window operator -> ClickHouse, exactly-once *effect*.

What it does
------------
Consumes ``OcrResult`` records (key ``business_id``, so all events of a
business share one partition), feeds them per partition into
:class:`streams.windows.WindowOperator`, and writes, in batches of thousands
of rows per insert:

* ``documents``: one row per ``document_id`` with ``is_late`` and the source
  ``(partition, offset)``; ReplacingMergeTree(version), so a replayed row
  replaces its twin;
* ``windows``: every current/final row the operator emits, version = a
  strictly increasing wall-clock microsecond stamp (newest emission wins);
* late events (raw bytes, unchanged) to the ``late-events`` topic, records
  that fail permanently (bad Avro, unknown business, invalid event time) to
  the DLQ (stage ``aggregate``); the DLQ topic itself is copied into the
  ``dead_letters`` table by a second consumer (idempotent on its key).

Exactly-once effect (without broker transactions)
-------------------------------------------------
Per flush the order is: documents + windows inserts, late/DLQ records acked
by Kafka, THEN one ``stream_checkpoints`` row per assigned partition holding
the operator state of that partition and the last input offset it covers
(:mod:`streams.checkpoint`). On (re)assignment the sink restores each
partition's newest checkpoint and seeks to ``offset + 1`` (start of the
partition when there is none) — Kafka's committed offset is only advisory
(committed after the checkpoint, for lag metrics). A crash anywhere replays
from the checkpoint: the operator state equals the state that produced the
checkpoint, every replayed record rewrites its ``documents`` row and re-dirties
its windows, and all rewrites carry newer versions, so after the replay the
tables equal a run without the crash — nothing lost, nothing counted twice.
Duplicate *records* (an OCR worker re-publishing a result after its own crash)
are dropped by ``document_id``: a record is a duplicate when the same
partition already delivered that id at a smaller offset (in-memory index,
warmed on assignment from ``documents`` rows ingested within
``stream.dedupe_horizon_ms``, at most ``stream.dedupe_max_ids`` ids). Side
outputs (late topic, DLQ) are at-least-once: a replay may re-send them (dedupe
by ``document_id``); the ClickHouse counts (``is_late``, ``late_events``) are
exact.

Why confluent-kafka and not a Faust agent here
----------------------------------------------
Recovery needs "seek partition p to checkpoint + 1 inside the assignment
callback, before any record is fetched": confluent-kafka does that
atomically (``on_assign`` sets the start offsets), Faust seeks after its own
recovery, reads committed offsets and changelog end offsets through aiokafka —
whose ``end_offsets``/ListOffsets answers are wrong on Tansu, so its changelog
recovery restores truncated state — and its ``exactly_once`` mode cannot start
(aiokafka's InitProducerId v0 fails). Throughput: Faust delivers one event per
coroutine step through its stream machinery (~10-20k events/s per process);
``Consumer.consume(10000)`` hands over batches and the operator has a batch
API, which is what the >= 50k events/s per process target needs. The CPU-heavy
OCR topology stays in Faust agents (:mod:`streams.app`).

Scaling: against a ClickHouse server run the sink N times with the same group
(partitions split by the group protocol; each partition's checkpoint is
handed over through ClickHouse on revoke/assign). Embedded chDB allows one
process per data directory: one sink process (it may run several instances
in threads — they share the client under :data:`CLICKHOUSE_LOCK`).
"""

from __future__ import annotations

import gc
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from ocrstream import metrics
from ocrstream.clickhouse import connect, migrate
from ocrstream.codec import CodecError, make_serde
from ocrstream.kafka import make_consumer, make_producer
from ocrstream.settings import Settings
from ocrstream.topics import DLQ, LATE_EVENTS, OCR_RESULTS
from streams.checkpoint import CLICKHOUSE_LOCK, VERSIONS, Checkpoint, CheckpointStore
from streams.dlq import (
    DEAD_LETTER_COLUMNS,
    DeadLetterPublisher,
    InvalidRecord,
    RetryPolicy,
    TransientError,
    UnknownBusiness,
    classify_error,
    dead_letter,
    dead_letter_row,
    retry_sync,
)
from streams.windows import LateEvent, WindowOperator, WindowResult

log = logging.getLogger(__name__)

DOC_COLUMNS = (
    "document_id", "business_id", "event_time", "processed_at", "source", "uri", "doc_type",
    "type_confidence", "engine", "text", "pages", "vendor", "date", "currency", "subtotal", "tax",
    "total", "field_confidences", "line_items", "lines", "score", "ocr_score", "fetch_s",
    "classify_s", "ocr_s", "extract_s", "is_late", "version", "source_partition", "source_offset",
    "field_evidence", "page_sizes",
)  # fmt: skip

WINDOW_COLUMNS = (
    "business_id", "granularity", "window_start", "window_end", "document_count", "total_amount",
    "avg_score", "avg_ocr_score", "median_score", "median_ocr_score", "ocr_seconds_p50",
    "ocr_seconds_p95", "type_counts", "late_events", "min_event_time", "max_event_time",
    "is_final", "emitted_at", "version",
)  # fmt: skip

_EMPTY: dict[str, Any] = {}


class DedupeIndex:
    """``document_id -> first offset`` per partition, bounded in time and size."""

    def __init__(self, horizon_ms: int, max_ids: int) -> None:
        self.horizon_ms = horizon_ms
        self.max_ids = max_ids
        self.ids: dict[int, dict[str, int]] = {}
        self._order: deque[tuple[int, int, str]] = deque()  # (ingest ms, partition, id)

    def reset(self, partition: int, known: dict[str, int]) -> None:
        self.ids[partition] = dict(known)
        now = int(time.time() * 1000)
        self._order.extend((now, partition, k) for k in known)

    def drop(self, partition: int) -> None:
        self.ids.pop(partition, None)

    def seen_before(self, partition: int, document_id: str, offset: int) -> bool:
        """True when ``document_id`` came earlier on ``partition``; else remember it."""
        ids = self.ids.setdefault(partition, {})
        first = ids.get(document_id)
        if first is not None and first < offset:
            return True
        if first is None:
            ids[document_id] = offset
            self._order.append((int(time.time() * 1000), partition, document_id))
        return False

    def evict(self) -> None:
        limit = int(time.time() * 1000) - self.horizon_ms
        order = self._order
        while order and (order[0][0] < limit or len(order) > self.max_ids):
            _, p, k = order.popleft()
            part = self.ids.get(p)
            if part is not None:
                part.pop(k, None)


@dataclass
class SinkStats:
    records: int = 0
    documents: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    late: int = 0
    window_rows: int = 0
    flushes: int = 0
    checkpoints: int = 0
    dlq_rows: int = 0
    assigned: list[int] = field(default_factory=list)
    visible_latency_ms: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d.pop("visible_latency_ms")
        return d


try:  # optional speed-up (~10x on the lines/line_items columns); same JSON text
    import orjson

    def _json_list(value: Any) -> str:
        if not value:
            return "[]"
        return orjson.dumps(value).decode()
except ImportError:  # pragma: no cover
    def _json_list(value: Any) -> str:
        if not value:
            return "[]"
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class AggregationSink:
    """One consumer of ``ocr-results`` in group ``stream.sink_group``; see module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        group: str | None = None,
        client: Any | None = None,
        name: str = "sink",
        operator_factory: Callable[[], WindowOperator] | None = None,
        track_latency: bool = False,
        copy_dead_letters: bool = True,
    ) -> None:
        self.settings = settings
        s = settings.stream
        self.name = name
        self.group = group or s.sink_group
        self.topic = settings.topic(OCR_RESULTS.short_name)
        self.late_topic = settings.topic(LATE_EVENTS.short_name)
        self.dlq_topic = settings.topic(DLQ.short_name)
        self.client = client if client is not None else connect(settings)
        with CLICKHOUSE_LOCK:
            if settings.clickhouse_dsn.startswith("chdb://"):
                # ocrstream.clickhouse.connect() caches ONE chDB client per path and only
                # selects the database when it creates it: select ours explicitly.
                db = settings.clickhouse.database
                self.client.command(f"CREATE DATABASE IF NOT EXISTS `{db}`")
                self.client.command(f"USE `{db}`")
            migrate(self.client)
        self.checkpoints = CheckpointStore(self.client, self.group, self.topic)
        self.decoder = make_serde("OcrResult", settings.kafka.schema_registry_url)
        self.known = set(s.known_businesses)
        self.policy = RetryPolicy.from_settings(s)
        self.op = (operator_factory or self._default_operator)()
        self.producer = make_producer(settings, **{"linger.ms": 20})
        self.dlq = DeadLetterPublisher(settings, producer=self.producer)
        self.dedupe = DedupeIndex(s.dedupe_horizon_ms, s.dedupe_max_ids)
        self.consumer: Consumer | None = None
        self.dlq_consumer: Consumer | None = None
        self.copy_dead_letters = copy_dead_letters
        self.positions: dict[int, int] = {}  # partition -> last handled offset (-1: none)
        self.stats = SinkStats()
        self.track_latency = track_latency
        self._docs: dict[str, list[Any]] = {c: [] for c in DOC_COLUMNS}
        self._n_docs = 0
        self._windows: list[list[Any]] = []
        self._late: list[tuple[bytes | None, bytes]] = []
        self._dlq_rows: list[list[Any]] = []
        self._dlq_offsets: dict[TopicPartition, int] = {}
        self._dirty_since_checkpoint = False
        self._last_flush = time.monotonic()
        self._last_checkpoint = time.monotonic()
        self._publish_times: list[int] = []  # Kafka timestamps of flushed records (latency)
        self._stop = threading.Event()
        self._assigned_at = 0.0

    def _default_operator(self) -> WindowOperator:
        s = self.settings.stream
        return WindowOperator(s, closed_retention_ms=s.closed_retention_ms, watermark_scope=s.watermark_scope)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        s = self.settings
        self.consumer = make_consumer(
            s, self.group,
            **{"max.poll.interval.ms": 600_000, "fetch.wait.max.ms": 20, "enable.partition.eof": False},
        )  # fmt: skip
        self.consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_lost)
        if self.copy_dead_letters:
            self.dlq_consumer = make_consumer(s, f"{self.group}-dead-letters", **{"fetch.wait.max.ms": 100})
            self.dlq_consumer.subscribe([self.dlq_topic])
        log.info("%s: consuming %s as group %s", self.name, self.topic, self.group)

    def stop(self) -> None:
        self._stop.set()

    def run(self, *, idle_exit_s: float | None = None, max_runtime_s: float | None = None) -> SinkStats:
        """Consume until :meth:`stop`, ``idle_exit_s`` without input (after windows had
        ``idle_timeout`` to close), or ``max_runtime_s``; flushes and checkpoints on exit."""
        if self.consumer is None:
            self.start()
        assert self.consumer is not None
        s = self.settings.stream
        poll_batch = s.sink_poll_batch
        flush_interval = s.sink_flush_interval_ms / 1000.0
        tick_interval = max(0.05, s.emit_interval_ms / 2000.0)
        started = last_input = last_tick = time.monotonic()
        try:
            while not self._stop.is_set():
                msgs = self.consumer.consume(num_messages=poll_batch, timeout=0.05)
                now = time.monotonic()
                if msgs:
                    self._handle(msgs)
                    last_input = now
                if now - last_tick >= tick_interval:
                    self._emit(self.op.tick(), None)
                    last_tick = now
                    self._copy_dead_letters()
                    self.dedupe.evict()
                    metrics.update_lag_from_consumer(self.consumer, self.group)
                if self._n_docs + len(self._windows) >= s.sink_batch_rows or now - self._last_flush >= flush_interval:
                    self.flush(checkpoint=now - self._last_checkpoint >= flush_interval)
                if idle_exit_s is not None and self.positions and now - max(last_input, self._assigned_at) >= idle_exit_s:
                    break
                if max_runtime_s is not None and now - started >= max_runtime_s:
                    break
            self._emit(self.op.tick(), None)
            self._emit(self.op.flush(), None)  # current rows of every changed window
            self._copy_dead_letters()
            self.flush(checkpoint=True, force=True)
            metrics.update_lag_from_consumer(self.consumer, self.group)
        finally:
            self.close()
        return self.stats

    def close(self) -> None:
        for consumer in (self.consumer, self.dlq_consumer):
            if consumer is not None:
                try:
                    consumer.close()  # on_revoke flushes + checkpoints what is left
                except Exception as exc:  # noqa: BLE001
                    log.warning("%s: consumer close failed: %s", self.name, exc)
        self.consumer = self.dlq_consumer = None
        self.producer.flush(10)

    # ------------------------------------------------------------------ rebalance
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        pids = [tp.partition for tp in partitions if tp.topic == self.topic]
        cps: dict[int, Checkpoint] = retry_sync(lambda: self.checkpoints.load(pids), self.policy,
                                                "checkpoint-load", f"{self.topic}{pids}")
        snapshots: dict[int, Any] = {}
        for tp in partitions:
            cp = cps.get(tp.partition)
            if cp is not None:
                tp.offset = cp.offset + 1
                snapshots[tp.partition] = cp.state["partitions"].get(str(tp.partition))
                self.positions[tp.partition] = cp.offset
            else:
                tp.offset = OFFSET_BEGINNING
                self.positions[tp.partition] = -1
        self.op.assign(pids, snapshots)
        for p in pids:
            self.dedupe.reset(p, retry_sync(lambda p=p: self._load_recent_ids(p), self.policy,
                                            "dedupe-load", f"{self.topic}[{p}]"))
        consumer.assign(partitions)
        self._assigned_at = time.monotonic()
        self.stats.assigned = sorted(self.positions)
        for p in pids:
            log.info("%s: assigned %s[%d], resuming at offset %d (%s)", self.name, self.topic, p,
                     self.positions[p] + 1, "checkpoint" if p in cps else "no checkpoint: from the start")

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        pids = [tp.partition for tp in partitions if tp.partition in self.positions]
        if pids:
            self._emit(self.op.tick(), None)
            self._emit(self.op.flush(), None)
            self.flush(checkpoint=True, force=True)
            self._drop(pids)
            log.info("%s: revoked %s%s after checkpoint", self.name, self.topic, pids)
        consumer.unassign()

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        pids = [tp.partition for tp in partitions if tp.partition in self.positions]
        log.warning("%s: lost %s%s; dropping their state (the new owner restores the checkpoint)",
                    self.name, self.topic, pids)
        self._drop(pids)

    def _drop(self, pids: list[int]) -> None:
        self.op.revoke(pids)
        for p in pids:
            self.positions.pop(p, None)
            self.dedupe.drop(p)
            metrics.forget_partition(self.group, self.topic, p)
        self.stats.assigned = sorted(self.positions)

    def _load_recent_ids(self, partition: int) -> dict[str, int]:
        since = VERSIONS() - self.settings.stream.dedupe_horizon_ms * 1000
        with CLICKHOUSE_LOCK:
            rows = self.client.query(
                "SELECT document_id, min(source_offset) FROM documents "
                "WHERE source_partition = {p:Int32} AND version >= {v:UInt64} GROUP BY document_id "
                "LIMIT {n:UInt64}",
                parameters={"p": partition, "v": since, "n": self.settings.stream.dedupe_max_ids},
            ).result_rows
        return {str(k): int(o) for k, o in rows}

    # ------------------------------------------------------------------ processing
    def _validate(self, rec: dict[str, Any]) -> None:
        if not rec.get("document_id"):
            raise InvalidRecord("empty document_id", stage="aggregate")
        business = rec.get("business_id")
        if not business:
            raise InvalidRecord("empty business_id", stage="aggregate")
        if self.known and business not in self.known:
            raise UnknownBusiness(f"unknown business {business!r}", stage="aggregate")
        et = rec.get("event_time")
        if et.__class__ is not int or et <= 0:
            raise InvalidRecord(f"invalid event_time {et!r}", stage="aggregate")

    def _handle(self, msgs: list[Any]) -> None:
        # A batch allocates ~10 container objects per record that all stay alive until the
        # flush: the cyclic GC would rescan them again and again (up to a 1.5x slowdown of
        # decoding); nothing here creates reference cycles, so pause it for the batch.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._handle_batch(msgs)
        finally:
            if gc_was_enabled:
                gc.enable()

    def _handle_batch(self, msgs: list[Any]) -> None:
        by_part: dict[int, list[Any]] = {}
        for m in msgs:
            err = m.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    log.warning("%s: consume error on %s[%s]: %s", self.name, m.topic(), m.partition(), err)
                continue
            by_part.setdefault(m.partition(), []).append(m)
        decode = self.decoder.decode
        validate = self._validate
        seen_before = self.dedupe.seen_before
        for p, ms in by_part.items():
            pos = self.positions.get(p)
            if pos is None:
                continue  # not ours (any more)
            batch: list[tuple[int, dict[str, Any]]] = []
            raws: dict[int, Any] = {}
            for m in ms:
                off = m.offset()
                if off <= pos:
                    continue
                pos = off
                value = m.value()
                try:
                    rec = decode(value)
                    validate(rec)
                except Exception as exc:  # noqa: BLE001
                    if classify_error(exc) == "transient":
                        raise
                    self._dead_letter(p, off, exc, value, None)
                    continue
                if seen_before(p, rec["document_id"], off):
                    self.stats.duplicates += 1
                    continue
                batch.append((off, rec))
                raws[off] = m
            self.positions[p] = pos
            self._dirty_since_checkpoint = True
            if not batch:
                continue
            self.stats.records += len(batch)
            metrics.EVENTS.inc(len(batch), stage="windowed")
            late = self._emit(self.op.process_batch(p, batch), raws)
            self._add_documents(p, batch, late)
            if self.track_latency:
                self._publish_times.extend(raws[o].timestamp()[1] for o, _ in batch)

    def _dead_letter(self, p: int, off: int, exc: BaseException, payload: bytes | None, rec: Any) -> None:
        rec = rec or {}
        dl = dead_letter(
            source_topic=self.topic, source_partition=p, source_offset=off,
            stage=getattr(exc, "stage", None) or "aggregate", exc=exc,
            document_id=rec.get("document_id"), business_id=rec.get("business_id"), payload=payload,
        )  # fmt: skip
        self.dlq.publish(dl)
        self.stats.dead_letters += 1
        metrics.DEAD_LETTERS.inc(stage=dl["stage"], error_class=dl["error_class"])

    def _emit(self, emissions: list[Any], raws: dict[int, Any] | None) -> set[int]:
        """Buffer window rows / late events; returns the offsets of late events."""
        late: set[int] = set()
        for e in emissions:
            if e.__class__ is WindowResult:
                r = e.row
                self._windows.append([
                    r["business_id"], r["granularity"], r["window_start"], r["window_end"],
                    r["document_count"], r["total_amount"], r["avg_score"], r["avg_ocr_score"],
                    r["median_score"], r["median_ocr_score"], r["ocr_seconds_p50"], r["ocr_seconds_p95"],
                    r["type_counts"], r["late_events"], r["min_event_time"], r["max_event_time"],
                    1 if r["is_final"] else 0, r["emitted_at"], VERSIONS(),
                ])  # fmt: skip
            elif isinstance(e, LateEvent):
                late.add(e.offset)
                msg = raws.get(e.offset) if raws else None
                value = msg.value() if msg is not None else None
                if value is not None:
                    self._late.append((e.business_id.encode(), value))
                log.debug("late event %s[%d]@%d business=%s event_time=%d watermark=%d", self.topic,
                          e.partition, e.offset, e.business_id, e.event_time, e.watermark)
        if late:
            self.stats.late += len(late)
            metrics.LATE_EVENTS.inc(len(late))
        return late

    def _add_documents(self, p: int, batch: list[tuple[int, dict[str, Any]]], late: set[int]) -> None:
        """Append the batch's ``documents`` rows column by column (one comprehension per column)."""
        cols = self._docs
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
        cols["line_items"] += [_json_list(r.get("line_items")) for r in recs]
        cols["lines"] += [_json_list(r.get("lines")) for r in recs]
        cols["field_evidence"] += [_json_list(r.get("field_evidence")) if r.get("field_evidence") else "{}" for r in recs]
        cols["page_sizes"] += [_json_list(r.get("page_sizes")) for r in recs]
        cols["score"] += [r.get("score", 0.0) for r in recs]
        cols["ocr_score"] += [r.get("ocr_score", 0.0) for r in recs]
        cols["fetch_s"] += [t.get("fetch_s", 0.0) for t in ts]
        cols["classify_s"] += [t.get("classify_s", 0.0) for t in ts]
        cols["ocr_s"] += [t.get("ocr_s", 0.0) for t in ts]
        cols["extract_s"] += [t.get("extract_s", 0.0) for t in ts]
        cols["is_late"] += [1 if off in late else 0 for off in offs] if late else [0] * n
        cols["version"] += [version] * n
        cols["source_partition"] += [p] * n
        cols["source_offset"] += offs
        self._n_docs += n

    # ------------------------------------------------------------------ writes
    def flush(self, *, checkpoint: bool, force: bool = False) -> None:
        """Write buffered rows, then (``checkpoint``) the state + offsets of every assigned partition."""
        where = f"{self.name} {self.topic}"
        if self._n_docs:
            docs, n = self._docs, self._n_docs
            retry_sync(lambda: self._insert("documents", DOC_COLUMNS, [docs[c] for c in DOC_COLUMNS], True),
                       self.policy, "sink", where)
            self._docs = {c: [] for c in DOC_COLUMNS}
            self._n_docs = 0
            self.stats.documents += n
            metrics.EVENTS.inc(n, stage="sunk")
        if self._windows:
            rows = self._windows
            retry_sync(lambda: self._insert("windows", WINDOW_COLUMNS, rows, False), self.policy, "sink", where)
            self.stats.window_rows += len(rows)
            self._windows = []
        if self._late:
            for key, value in self._late:
                while True:
                    try:
                        self.producer.produce(self.late_topic, value=value, key=key)
                        break
                    except BufferError:
                        self.producer.poll(0.1)
            self._late = []
        if self.producer.flush(30) or self.dlq.errors:
            raise TransientError(f"{where}: late/DLQ records not acknowledged")
        if self._publish_times:
            now_ms = time.time() * 1000
            self.stats.visible_latency_ms.extend(now_ms - t for t in self._publish_times)
            self._publish_times = []
        self.stats.flushes += 1
        self._last_flush = time.monotonic()
        if checkpoint and (self._dirty_since_checkpoint or force) and self.positions:
            self._checkpoint()

    def _insert(self, table: str, columns: tuple[str, ...], data: list[Any], column_oriented: bool) -> None:
        with CLICKHOUSE_LOCK:
            self.client.insert(table, data, column_names=list(columns), column_oriented=column_oriented)

    def _checkpoint(self) -> None:
        pids = sorted(self.positions)
        version = VERSIONS()
        cps = [
            Checkpoint(p, self.positions[p], self.op.snapshot(partitions=[p]), version, self.stats.records)
            for p in pids
        ]
        retry_sync(lambda: self.checkpoints.save(cps), self.policy, "checkpoint", f"{self.name} {self.topic}")
        self.stats.checkpoints += 1
        self._dirty_since_checkpoint = False
        self._last_checkpoint = time.monotonic()
        log.info("%s: checkpoint %s %s records=%d late=%d dup=%d dlq=%d", self.name, self.topic,
                 " ".join(f"p{p}@{self.positions[p]}" for p in pids), self.stats.records, self.stats.late,
                 self.stats.duplicates, self.stats.dead_letters)
        if self.consumer is not None:
            offsets = [TopicPartition(self.topic, p, self.positions[p] + 1) for p in pids if self.positions[p] >= 0]
            if offsets:
                try:  # advisory only (lag metrics); recovery reads the checkpoint
                    self.consumer.commit(offsets=offsets, asynchronous=True)
                except Exception as exc:  # noqa: BLE001
                    log.debug("advisory commit failed: %s", exc)

    def _copy_dead_letters(self) -> None:
        """Copy the DLQ topic into ``dead_letters`` (idempotent key; at-least-once)."""
        if self.dlq_consumer is None:
            return
        msgs = self.dlq_consumer.consume(num_messages=1000, timeout=0)
        if not msgs:
            return
        serde = make_serde("DeadLetter", self.settings.kafka.schema_registry_url)
        rows: list[list[Any]] = []
        offsets: dict[tuple[str, int], int] = {}
        for m in msgs:
            if m.error() is not None:
                continue
            offsets[(m.topic(), m.partition())] = m.offset() + 1
            try:
                rows.append(dead_letter_row(serde.decode(m.value())))
            except CodecError as exc:
                log.warning("undecodable dead letter %s[%d]@%d: %s", m.topic(), m.partition(), m.offset(), exc)
        if rows:
            retry_sync(lambda: self._insert("dead_letters", DEAD_LETTER_COLUMNS, rows, False), self.policy,
                       "sink", f"{self.name} {self.dlq_topic}")
            self.stats.dlq_rows += len(rows)
        self.dlq_consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                                 asynchronous=False)
