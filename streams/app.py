"""The Faust OCR topology (``ocrstream worker``).

::

    documents (DocumentRef) ──▶ agent ocr-documents ─┐  decode -> validate -> fetch (streams.fetch)
    video-frames (VideoFrame) ─▶ agent ocr-frames ───┤  -> classify + OCR + extract in the pool
                                                     │     (streams.ocr_stage, engine by class)
                                                     ├─▶ classified  (ClassifiedDocument, audit)
                                                     ├─▶ ocr-results (OcrResult, key business_id)
                                                     └─▶ dlq         (DeadLetter, permanent failures)

``ocr-results`` is consumed by the aggregation sink (:mod:`streams.sink`:
event-time windows + ClickHouse). Workers scale out: every ``ocrstream worker``
joins group ``worker.app_id`` and gets a share of the partitions; each runs up
to ``agent_concurrency`` documents at once (default: the OCR pool size).

Delivery: **at-least-once** per input record. An event is acknowledged to Faust
(and its offset becomes committable) only after its outputs — or its dead
letter — were acknowledged by the broker (confluent-kafka idempotent producer,
``acks=all``; aiokafka's producer cannot be idempotent on the local broker).
Acks are manual (``stream.noack()``): Faust's own ack-on-exit would mark the
record in flight as done when a stop cancels the agent, so a SIGTERM could
commit a document that got neither a result nor a dead letter. Now a stop
(SIGTERM, SIGHUP, SIGINT) leaves the record in flight uncommitted and the next
owner of the partition processes it again.
A crash re-processes unacknowledged records; the resulting duplicate
``OcrResult`` carries the same ``document_id`` and the sink drops it, so the
effect in ClickHouse stays exactly-once. Transient failures (S3 down, broker
down, a crashed OCR process, a fenced producer — rebuilt by
:class:`ocrstream.kafka.AsyncProducer`) retry with capped backoff and block
only that record (Faust commits contiguous acknowledged offsets, never past
it). A result the broker refuses (too large) is dead-lettered (stage
``publish``); dead letters are bounded and never retried forever
(:class:`ocrstream.deadletter.DeadLetterWriter`).
Faust's windowed tables, changelog recovery and ``exactly_once`` are not used
(see shared/README: broken on the local broker).

Health: the pipeline registers stage ``worker`` in :data:`ocrstream.health.REGISTRY`
(assigned partitions, lag, documents in flight, producer rebuilds), served on
``worker.health_port`` by ``ocrstream worker`` (``/healthz``, ``/metrics``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ocrstream import health, metrics
from ocrstream.codec import make_serde
from ocrstream.deadletter import DeadLetterWriter, Failure, GaveUp, RetryPolicy, dead_letter, retry_async
from ocrstream.errors import InvalidRecord, UnknownBusiness, classify_error
from ocrstream.kafka import AsyncProducer
from ocrstream.records import ClassifiedDocument, frame_document_id
from ocrstream.settings import Settings
from ocrstream.topics import CLASSIFIED, DOCUMENTS, OCR_RESULTS, VIDEO_FRAMES, TopicSpec
from streams.fetch import Fetcher
from streams.ocr_stage import OcrJob, OcrStage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Located:
    """Where the bytes of one input record are: inline, or at ``fetch_uri``; and what its job says."""

    document_id: str
    uri: str  # the job's uri (``inline:<id>`` for inline bytes)
    fetch_uri: str | None
    inline: bytes | None
    source: str
    media_type: str | None
    filename: str | None = None
    what: str = "record"  # names it in error messages
    inline_field: str = "inline bytes"
    uri_field: str = "a uri"


@dataclass(frozen=True)
class InputKind:
    """What differs between the worker's input topics: the record schema and how a record is located."""

    schema: str
    topic: TopicSpec
    agent: str
    locate: Callable[[dict[str, Any]], Located]


def _locate_document(ref: dict[str, Any]) -> Located:
    return Located(document_id=ref["document_id"], uri=ref["uri"], fetch_uri=ref["uri"], inline=None,
                   source=ref.get("source") or "upload", media_type=ref.get("media_type"),
                   filename=ref.get("filename"), what="document")


def _locate_frame(frame: dict[str, Any]) -> Located:
    document_id = frame_document_id(frame)
    return Located(document_id=document_id, uri=frame.get("image_uri") or f"inline:{document_id}",
                   fetch_uri=frame.get("image_uri") or None, inline=frame.get("image_jpeg"), source="video",
                   media_type="image/jpeg", what="frame", inline_field="image_jpeg", uri_field="image_uri")


DOCUMENT_INPUT = InputKind("DocumentRef", DOCUMENTS, "ocr-documents", _locate_document)
FRAME_INPUT = InputKind("VideoFrame", VIDEO_FRAMES, "ocr-frames", _locate_frame)
INPUTS: tuple[InputKind, ...] = (DOCUMENT_INPUT, FRAME_INPUT)


class Pipeline:
    """Per-record logic of the OCR agents (Faust-independent, so it is testable alone)."""

    def __init__(self, settings: Settings, *, fetcher: Fetcher | None = None, ocr: OcrStage | None = None,
                 producer: AsyncProducer | None = None) -> None:
        self.settings = settings
        reg = settings.kafka.schema_registry_url
        self.serdes = {kind.schema: make_serde(kind.schema, reg) for kind in INPUTS}
        self.result_serde = make_serde("OcrResult", reg)
        self.classified_serde = make_serde("ClassifiedDocument", reg)
        self.fetcher = fetcher or Fetcher.from_settings(settings)
        self.ocr = ocr or OcrStage(settings)
        self._producer = producer
        self.policy = RetryPolicy.from_settings(settings.retry)
        self.known = set(settings.worker.known_businesses)
        self.topics = {name: settings.topic(spec.short_name)
                       for name, spec in (("results", OCR_RESULTS), ("classified", CLASSIFIED))}
        self.dead_letters = DeadLetterWriter(settings)
        self.counts = {"ok": 0, "dead": 0, "dead_letter_dropped": 0}
        self.in_flight: dict[str, float] = {}  # "topic[p]@offset" -> monotonic start
        self.lag: dict[str, int] = {}  # "topic[p]" -> messages behind the high watermark
        self.assigned: list[str] = []
        self.last_done_ms: int | None = None

    @property
    def producer(self) -> AsyncProducer:
        if self._producer is None:
            self._producer = AsyncProducer(self.settings)
        return self._producer

    def _validate(self, business_id: str, event_time: Any, document_id: str) -> None:
        if not document_id:
            raise InvalidRecord("empty document_id")
        if not business_id:
            raise InvalidRecord("empty business_id")
        if self.known and business_id not in self.known:
            raise UnknownBusiness(f"unknown business {business_id!r}")
        if not isinstance(event_time, int) or event_time <= 0:
            raise InvalidRecord(f"invalid event_time {event_time!r}")

    async def handle(self, kind: InputKind, topic: str, partition: int, offset: int, value: bytes) -> str:
        """Process one record of ``kind``'s topic; returns ``"ok"`` or ``"dead:<stage>"``.

        decode -> validate -> fetch (or take the inline bytes) -> OCR -> publish; a permanent
        failure, or a transient one that gave up, is dead-lettered at the stage it happened.
        """
        where = f"{topic}[{partition}]@{offset}"
        self.in_flight[where] = time.monotonic()
        try:
            return await self._handle(kind, topic, partition, offset, value, where)
        finally:
            self.in_flight.pop(where, None)

    async def handle_document(self, topic: str, partition: int, offset: int, value: bytes) -> str:
        """Process one ``documents`` record (:data:`DOCUMENT_INPUT`)."""
        return await self.handle(DOCUMENT_INPUT, topic, partition, offset, value)

    async def handle_frame(self, topic: str, partition: int, offset: int, value: bytes) -> str:
        """Process one ``video-frames`` record (:data:`FRAME_INPUT`: same path, ``source=video``)."""
        return await self.handle(FRAME_INPUT, topic, partition, offset, value)

    async def _handle(self, kind: InputKind, topic: str, partition: int, offset: int, value: bytes,
                      where: str) -> str:
        record: dict[str, Any] = {}
        stage = "decode"
        failure = Failure.start()
        try:
            record = self.serdes[kind.schema].decode(value, topic)
            src = kind.locate(record)
            record["document_id"] = src.document_id  # the dead letter names it
            stage = "validate"
            self._validate(record["business_id"], record["event_time"], src.document_id)
            stage = "fetch"
            data, fetch_s = await self._fetch(src, where, failure)
            job = OcrJob(data=data, document_id=src.document_id, business_id=record["business_id"], uri=src.uri,
                         source=src.source, event_time_ms=record["event_time"], media_type=src.media_type,
                         filename=src.filename, fetch_s=fetch_s)
            return await self._ocr_and_publish(job, where, failure)
        except GaveUp as exc:
            return await self._dead(topic, partition, offset, exc.stage, exc.__cause__ or exc, exc.failure,
                                    record, value)
        except Exception as exc:  # noqa: BLE001 - decode/validate errors
            if classify_error(exc) == "transient":
                raise
            failure.record(exc)  # an error that names its stage (InvalidRecord(stage=...)) wins
            return await self._dead(topic, partition, offset, getattr(exc, "stage", None) or stage, exc, failure,
                                    record, value)

    async def _fetch(self, src: Located, where: str, failure: Failure) -> tuple[bytes, float]:
        """``(bytes, fetch seconds)`` of a located input: fetched (with retries), or its checked inline bytes."""
        if src.inline is None:
            if src.fetch_uri is None:
                raise InvalidRecord(f"{src.what} has neither {src.inline_field} nor {src.uri_field}", stage="validate")
            uri = src.fetch_uri
            fetched = await retry_async(lambda: asyncio.to_thread(self.fetcher.fetch, uri), self.policy, "fetch",
                                        where, failure)
            return fetched.data, fetched.fetch_s
        self.fetcher.check_pixels(src.inline, src.uri)
        if len(src.inline) > self.settings.ocr.max_object_bytes:
            from ocrstream.errors import ObjectTooLarge

            raise ObjectTooLarge(f"inline {src.what} is {len(src.inline)} bytes")
        return src.inline, 0.0

    async def _ocr_and_publish(self, job: OcrJob, where: str, failure: Failure) -> str:
        record = await retry_async(lambda: self.ocr.run(job), self.policy, "ocr", where, failure)
        classified: ClassifiedDocument = {
            "document_id": job.document_id, "business_id": job.business_id, "uri": job.uri,
            "event_time": job.event_time_ms, "source": job.source, "doc_type": record["doc_type"],
            "type_confidence": record["type_confidence"], "engine": record["engine"],
            "pages": record["pages"], "classify_ms": record["timings"]["classify_s"] * 1000.0,
        }  # fmt: skip
        result_bytes = self.result_serde.encode(record, self.topics["results"])
        classified_bytes = self.classified_serde.encode(classified, self.topics["classified"])
        await retry_async(lambda: asyncio.gather(
            self.producer.send(self.topics["classified"], classified_bytes, job.document_id.encode()),
            self.producer.send(self.topics["results"], result_bytes, job.business_id.encode()),
        ), RetryPolicy(self.policy.base_ms, self.policy.max_ms, 10**9), "publish", where)
        self.counts["ok"] += 1
        self.last_done_ms = time.time_ns() // 1_000_000
        metrics.EVENTS.inc(stage="ocr")
        log.info("%s: %s %s -> %s/%s engine=%s ocr_s=%.2f", where, job.business_id, job.document_id,
                 record["doc_type"], self.topics["results"], record["engine"], record["timings"]["ocr_s"])
        return "ok"

    async def _dead(self, topic: str, partition: int, offset: int, stage: str, exc: BaseException,
                    failure: Failure, ref: dict[str, Any], payload: bytes) -> str:
        """Dead-letter the record (bounded: excerpt + source position); never blocks the stage for good."""
        dl = dead_letter(
            source_topic=topic, source_partition=partition, source_offset=offset, stage=stage, exc=exc,
            failure=failure, document_id=_text(ref.get("document_id")), business_id=_text(ref.get("business_id")),
            reference=_text(ref.get("uri") or ref.get("image_uri")), payload=payload,
            excerpt_bytes=self.dead_letters.excerpt_bytes,
        )  # fmt: skip
        if await self.dead_letters.write(dl, self.producer.send, self.policy):
            self.counts["dead"] += 1
        else:
            self.counts["dead_letter_dropped"] += 1
        self.last_done_ms = time.time_ns() // 1_000_000
        metrics.DEAD_LETTERS.inc(stage=stage, error_class=dl["error_class"])
        return f"dead:{stage}"

    def health(self) -> health.StageHealth:
        """Stage ``worker``: assigned partitions, lag, documents in flight (oldest age), counts."""
        now = time.monotonic()
        oldest = max((now - t for t in self.in_flight.values()), default=0.0)
        rebuilds = self._producer.rebuilds if self._producer is not None else 0
        return health.StageHealth(True, {
            "assigned": list(self.assigned), "lag": dict(self.lag), "in_flight": len(self.in_flight),
            "oldest_in_flight_s": round(oldest, 1), "published": self.counts["ok"],
            "dead_letters": self.counts["dead"], "dead_letters_dropped": self.counts["dead_letter_dropped"],
            "producer_rebuilds": rebuilds, "last_done_ms": self.last_done_ms,
        })  # fmt: skip

    def close(self) -> None:
        """Terminate the OCR pool (work in flight stays uncommitted) and flush the producer."""
        self.ocr.close()
        if self._producer is not None:
            self._producer.close()


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def create_app(settings: Settings, pipeline: Pipeline | None = None) -> Any:
    """The Faust app with the two OCR agents (group ``worker.app_id``)."""
    import faust

    s = settings.worker
    concurrency = s.agent_concurrency or s.ocr_workers
    app = faust.App(
        s.app_id,
        broker=[f"kafka://{hp}" for hp in settings.kafka.bootstrap.split(",")],
        store="memory://",
        web_enabled=False,
        autodiscover=False,
        topic_allow_declare=False,  # ensure_topics() creates them with explicit configs
        topic_disable_leader=True,
        broker_session_timeout=settings.kafka.session_timeout_ms / 1000.0,
        broker_heartbeat_interval=max(0.5, settings.kafka.session_timeout_ms / 6000.0),
        broker_max_poll_interval=3600.0,  # a page of OCR may take a while; heartbeats run anyway
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        stream_wait_empty=False,
    )
    pipe = pipeline or Pipeline(settings)
    app.ocr_pipeline = pipe  # type: ignore[attr-defined]
    health.REGISTRY.register("worker", pipe.health)

    def record_lag(m: Any) -> None:
        """Lag of the handled record's partition: the high watermark aiokafka got with its
        last fetch (not ListOffsets, wrong on Tansu) minus the position after this record."""
        try:
            from faust.types import TP

            high = app.consumer.highwater(TP(m.topic, m.partition))
        except Exception:  # noqa: BLE001 - not joined yet / consumer restarting
            return
        if high is not None and high >= 0:
            metrics.record_consumer_lag(s.app_id, m.topic, m.partition, high, m.offset + 1)
            pipe.lag[f"{m.topic}[{m.partition}]"] = max(0, high - m.offset - 1)

    # Manual acks (noack): a record is acked only after its outputs or its dead letter were
    # acknowledged by the broker; one cancelled by a stop stays unacked, hence uncommitted.
    def add_agent(kind: InputKind) -> None:
        topic = app.topic(settings.topic(kind.topic.short_name), key_serializer="raw", value_serializer="raw")

        @app.agent(topic, name=kind.agent, concurrency=concurrency)
        async def ocr_agent(stream: Any) -> None:
            manual = stream.noack()
            async for event in manual.events():
                m = event.message
                await pipe.handle(kind, m.topic, m.partition, m.offset, event.value)
                await manual.ack(event)
                record_lag(m)

    for kind in INPUTS:
        add_agent(kind)

    @app.task
    async def warm_ocr() -> None:  # load the models while the consumer group forms
        await pipe.ocr.warm()

    @app.on_partitions_assigned.connect
    async def on_assigned(_app: Any, assigned: Any, **_: Any) -> None:
        pipe.assigned = sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned)
        for key in [k for k in pipe.lag if k not in pipe.assigned]:
            pipe.lag.pop(key, None)
        log.info("ocr worker: assigned %s", " ".join(pipe.assigned) or "nothing (hot spare)")

    @app.timer(interval=30.0)
    async def report() -> None:
        log.info("ocr worker: %d documents published, %d dead letters", pipe.counts["ok"], pipe.counts["dead"])

    return app

