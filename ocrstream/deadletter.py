"""Dead letters and retry with backoff, by the permanent/transient split of :mod:`ocrstream.errors`.

Policy (every stage of the worker and the sink uses it):

* **permanent** errors (:func:`~ocrstream.errors.classify_error` -> ``"permanent"``): the record
  can never succeed — bad Avro, a refused or missing object, unknown
  business, corrupt/oversized/encrypted input, an invalid event time, a
  result the broker refuses (too large). The record goes to the DLQ topic as
  a ``DeadLetter`` (source topic/partition/offset, stage, error class,
  one-line message, attempts, first/last failure time in epoch ms, the object
  reference, and a bounded *excerpt* of the payload — never the whole
  payload, so a dead letter always fits the broker's message limit) and the
  stream goes on with the next record.
* **transient** errors (S3/ClickHouse/Kafka unreachable, timeouts, a broken
  OCR pool): retried forever with exponential backoff capped at
  ``retry.max_backoff_ms``; the consumer does not move (or commit)
  past the failed record meanwhile.
* **unknown** errors (a bug for one input): retried ``retry.max_attempts``
  times, then dead-lettered, so one poison record cannot block a partition.

Dead letters are at-least-once: a crash after the DLQ write and before the
offset commit writes the same dead letter again (same source
topic/partition/offset/stage; the ``dead_letters`` table is a
ReplacingMergeTree on exactly that key, so it counts once).

One writer, :class:`DeadLetterWriter`, serves every stage (the worker awaits
:meth:`DeadLetterWriter.write`, the sink calls ``publish`` + ``flush``). A
dead letter the broker *refuses* is re-sent once in its minimal form (no
excerpt, clipped texts); if that is refused too, the failure is reported
(ERROR log line + ``ocrstream_dead_letter_write_failures_total``) and the
stage moves on — a poison record never stops a stage. A DLQ write that fails
because the broker is unreachable is retried like any transient error.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ocrstream.errors import ErrorKind, Transient, classify_error
from ocrstream.settings import RetrySettings

log = logging.getLogger(__name__)

T = TypeVar("T")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def error_class(exc: BaseException) -> str:
    """Stable label for the DLQ: ``OcrInputError.error_class`` or the class name."""
    return str(getattr(exc, "error_class", None) or type(exc).__name__)


def one_line(exc: BaseException, limit: int = 500) -> str:
    text = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())[:limit]


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
    def from_settings(cls, retry: RetrySettings) -> "RetryPolicy":
        """The policy of the ``retry`` settings section."""
        return cls(retry.backoff_ms, retry.max_backoff_ms, retry.max_attempts)

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


#: Default bound of the payload excerpt in a dead letter (``retry.dead_letter_excerpt_bytes``).
EXCERPT_BYTES = 1024
#: Bound (characters) of the texts a dead letter copies from its record (ids, reference).
MAX_TEXT_CHARS = 1024


def clip(text: str | None, limit: int = MAX_TEXT_CHARS) -> str | None:
    """``text`` cut to ``limit`` characters, marked with its full length when cut."""
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]}...[{len(text)} chars]"


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
    excerpt_bytes: int = EXCERPT_BYTES,
) -> dict[str, Any]:
    """A bounded ``DeadLetter`` record (``schemas/DeadLetter.avsc``).

    ``payload`` is the failed record's bytes; the dead letter keeps its first
    ``excerpt_bytes`` and its size (``payload_size``), never all of it. Ids
    and the reference are clipped to :data:`MAX_TEXT_CHARS`, the message to
    one line of 500 characters, so its encoded size is bounded whatever the input.
    """
    failure = failure or Failure.start()
    attempts = max(1, failure.attempts)
    return {
        "source_topic": source_topic,
        "source_partition": int(source_partition),
        "source_offset": int(source_offset),
        "stage": stage,
        "error_class": clip(error_class(exc), 200),
        "error_message": one_line(exc),
        "attempts": attempts,
        "first_failure_time": failure.first_ms,
        "last_failure_time": max(failure.last_ms, failure.first_ms),
        "document_id": clip(document_id),
        "business_id": clip(business_id),
        "reference": clip(reference),
        "payload": None if payload is None else bytes(payload[: max(0, excerpt_bytes)]),
        "payload_size": None if payload is None else len(payload),
    }


def minimal_dead_letter(dl: dict[str, Any]) -> dict[str, Any]:
    """The smallest form of ``dl`` (no excerpt, short texts): the retry when the broker refused ``dl``."""
    return dl | {
        "payload": None, "reference": clip(dl.get("reference"), 200), "document_id": clip(dl.get("document_id"), 200),
        "business_id": clip(dl.get("business_id"), 200), "error_message": (dl.get("error_message") or "")[:200],
        "error_class": (dl.get("error_class") or "")[:100],
    }  # fmt: skip


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


def report_unwritable(dl: dict[str, Any], reason: str) -> None:
    """A dead letter that even its minimal form could not be written: say so once, count it."""
    from ocrstream import metrics

    log.error("dead letter for %s[%d]@%d (stage=%s %s) could not be written and is dropped: %s",
              dl["source_topic"], dl["source_partition"], dl["source_offset"], dl["stage"], dl["error_class"],
              reason)
    metrics.DEAD_LETTER_WRITE_FAILURES.inc(stage=dl["stage"])


class DeadLetterWriter:
    """The dead-letter writer of every stage (confluent-kafka, idempotent, acks=all).

    * ``await write(dl, send)`` (async stages, e.g. the OCR worker): returns
      True once the broker acknowledged the dead letter, False when it was
      refused in full and in minimal form (reported); transient failures are
      retried with backoff, like every other write of the stage.
    * ``publish(dl)`` + ``flush()`` (batch stages, e.g. the sink): queue, then
      wait for the acknowledgements. A refused one is re-queued in minimal
      form from the delivery report; refused again, it is reported and
      dropped. Only unacknowledged (transient) failures make ``flush`` raise
      :class:`Transient`; those dead letters are queued again by that
      ``flush``, so calling it again (the caller's retry) delivers them, and
      ``errors`` holds only the failures since the last ``flush``.
    """

    def __init__(self, settings: Any, producer: Any | None = None) -> None:
        from ocrstream.codec import make_serde
        from ocrstream.topics import DLQ

        self.topic = settings.topic(DLQ.short_name)
        self.serde = make_serde("DeadLetter", settings.kafka.schema_registry_url)
        self.excerpt_bytes = int(settings.retry.dead_letter_excerpt_bytes)
        self._settings = settings
        self._producer = producer
        self.sent = 0
        self.dropped = 0
        self.errors: list[str] = []
        self._failed: list[dict[str, Any]] = []  # transient failures, queued again by flush()

    @property
    def producer(self) -> Any:
        if self._producer is None:
            from ocrstream.kafka import BlockingProducer

            self._producer = BlockingProducer(self._settings)
        return self._producer

    def bound(self, dl: dict[str, Any]) -> dict[str, Any]:
        """``dl`` with its excerpt cut to ``retry.dead_letter_excerpt_bytes``."""
        payload = dl.get("payload")
        if payload is not None and len(payload) > self.excerpt_bytes:
            return dl | {"payload": payload[: self.excerpt_bytes],
                         "payload_size": dl.get("payload_size") or len(payload)}
        return dl

    def encode(self, dl: dict[str, Any]) -> bytes:
        return self.serde.encode(dl, self.topic)

    @staticmethod
    def _log(dl: dict[str, Any]) -> None:
        log.warning("dead letter %s[%d]@%d stage=%s %s: %s", dl["source_topic"], dl["source_partition"],
                    dl["source_offset"], dl["stage"], dl["error_class"], dl["error_message"])

    # ------------------------------------------------------------ async stages
    async def write(self, dl: dict[str, Any], send: Callable[[str, bytes, bytes], Awaitable[None]],
                    policy: RetryPolicy) -> bool:
        """Send ``dl`` through ``send(topic, value, key)``; see the class docstring."""
        dl = self.bound(dl)
        self._log(dl)
        forever = RetryPolicy(policy.base_ms, policy.max_ms, 10**9)
        where = f"dlq {dl['source_topic']}[{dl['source_partition']}]@{dl['source_offset']}"
        reason = ""
        for record in (dl, minimal_dead_letter(dl)):
            value, key = self.encode(record), dead_letter_key(record)
            try:
                await retry_async(lambda: send(self.topic, value, key), forever, "publish", where)
                self.sent += 1
                return True
            except GaveUp as exc:  # the broker refused this form of the record
                reason = one_line(exc.__cause__ or exc)
        self.dropped += 1
        report_unwritable(dl, reason)
        return False

    # ------------------------------------------------------------ batch stages
    def publish(self, dl: dict[str, Any]) -> None:
        """Queue ``dl`` (returns at once; ``flush`` waits for the broker)."""
        dl = self.bound(dl)
        self._log(dl)
        self._produce(dl, minimal=False)
        self.producer.poll(0)

    def _produce(self, dl: dict[str, Any], *, minimal: bool) -> None:
        record = minimal_dead_letter(dl) if minimal else dl

        def on_delivery(err: Any, msg: Any) -> None:
            if err is None:
                self.sent += 1
                return
            from ocrstream.kafka import DeliveryRefused, delivery_error

            exc = delivery_error(self.topic, err)
            if not isinstance(exc, DeliveryRefused):
                self.errors.append(str(exc))
                self._failed.append(dl)
            elif not minimal:
                self._produce(dl, minimal=True)
            else:
                self.dropped += 1
                report_unwritable(dl, str(exc))

        from ocrstream.kafka import produce

        value, key = self.encode(record), dead_letter_key(record)
        while True:
            try:
                produce(self.producer, self.topic, value, key, on_delivery)
                return
            except BufferError:
                raise  # the queue stayed full for produce()'s whole wait: not this record's fault
            except Exception as exc:  # noqa: BLE001 - refused locally (size, config)
                from ocrstream.kafka import DeliveryRefused

                err = exc.args[0] if exc.args else exc
                if minimal:
                    self.dropped += 1
                    report_unwritable(dl, str(DeliveryRefused(self.topic, err)))
                    return
                record, minimal = minimal_dead_letter(dl), True
                value, key = self.encode(record), dead_letter_key(record)

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait for every dead letter to be acknowledged; raise Transient otherwise.

        Dead letters that failed transiently are queued again before the raise: the
        next ``flush`` waits for them (they are not lost, and an old failure does not
        fail every later flush).
        """
        left = self.producer.flush(timeout_s)
        if left or self.errors:
            errs, self.errors = self.errors[:3], []
            failed, self._failed = self._failed, []
            for dl in failed:
                self._produce(dl, minimal=False)
            raise Transient(f"DLQ delivery failed ({left} pending, {len(failed)} queued again): {errs}")


#: The sink's name for the writer (kept for its callers).
DeadLetterPublisher = DeadLetterWriter
