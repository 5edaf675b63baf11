"""The sink's commit order, run by one committer thread (so ClickHouse works while the sink decodes).

The consume loop (:mod:`streams.sink`) cuts what it buffered into a
:class:`FlushJob` — documents, window rows, the closed windows to recompute,
too-late records for the late topic, and (when due) the operator snapshot and
input offsets of every assigned partition — and hands it to the
:class:`Committer`, which runs jobs strictly in order, each in the commit order:

1. ``documents`` insert (:class:`~streams.writers.DocumentWriter`);
2. late updates recomputed from ``documents`` (:class:`~streams.recompute.LateUpdater`),
   which now holds every record of this and all earlier jobs;
3. ``windows`` insert (operator rows, then late updates: versions increase);
4. late-topic, ``windows``-topic and dead-letter records acknowledged by Kafka;
5. THEN the checkpoint rows (:class:`~streams.checkpoint.CheckpointStore`).

A checkpoint therefore never covers an input offset whose outputs are not
written, and the job that holds it was taken after every earlier job: a crash
anywhere replays from the newest checkpoint and rewrites the same rows with
newer versions (the exactly-once effect of :mod:`streams.sink`). At most one job
waits while another runs (``submit`` blocks): memory stays bounded and a slow
ClickHouse slows the consumer down instead of piling up work.

The ``windows`` topic (compacted, key ``business_id|granularity|window_start``) carries
every row written to the ``windows`` table, as ``WindowAggregate`` Avro with the row's
version in the ``ocrstream-version`` header: a downstream consumer keeps, per key, the
record of the highest version (what ``FINAL`` does in ClickHouse). It is at-least-once —
a replay re-sends rows with newer versions — and written after the table, so a consumer
never sees a window the table does not hold yet.

A job whose documents insert ClickHouse refuses is narrowed down to the records
it refuses (:meth:`~streams.writers.DocumentWriter.refused`); the committer then
stops taking jobs and reports them (:attr:`Committer.failure`) so that the sink
can dead-letter them and resume from its last checkpoint. Any other failure is
retried like every sink write (:func:`ocrstream.deadletter.retry_sync`); one that gives up
is re-raised in the consume loop.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ocrstream import metrics
from ocrstream.deadletter import RetryPolicy, retry_sync
from ocrstream.errors import Transient, classify_error
from ocrstream.kafka import DeliveryRefused, delivery_error
from ocrstream.tables import WINDOW_COLUMN_NAMES
from streams.checkpoint import VERSIONS, Checkpoint, CheckpointStore
from streams.emissions import window_topic_key
from streams.recompute import LateUpdater, WindowRef
from streams.writers import DocumentBatch, DocumentWriter, WindowWriter

log = logging.getLogger(__name__)

REASON_HEADER = "ocrstream-reason"
VERSION_HEADER = "ocrstream-version"

#: One record for a topic: (key, Avro value, headers).
OutRecord = tuple[bytes, bytes, list[tuple[str, bytes]]]


@dataclass
class FlushJob:
    """Everything one flush writes, in commit order (see module docstring)."""

    seq: int
    documents: DocumentBatch | None
    window_rows: list[list[Any]]
    recompute: list[WindowRef]
    late: list[tuple[bytes, bytes, str]]  # (key, raw value, reason) for the late topic
    publish_times: list[int]  # Kafka timestamps of the documents (latency tracking)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    refused: dict[tuple[int, int], str] = field(default_factory=dict)
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class Committer:
    """Runs :class:`FlushJob` s in order on its own thread (``pipelined``) or inline."""

    def __init__(self, *, documents: DocumentWriter, windows: WindowWriter, late_updates: LateUpdater,
                 checkpoints: CheckpointStore, producer: Any, dlq: Any, late_topic: str, policy: RetryPolicy,
                 parse: Callable[[Any], Any], stats: Any, name: str, pipelined: bool = True,
                 windows_topic: str | None = None, window_encoder: Callable[[dict[str, Any]], bytes] | None = None,
                 ) -> None:
        self.documents = documents
        self.windows = windows
        self.late_updates = late_updates
        self.checkpoints = checkpoints
        self.producer = producer
        self.dlq = dlq
        self.late_topic = late_topic
        self.windows_topic = windows_topic if window_encoder is not None else None
        self.window_encoder = window_encoder
        self.policy = policy
        self.parse = parse
        self.stats = stats
        self.name = name
        self.pipelined = pipelined
        self.committed_seq = -1  # the newest job fully written
        self.checkpointed: dict[int, int] = {}  # partition -> offset of the newest written checkpoint
        self.failure: FlushJob | None = None
        self._queue: queue.Queue[FlushJob | None] = queue.Queue(maxsize=1)
        self._last: FlushJob | None = None
        self._thread: threading.Thread | None = None
        if pipelined:
            self._thread = threading.Thread(target=self._loop, name=f"{name}-committer", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------ caller side
    def submit(self, job: FlushJob) -> None:
        """Queue ``job`` (waits while another job is queued); inline mode runs it now."""
        self._last = job
        if self._thread is None:
            self._run(job)
        else:
            self._queue.put(job)

    def drain(self) -> None:
        """Wait until every submitted job is done (or the committer stopped on a failure)."""
        if self._last is not None:
            while not self._last.done.wait(0.5):
                if self._thread is not None and not self._thread.is_alive():
                    break

    def reset(self) -> None:
        """Forget a reported failure (after the sink resumed from its checkpoint) and take jobs again."""
        self.drain()
        self.failure = None
        if self._thread is not None and not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name=f"{self.name}-committer", daemon=True)
            self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self.drain()
            self._queue.put(None)
            self._thread.join(10)
            self._thread = None

    # ------------------------------------------------------------ committer side
    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if self.failure is not None:  # after a failure, later jobs are dropped: the sink rewinds
                job.done.set()
                continue
            self._run(job)

    def _run(self, job: FlushJob) -> None:
        try:
            self._commit(job)
            if job.refused:
                self.failure = job
            else:
                self.committed_seq = job.seq
        except BaseException as exc:  # noqa: BLE001 - handed to the consume loop
            job.error = exc
            self.failure = job
        finally:
            job.done.set()

    def _commit(self, job: FlushJob) -> None:
        where = f"{self.name} flush {job.seq}"
        batch = job.documents
        if batch is not None:
            try:
                self.documents.insert_batch(batch)
            except Exception as exc:  # noqa: BLE001
                refused = self.documents.refused(batch, self.parse) if classify_error(exc) != "transient" else {}
                if refused:
                    job.refused = refused
                    return
                retry_sync(lambda: self.documents.insert_batch(batch), self.policy, "sink", where)
            self.stats.documents += batch.n
            metrics.EVENTS.inc(batch.n, stage="sunk")
        rows = job.window_rows
        if job.recompute:
            late_rows = retry_sync(lambda: self.late_updates.rows(job.recompute, time.time_ns() // 1_000_000,
                                                                  VERSIONS), self.policy, "sink", where)
            rows = rows + late_rows
            self.stats.late_update_rows += len(late_rows)
        if rows:
            retry_sync(lambda: self.windows.insert_rows(rows), self.policy, "sink", where)
            self.stats.window_rows += len(rows)
        if job.late:
            late = [(key, value, [(REASON_HEADER, reason.encode())]) for key, value, reason in job.late]
            retry_sync(lambda: self._send(self.late_topic, late, where), self.policy, "sink", where)
        if rows and self.windows_topic is not None:
            out = [self._window_record(row) for row in rows]
            retry_sync(lambda: self._send(self.windows_topic, out, where), self.policy, "sink", where)
        retry_sync(self.dlq.flush, self.policy, "sink", where)
        if job.publish_times:
            now_ms = time.time() * 1000
            self.stats.visible_latency_ms.extend(now_ms - t for t in job.publish_times)
        self.stats.flushes += 1
        if job.checkpoints:
            retry_sync(lambda: self.checkpoints.save(job.checkpoints), self.policy, "checkpoint", where)
            self.stats.checkpoints += 1
            self.checkpointed = {cp.partition: cp.offset for cp in job.checkpoints}
            log.info("%s: checkpoint %s %s records=%d late=%d too_late=%d dup=%d dlq=%d", self.name,
                     self.checkpoints.topic, " ".join(f"p{cp.partition}@{cp.offset}" for cp in job.checkpoints),
                     self.stats.records, self.stats.late, self.stats.too_late, self.stats.duplicates,
                     self.stats.dead_letters)

    def _window_record(self, row: list[Any]) -> OutRecord:
        """A ``windows`` table row as a ``windows``-topic record."""
        rec = dict(zip(WINDOW_COLUMN_NAMES, row))
        version = rec.pop("version")
        rec["is_final"] = bool(rec["is_final"])
        key = window_topic_key(rec).encode()
        assert self.window_encoder is not None
        return key, self.window_encoder(rec), [(VERSION_HEADER, str(version).encode())]

    def _send(self, topic: str, records: list[OutRecord], where: str) -> None:
        """Produce ``records`` to ``topic`` and wait for the broker's acknowledgements.

        A record the broker refuses for good (too large) is logged and dropped: it can never be
        written. Any other failure raises :class:`Transient` after keeping, in ``records``,
        only the records not acknowledged yet, so the retry re-sends those (the producer, rebuilt
        after a fenced or fatal error, takes them).
        """
        acked: set[int] = set()
        failed: dict[int, Exception] = {}

        def reporter(i: int) -> Callable[[Any, Any], None]:
            def on_delivery(err: Any, msg: Any) -> None:
                if err is None:
                    acked.add(i)
                else:
                    failed[i] = delivery_error(topic, err)
            return on_delivery

        for i, (key, value, headers) in enumerate(records):
            self.producer.produce(topic, value=value, key=key, on_delivery=reporter(i), headers=headers)
        left = self.producer.flush(30)
        for i, exc in failed.items():
            if isinstance(exc, DeliveryRefused):
                log.error("%s: record for %s dropped, the broker refuses it: %s", where, topic, exc)
        records[:] = [rec for i, rec in enumerate(records)
                      if i not in acked and not isinstance(failed.get(i), DeliveryRefused)]
        if records:
            errors = sorted({str(e) for e in failed.values() if not isinstance(e, DeliveryRefused)})[:2]
            raise Transient(f"{where}: {len(records)} records for {topic} not acknowledged ({left} pending) "
                                 f"{errors}")


__all__ = ["Committer", "FlushJob", "REASON_HEADER", "VERSION_HEADER"]
