"""Aggregation sink: ``ocr-results`` -> window operator -> ClickHouse, exactly-once *effect*.

The consume loop and the commit order; every other job lives in its own module.
Why this module is over 500 lines: the loop, its rewind after a refused body and the
rebalance callbacks share the in-flight offsets and the operator; split apart they would
pass that state around and hide the order in which it changes.


* decode + validate (:mod:`ocrstream.result_decode`, :mod:`ocrstream.result_validation`): only the
  scalar prefix of each record is decoded here, ClickHouse parses the Avro bodies;
  a record that fails any range, is larger than ``sink.max_result_bytes`` or has
  an event time more than ``windows.max_future_ms`` ahead of the wall clock is
  dead-lettered (stage ``aggregate``) before it can reach a watermark, a checkpoint
  or ClickHouse; a body ClickHouse refuses (a corrupt tail) is dead-lettered and
  the sink resumes from its last checkpoint (:meth:`AggregationSink._rewind`);
* dedupe by ``document_id`` (:mod:`streams.dedupe`, any age);
* windows (:mod:`streams.windows`, clocks in :mod:`streams.clock`, aggregates in
  :mod:`streams.aggregates`);
* writers, one per table (:mod:`streams.writers`), late updates recomputed from
  the stored documents (:mod:`streams.recompute`), checkpoints
  (:mod:`streams.checkpoint`);
* side outputs: too-late events (raw bytes, header ``ocrstream-reason``) to the
  ``late-events`` topic, every ``windows`` row to the compacted ``windows`` topic
  (``WindowAggregate``, header ``ocrstream-version``), dead letters to the DLQ; the DLQ is copied into
  ``dead_letters`` by its own job (:mod:`streams.dlq_copier`).

Commit order (one flush) and the exactly-once effect
----------------------------------------------------
Each flush cuts a job — documents, window rows, late updates to recompute, too-late
records and, at most every ``sink.flush_interval_ms``, the operator snapshot + last
input offset of every assigned partition — that the committer thread writes in
order (:mod:`streams.commit`): ``documents``, late updates recomputed from
``documents``, ``windows``, late-topic/DLQ records acknowledged, THEN the
checkpoint (Kafka's committed offset follows, advisory only). Meanwhile the loop
decodes the next batch: ClickHouse and Python work on the two cores at once.
Dedupe ids leave memory only once their rows are written.

On (re)assignment the sink restores each partition's newest checkpoint and seeks
to ``offset + 1``. A crash anywhere replays from the checkpoint with the state that
produced it: replayed records rewrite their own ``documents`` rows (same key,
newer version), re-dirty their windows and re-trigger their late updates, and all
rewrites carry newer versions, so after the replay the tables equal a crash-free
run: nothing lost, nothing counted twice. Side outputs are at-least-once (dedupe
by ``document_id`` / source position).

Why confluent-kafka and not a Faust agent here: recovery must seek to the
checkpoint inside the assignment callback, before any fetch (Faust seeks after its
own recovery, which relies on aiokafka's end offsets — wrong on Tansu); and batch
consumption (``Consumer.consume(n)``) with the operator's batch API is what the
>= 50k events/s per process target needs. Scaling: against a ClickHouse server
run the sink N times in one group (partitions move through the checkpoint table);
embedded chDB allows one process per data directory (``--instances`` threads).

Why this module is over 500 lines: a ninth of it is the commit-order contract above; the
rest is one consume loop whose rebalance callbacks (assign, revoke, lost), restore,
rewind and flush share the loop's state (operator, dedupe index, buffers, committer).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from ocrstream import metrics
from ocrstream.clickhouse import connect, migrate
from ocrstream.deadletter import DeadLetterPublisher, RetryPolicy, dead_letter, retry_sync
from ocrstream.errors import Permanent, classify_error
from ocrstream.kafka import BlockingProducer, make_consumer
from ocrstream.result_decode import (
    BUSINESS_ID,
    DOC_TYPE,
    DOCUMENT_ID,
    EVENT_TIME,
    OCR_S,
    OCR_SCORE,
    SCORE,
    TOTAL,
    ResultDecoder,
)
from ocrstream.settings import Settings
from ocrstream.codec import make_serde
from ocrstream.topics import DLQ, LATE_EVENTS, OCR_RESULTS, WINDOWS
from streams.checkpoint import CLICKHOUSE_LOCK, VERSIONS, Checkpoint, CheckpointStore
from streams.commit import REASON_HEADER, Committer, FlushJob
from streams.dedupe import NO_FLOOR, DedupeIndex
from streams.dlq_copier import DeadLetterCopier
from streams.recompute import LateUpdater
from streams.windows import LateEvent, Rejected, WindowOperator, WindowResult
from streams.writers import DocumentWriter, WindowWriter

log = logging.getLogger(__name__)

class RefusedByClickHouse(Permanent):
    """ClickHouse refuses the record's body: a range constraint of ``documents_avro`` (see
    :mod:`ocrstream.result_validation`) or a corrupt tail behind a valid window prefix."""

    document_id: str | None = None
    business_id: str | None = None


@dataclass
class SinkStats:
    records: int = 0
    documents: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    late: int = 0  # late updates: arrived after the close, within allowed lateness (counted)
    too_late: int = 0  # beyond allowed lateness (late topic, is_late = 1)
    late_update_rows: int = 0  # window rows recomputed from documents
    window_rows: int = 0
    flushes: int = 0
    checkpoints: int = 0
    dlq_rows: int = 0
    dedupe_lookups: int = 0
    assigned: list[int] = field(default_factory=list)
    visible_latency_ms: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d.pop("visible_latency_ms")
        return d


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def too_late_reason(e: LateEvent, allowed_lateness_ms: int) -> str:
    """One line for the late topic: how late, against which watermark."""
    return (f"too late: event_time {_iso(e.event_time)} is {(e.watermark - e.event_time) / 3_600_000:.1f} h behind "
            f"the watermark {_iso(e.watermark)} of business {e.business_id!r} "
            f"(allowed lateness {allowed_lateness_ms / 3_600_000:g} h)")


class AggregationSink:
    """One consumer of ``ocr-results`` in group ``sink.group``; see module docstring."""

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
        s = settings.sink
        self.name = name
        self.group = group or s.group
        self.topic = settings.topic(OCR_RESULTS.short_name)
        self.late_topic = settings.topic(LATE_EVENTS.short_name)
        self.dlq_topic = settings.topic(DLQ.short_name)
        self.windows_topic = settings.topic(WINDOWS.short_name)
        self.client = client if client is not None else connect(settings)
        with CLICKHOUSE_LOCK:
            if settings.clickhouse_dsn.startswith("chdb://"):
                # one chDB handle per process, one current database: select ours explicitly
                db = settings.clickhouse.database
                self.client.command(f"CREATE DATABASE IF NOT EXISTS `{db}`")
                self.client.command(f"USE `{db}`")
            migrate(self.client)
        self.stats = SinkStats()
        self.checkpoints = CheckpointStore(self.client, self.group, self.topic)
        self.decoder = ResultDecoder(settings)
        self.policy = RetryPolicy.from_settings(settings.retry)
        self.op = (operator_factory or (lambda: WindowOperator(settings.windows)))()
        self.producer = BlockingProducer(settings, **{"linger.ms": 20})
        self.dlq = DeadLetterPublisher(settings, producer=self.producer)
        self.dedupe = DedupeIndex(s.dedupe_memory_ms, s.dedupe_max_ids)
        self.documents = DocumentWriter(self.client, self.decoder.schema)
        self.windows = WindowWriter(self.client)
        self.late_updates = LateUpdater(self.client)
        self.committer = Committer(
            documents=self.documents, windows=self.windows, late_updates=self.late_updates,
            checkpoints=self.checkpoints, producer=self.producer, dlq=self.dlq, late_topic=self.late_topic,
            policy=self.policy, parse=self.decoder.full, stats=self.stats, name=name,
            windows_topic=self.windows_topic, window_encoder=self._window_encoder(),
        )  # fmt: skip
        self._seq = 0
        self._committed: dict[int, int] = {}
        self.copier = DeadLetterCopier(settings, self.client, f"{self.group}-dead-letters") if copy_dead_letters else None
        self.consumer: Consumer | None = None
        self.positions: dict[int, int] = {}  # partition -> last handled offset (-1: none)
        self.track_latency = track_latency
        self._late: list[tuple[bytes, bytes, str]] = []  # (key, raw value, reason) for the late topic
        self._dirty_since_checkpoint = False
        self._last_flush = time.monotonic()
        self._last_checkpoint = time.monotonic()
        self._last_recompute = time.monotonic()
        self._publish_times: list[int] = []  # Kafka timestamps of buffered records (latency)
        self._poison: dict[tuple[int, int], str] = {}  # (partition, offset) -> why ClickHouse refused its body
        self._stop = threading.Event()
        self._assigned_at = 0.0

    # ------------------------------------------------------------------ lifecycle
    def _window_encoder(self) -> Callable[[dict[str, Any]], bytes] | None:
        """``WindowAggregate`` encoder for the ``windows`` topic (None: ``sink.publish_windows`` off)."""
        if not self.settings.sink.publish_windows:
            return None
        serde = make_serde("WindowAggregate", self.settings.kafka.schema_registry_url)
        return lambda record: serde.encode(record, self.windows_topic)

    def start(self) -> None:
        self.consumer = make_consumer(
            self.settings, self.group,
            **{"max.poll.interval.ms": 600_000, "fetch.wait.max.ms": 20, "enable.partition.eof": False},
        )  # fmt: skip
        self.consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_lost)
        if self.copier is not None:
            self.copier.start()
        log.info("%s: consuming %s as group %s", self.name, self.topic, self.group)

    def stop(self) -> None:
        self._stop.set()

    def run(self, *, idle_exit_s: float | None = None, max_runtime_s: float | None = None) -> SinkStats:
        """Consume until :meth:`stop`, ``idle_exit_s`` without input (after windows had
        ``idle_timeout`` to close), or ``max_runtime_s``; flushes and checkpoints on exit."""
        if self.consumer is None:
            self.start()
        assert self.consumer is not None
        s = self.settings.sink
        poll_batch = s.poll_batch
        flush_interval = s.flush_interval_ms / 1000.0
        tick_interval = max(0.05, self.settings.windows.emit_interval_ms / 2000.0)
        started = last_input = last_tick = time.monotonic()
        try:
            while not self._stop.is_set():
                msgs = self.consumer.consume(num_messages=poll_batch, timeout=0.05)
                now = time.monotonic()
                if msgs:
                    self._handle(msgs)
                    last_input = now
                if now - last_tick >= tick_interval:
                    self._emit(self.op.tick(), {})
                    last_tick = now
                    metrics.update_lag_from_consumer(self.consumer, self.group)
                if (self.documents.pending + self.windows.pending >= s.batch_rows
                        or now - self._last_flush >= flush_interval):
                    self.flush(checkpoint=now - self._last_checkpoint >= flush_interval)
                if idle_exit_s is not None and self.positions and now - max(last_input, self._assigned_at) >= idle_exit_s:
                    break
                if max_runtime_s is not None and now - started >= max_runtime_s:
                    break
            self._emit(self.op.tick(), {})
            self._emit(self.op.flush(), {})  # current rows of every changed window
            self.flush(checkpoint=True, force=True, wait=True)
            metrics.update_lag_from_consumer(self.consumer, self.group)
        finally:
            self.close()
        return self.stats

    def close(self) -> None:
        if self.consumer is not None:
            try:
                self.consumer.close()  # on_revoke flushes + checkpoints what is left
            except Exception as exc:  # noqa: BLE001
                log.warning("%s: consumer close failed: %s", self.name, exc)
        self.consumer = None
        self.committer.close()
        if self.copier is not None:
            self.copier.stop()
            self.stats.dlq_rows = self.copier.copied
        self.producer.flush(10)

    # ------------------------------------------------------------------ rebalance
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        pids = [tp.partition for tp in partitions if tp.topic == self.topic]
        starts = self._restore(pids)
        for tp in partitions:
            tp.offset = starts.get(tp.partition, OFFSET_BEGINNING)
        consumer.assign(partitions)
        self._assigned_at = time.monotonic()

    def _restore(self, pids: list[int]) -> dict[int, int]:
        """Operator state, positions and dedupe index of ``pids`` from their newest checkpoints;
        returns the offset to resume each at (OFFSET_BEGINNING without a checkpoint)."""
        cps: dict[int, Checkpoint] = retry_sync(lambda: self.checkpoints.load(pids), self.policy,
                                                "checkpoint-load", f"{self.topic}{pids}")
        snapshots = {p: cp.state["partitions"].get(str(p)) for p, cp in cps.items()}
        self.op.assign(pids, snapshots)
        starts: dict[int, int] = {}
        for p in pids:
            cp = cps.get(p)
            self.positions[p] = cp.offset if cp is not None else -1
            starts[p] = cp.offset + 1 if cp is not None else OFFSET_BEGINNING
            newest = self.op.max_event_time(p)
            floor = NO_FLOOR if cp is None or newest is None else newest - self.settings.sink.dedupe_memory_ms
            known = retry_sync(lambda p=p, floor=floor: self._load_ids(p, floor), self.policy, "dedupe-load",
                               f"{self.topic}[{p}]") if floor != NO_FLOOR else []
            self.dedupe.reset(p, known, floor)
            log.info("%s: assigned %s[%d], resuming at offset %d (%s)", self.name, self.topic, p,
                     self.positions[p] + 1, "checkpoint" if cp is not None else "no checkpoint: from the start")
        self.stats.assigned = sorted(self.positions)
        return starts

    def _rewind(self, refused: dict[tuple[int, int], str]) -> None:
        """ClickHouse refused bodies that passed the prefix checks (a corrupt tail): remember
        them as poison, drop everything since the last checkpoint and resume from it; the
        replay dead-letters the poison records and counts the rest exactly once."""
        self._poison.update(refused)
        log.warning("%s: ClickHouse refused %d record bodies (%s); resuming from the last checkpoint",
                    self.name, len(refused), ", ".join(f"[{p}]@{o}" for p, o in sorted(refused)[:5]))
        self.committer.reset()
        self.documents.clear()
        self.windows.clear()
        self._late = []
        self._publish_times = []
        pids = sorted(self.positions)
        self.op.revoke(pids)
        starts = self._restore(pids)
        if self.consumer is not None:
            for p in pids:  # absolute offsets: a logical one (OFFSET_BEGINNING) is resolved asynchronously
                self.consumer.seek(TopicPartition(self.topic, p, max(0, starts[p])))
        self._assigned_at = time.monotonic()  # idle-exit counts from here (the replay starts now)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        pids = [tp.partition for tp in partitions if tp.partition in self.positions]
        if pids and self.committer.failure is not None and self.committer.failure.error is not None:
            log.error("%s: revoked %s%s after a failed write: no checkpoint (the next owner replays)",
                      self.name, self.topic, pids)
            self._drop(pids)
        elif pids:
            self._emit(self.op.tick(), {})
            self._emit(self.op.flush(), {})
            self.flush(checkpoint=True, force=True, wait=True)
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

    def _load_ids(self, partition: int, floor: int) -> list[tuple[str, int, int]]:
        """``(document_id, first offset, event_time)`` of the partition's documents since ``floor``."""
        with CLICKHOUSE_LOCK:
            rows = self.client.query(
                "SELECT document_id, min(source_offset), toUnixTimestamp64Milli(min(event_time)) FROM documents "
                "WHERE source_partition = {p:Int32} AND event_time >= fromUnixTimestamp64Milli({f:Int64}, 'UTC') "
                "GROUP BY document_id LIMIT {n:UInt64}",
                parameters={"p": partition, "f": floor, "n": self.settings.sink.dedupe_max_ids},
            ).result_rows
        return [(str(k), int(o), int(et)) for k, o, et in rows]

    def _lookup_ids(self, items: list[tuple[str, str, int]]) -> dict[str, list[tuple[int, int]]]:
        """Stored source positions of these ``(document_id, business_id, event_time)``s."""
        ets = [et for _, _, et in items]
        with CLICKHOUSE_LOCK:
            rows = self.client.query(
                "SELECT document_id, source_partition, source_offset FROM documents "
                "WHERE business_id IN {bs:Array(String)} AND document_id IN {ids:Array(String)} "
                "AND event_time >= fromUnixTimestamp64Milli({lo:Int64}, 'UTC') "
                "AND event_time <= fromUnixTimestamp64Milli({hi:Int64}, 'UTC')",
                parameters={"bs": sorted({b for _, b, _ in items}), "ids": sorted({d for d, _, _ in items}),
                            "lo": min(ets), "hi": max(ets)},
            ).result_rows
        out: dict[str, list[tuple[int, int]]] = {}
        for doc_id, p, o in rows:
            out.setdefault(str(doc_id), []).append((int(p), int(o)))
        return out

    # ------------------------------------------------------------------ processing
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
        check = self.dedupe.check
        poison = self._poison
        for p, ms in by_part.items():
            pos = self.positions.get(p)
            if pos is None:
                continue  # not ours (any more)
            batch: list[tuple[int, Any]] = []  # (offset, body)
            fields: list[tuple[int, str, int, float, float, float, float, str]] = []
            raws: dict[int, Any] = {}
            pending: list[tuple[str, str, int, int]] = []
            duplicates = 0
            for m in ms:
                off = m.offset()
                if off <= pos:
                    continue
                pos = off
                value = m.value()
                try:
                    v, body = decode(value)
                    if poison and (p, off) in poison:
                        refused = RefusedByClickHouse(poison[(p, off)], stage="aggregate")
                        refused.document_id, refused.business_id = v[DOCUMENT_ID], v[BUSINESS_ID]
                        raise refused
                except Exception as exc:  # noqa: BLE001
                    if classify_error(exc) == "transient":
                        raise
                    self._dead_letter(p, off, exc, value)
                    continue
                verdict = check(p, v[DOCUMENT_ID], off, v[EVENT_TIME])
                if verdict:
                    duplicates += 1
                    continue
                if verdict is None:
                    pending.append((v[DOCUMENT_ID], v[BUSINESS_ID], v[EVENT_TIME], off))
                total = v[TOTAL]
                batch.append((off, body))
                fields.append((off, v[BUSINESS_ID], v[EVENT_TIME], 0.0 if total is None else total, v[SCORE],
                               v[OCR_SCORE], v[OCR_S], v[DOC_TYPE]))
                raws[off] = m
            if pending:
                dups = retry_sync(lambda: self.dedupe.resolve(p, pending, self._lookup_ids), self.policy,  # noqa: B023
                                  "dedupe-lookup", f"{self.topic}[{p}]")
                if dups:
                    batch = [b for b in batch if b[0] not in dups]
                    fields = [f for f in fields if f[0] not in dups]
                    duplicates += len(dups)
                self.stats.dedupe_lookups += len(pending)
            self.stats.duplicates += duplicates
            self.positions[p] = pos
            self._dirty_since_checkpoint = True
            if not batch:
                continue
            self.stats.records += len(batch)
            metrics.EVENTS.inc(len(batch), stage="windowed")
            too_late, late = self._emit(self.op.process_fields(p, fields), raws)
            self.documents.add(p, batch, too_late, late)
            if self.track_latency:
                self._publish_times.extend(raws[o].timestamp()[1] for o, _ in batch)

    def _dead_letter(self, p: int, off: int, exc: BaseException, payload: bytes | None) -> None:
        dl = dead_letter(
            source_topic=self.topic, source_partition=p, source_offset=off,
            stage=getattr(exc, "stage", None) or "aggregate", exc=exc,
            document_id=getattr(exc, "document_id", None), business_id=getattr(exc, "business_id", None),
            payload=payload,
        )  # fmt: skip
        self.dlq.publish(dl)
        self.stats.dead_letters += 1
        metrics.DEAD_LETTERS.inc(stage=dl["stage"], error_class=dl["error_class"])

    def _emit(self, emissions: list[Any], raws: dict[int, Any]) -> tuple[set[int], set[int]]:
        """Route emissions: rows to the window writer, too-late events to the late topic;
        returns the offsets of (too-late, late-update) events."""
        too_late: set[int] = set()
        late: set[int] = set()
        for e in emissions:
            if e.__class__ is WindowResult:
                self.windows.add_row(e.row)
            elif e.__class__ is LateEvent:
                if e.too_late:
                    too_late.add(e.offset)
                    msg = raws.get(e.offset)
                    if msg is not None:
                        self._late.append((e.business_id.encode(), msg.value(),
                                           too_late_reason(e, self.op.allowed_lateness)))
                else:
                    late.add(e.offset)
            elif isinstance(e, Rejected):  # cannot happen after validation; never lose it silently
                msg = raws.get(e.offset)
                self._dead_letter(e.partition, e.offset, ValueError(e.reason), msg.value() if msg else None)
        if too_late or late:
            self.stats.too_late += len(too_late)
            self.stats.late += len(late)
            metrics.LATE_EVENTS.inc(len(too_late) + len(late))
        return too_late, late

    # ------------------------------------------------------------------ writes
    def flush(self, *, checkpoint: bool, force: bool = False, wait: bool = False) -> None:
        """Cut a :class:`~streams.commit.FlushJob` of what is buffered (with the operator snapshot
        when ``checkpoint``) and hand it to the committer (commit order: :mod:`streams.commit`);
        ``wait``: return once it is written."""
        self._check_committer()
        self.dedupe.evict(self.committer.committed_seq)
        # late updates are coalesced like current rows: at most once per emit interval
        # (queued windows are part of the checkpointed state, so deferring loses nothing)
        now = time.monotonic()
        due = force or now - self._last_recompute >= self.settings.windows.emit_interval_ms / 1000.0
        recompute = self.op.drain_recompute() if due else []
        if recompute:
            self._last_recompute = now
        cps: list[Checkpoint] = []
        if checkpoint and (self._dirty_since_checkpoint or force) and self.positions:
            version = VERSIONS()
            cps = [Checkpoint(p, self.positions[p], self.op.snapshot(partitions=[p]), version, self.stats.records)
                   for p in sorted(self.positions)]  # fmt: skip
            self._dirty_since_checkpoint = False
            self._last_checkpoint = now
        late, self._late = self._late, []
        times, self._publish_times = self._publish_times, []
        job = FlushJob(self._seq, self.documents.take(), self.windows.take(), recompute, late, times, cps)
        self._seq += 1
        self.dedupe.seq = self._seq
        self.committer.submit(job)
        self._last_flush = now
        if wait:
            self.committer.drain()
            self._check_committer()
        self._commit_offsets()

    def _check_committer(self) -> None:
        """Act on a job the committer could not write: rewind for refused records, else raise."""
        job = self.committer.failure
        if job is None:
            return
        if job.error is not None:
            raise job.error
        self._rewind(job.refused)

    def _commit_offsets(self) -> None:
        """Kafka's committed offsets follow the written checkpoints (advisory: lag metrics)."""
        done = self.committer.checkpointed
        if self.consumer is None or done == self._committed:
            return
        self._committed = dict(done)
        offsets = [TopicPartition(self.topic, p, o + 1) for p, o in done.items() if o >= 0 and p in self.positions]
        if offsets:
            try:  # recovery reads the checkpoint, never this
                self.consumer.commit(offsets=offsets, asynchronous=True)
            except Exception as exc:  # noqa: BLE001
                log.debug("advisory commit failed: %s", exc)


__all__ = ["AggregationSink", "REASON_HEADER", "RefusedByClickHouse", "SinkStats", "too_late_reason"]
