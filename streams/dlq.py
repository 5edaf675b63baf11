"""Dead letters, the permanent/transient error split, and retry with backoff.

Policy (every stage of the worker and the sink uses it):

* **permanent** errors (:func:`classify_error` -> ``"permanent"``): the record
  can never succeed — bad Avro, a refused or missing object, unknown
  business, corrupt/oversized/encrypted input, an invalid event time. The
  record goes to the DLQ topic as a ``DeadLetter`` (original payload or
  reference, stage, error class, one-line message, attempts, first/last
  failure time in epoch ms) and the stream goes on with the next record.
* **transient** errors (S3/ClickHouse/Kafka unreachable, timeouts, a broken
  OCR pool): retried forever with exponential backoff capped at
  ``stream.max_retry_backoff_ms``; the consumer does not move (or commit)
  past the failed record meanwhile.
* **unknown** errors (a bug for one input): retried ``stream.max_attempts``
  times, then dead-lettered, so one poison record cannot block a partition.

Dead letters are at-least-once: a crash after the DLQ write and before the
offset commit writes the same dead letter again (same source
topic/partition/offset/stage; the ``dead_letters`` table is a
ReplacingMergeTree on exactly that key, so it counts once).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

ErrorKind = Literal["permanent", "transient", "unknown"]


class PermanentError(Exception):
    """The record can never be processed; ``stage`` names where it failed."""

    stage: str = "validate"

    def __init__(self, message: str, *, stage: str | None = None) -> None:
        super().__init__(" ".join(str(message).split()) or type(self).__name__)
        if stage is not None:
            self.stage = stage

    @property
    def error_class(self) -> str:
        return type(self).__name__


class TransientError(Exception):
    """A dependency is unavailable; retry the same record later."""


class InvalidRecord(PermanentError):
    """A decoded record violates the contract (empty id, bad event time, ...)."""


class UnknownBusiness(PermanentError):
    """``business_id`` is not in ``stream.known_businesses``."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def error_class(exc: BaseException) -> str:
    """Stable label for the DLQ: ``OcrInputError.error_class`` or the class name."""
    return str(getattr(exc, "error_class", None) or type(exc).__name__)


def one_line(exc: BaseException, limit: int = 500) -> str:
    text = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())[:limit]


def classify_error(exc: BaseException) -> ErrorKind:
    """``permanent`` (DLQ now), ``transient`` (retry forever) or ``unknown`` (retry, then DLQ)."""
    from ocrstream.clickhouse import ClickHouseUnavailable
    from ocrstream.codec import CodecError
    from ocrstream.objectstore import ObjectNotFound

    if isinstance(exc, (PermanentError, CodecError, ObjectNotFound)):
        return "permanent"
    try:
        from ocr_agents.errors import EngineUnavailable, OcrInputError
    except ImportError:  # pragma: no cover - OCR package always present in the repo
        OcrInputError = EngineUnavailable = ()  # type: ignore[assignment,misc]
    if OcrInputError and isinstance(exc, OcrInputError):
        return "permanent"
    if isinstance(exc, (TransientError, ClickHouseUnavailable, TimeoutError, ConnectionError)):
        return "transient"
    if EngineUnavailable and isinstance(exc, EngineUnavailable):
        return "transient"
    from concurrent.futures.process import BrokenProcessPool

    if isinstance(exc, BrokenProcessPool):
        return "transient"
    try:
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from botocore.exceptions import ReadTimeoutError

        if isinstance(exc, (BotoConnectionError, ReadTimeoutError)):
            return "transient"
    except ImportError:  # pragma: no cover
        pass
    return "unknown"


@dataclass
class Failure:
    """Failure history of one record while it is being retried."""

    first_ms: int
    last_ms: int
    attempts: int = 0
    last_error: BaseException | None = None

    @classmethod
    def start(cls) -> "Failure":
        t = now_ms()
        return cls(first_ms=t, last_ms=t)

    def record(self, exc: BaseException) -> None:
        self.attempts += 1
        self.last_ms = now_ms()
        self.last_error = exc


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter (ms); ``max_attempts`` bounds unknown errors only."""

    base_ms: int = 200
    max_ms: int = 30_000
    max_attempts: int = 5

    @classmethod
    def from_settings(cls, stream: Any) -> "RetryPolicy":
        return cls(stream.retry_backoff_ms, stream.max_retry_backoff_ms, stream.max_attempts)

    def delay_s(self, attempt: int) -> float:
        ms = min(self.max_ms, self.base_ms * (2 ** max(0, attempt - 1)))
        return ms * (0.5 + random.random() / 2) / 1000.0

    def gives_up(self, kind: ErrorKind, attempts: int) -> bool:
        if kind == "permanent":
            return True
        if kind == "transient":
            return False
        return attempts >= self.max_attempts


class GaveUp(Exception):
    """Raised by the retry helpers when a record must be dead-lettered."""

    def __init__(self, failure: Failure, stage: str) -> None:
        super().__init__(one_line(failure.last_error) if failure.last_error else stage)
        self.failure = failure
        self.stage = stage


async def retry_async(
    fn: Callable[[], Awaitable[T]], policy: RetryPolicy, stage: str, where: str,
    failure: Failure | None = None,
) -> T:
    """Await ``fn()`` until it succeeds; raise :class:`GaveUp` when the policy says DLQ."""
    failure = failure or Failure.start()
    while True:
        try:
            return await fn()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified below
            failure.record(exc)
            kind = classify_error(exc)
            if policy.gives_up(kind, failure.attempts):
                raise GaveUp(failure, getattr(exc, "stage", None) or stage) from exc
            delay = policy.delay_s(failure.attempts)
            log.warning("%s: %s %s error (attempt %d), retrying in %.2fs: %s",
                        where, stage, kind, failure.attempts, delay, one_line(exc))
            await asyncio.sleep(delay)


def retry_sync(
    fn: Callable[[], T], policy: RetryPolicy, stage: str, where: str,
    should_stop: Callable[[], bool] = lambda: False,
) -> T:
    """Blocking twin of :func:`retry_async` (the sink's ClickHouse writes)."""
    failure = Failure.start()
    while True:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001
            failure.record(exc)
            kind = classify_error(exc)
            if policy.gives_up(kind, failure.attempts) or should_stop():
                raise
            delay = policy.delay_s(failure.attempts)
            log.warning("%s: %s %s error (attempt %d), retrying in %.2fs: %s",
                        where, stage, kind, failure.attempts, delay, one_line(exc))
            time.sleep(delay)


def dead_letter(
    *,
    source_topic: str,
    source_partition: int,
    source_offset: int,
    stage: str,
    exc: BaseException,
    failure: Failure | None = None,
    document_id: str | None = None,
    business_id: str | None = None,
    reference: str | None = None,
    payload: bytes | None = None,
) -> dict[str, Any]:
    """A ``DeadLetter`` record (``schemas/DeadLetter.avsc``)."""
    failure = failure or Failure.start()
    attempts = max(1, failure.attempts)
    return {
        "source_topic": source_topic,
        "source_partition": int(source_partition),
        "source_offset": int(source_offset),
        "stage": stage,
        "error_class": error_class(exc),
        "error_message": one_line(exc),
        "attempts": attempts,
        "first_failure_time": failure.first_ms,
        "last_failure_time": max(failure.last_ms, failure.first_ms),
        "document_id": document_id,
        "business_id": business_id,
        "reference": reference,
        "payload": payload,
    }


def dead_letter_key(dl: dict[str, Any]) -> bytes:
    """DLQ topic key: the document id when known, else ``topic/partition/offset``."""
    if dl.get("document_id"):
        return str(dl["document_id"]).encode()
    return f"{dl['source_topic']}/{dl['source_partition']}/{dl['source_offset']}".encode()


DEAD_LETTER_COLUMNS = (
    "source_topic", "source_partition", "source_offset", "stage", "error_class", "error_message",
    "attempts", "first_failure_time", "last_failure_time", "document_id", "business_id", "reference",
)  # fmt: skip


def dead_letter_row(dl: dict[str, Any]) -> list[Any]:
    """The ``dead_letters`` table row of a DeadLetter (payload is not stored there)."""
    return [dl[c] for c in DEAD_LETTER_COLUMNS]


class DeadLetterPublisher:
    """Synchronous DLQ producer (confluent-kafka, idempotent, acks=all)."""

    def __init__(self, settings: Any, producer: Any | None = None) -> None:
        from ocrstream.codec import make_serde
        from ocrstream.kafka import make_producer
        from ocrstream.topics import DLQ

        self.topic = settings.topic(DLQ.short_name)
        self.serde = make_serde("DeadLetter", settings.kafka.schema_registry_url)
        self.producer = producer or make_producer(settings)
        self.sent = 0
        self.errors: list[str] = []

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.errors.append(str(err))

    def publish(self, dl: dict[str, Any]) -> None:
        value = self.serde.encode(dl, self.topic)
        log.warning("dead letter %s[%d]@%d stage=%s %s: %s", dl["source_topic"], dl["source_partition"],
                    dl["source_offset"], dl["stage"], dl["error_class"], dl["error_message"])
        while True:
            try:
                self.producer.produce(self.topic, value=value, key=dead_letter_key(dl), on_delivery=self._on_delivery)
                break
            except BufferError:
                self.producer.poll(0.1)
        self.sent += 1
        self.producer.poll(0)

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait for every dead letter to be acknowledged (raise TransientError otherwise)."""
        left = self.producer.flush(timeout_s)
        if left or self.errors:
            errs, self.errors = self.errors[:3], []
            raise TransientError(f"DLQ delivery failed ({left} pending): {errs}")
