"""confluent-kafka clients configured from :class:`~ocrstream.settings.Settings`.

Producers are idempotent with ``acks=all``: a message counts as published only
when its delivery report says the broker acknowledged it (see
:class:`DeliveryTracker`). Consumers commit explicitly (``enable.auto.commit``
off) — at-least-once; the exactly-once *effect* comes from idempotent sinks.

librdkafka's own log lines (one per failed connect, every second while a
broker is down) go to the ``ocrstream.librdkafka`` logger at DEBUG, so a
broker outage is reported once, by the caller, in one line
(:func:`kafka_error_line`, :class:`BrokerUnavailable`).

Delivery failures are split the way the stream stages need them
(:func:`delivery_error`): :class:`DeliveryRefused` — the broker will never
take this record (too large, invalid, not authorised): permanent, dead-letter
it — and :class:`DeliveryFailed` — retry the same record. An idempotent
producer that hit a *fatal* error (``PRODUCER_FENCED``, out-of-order sequence
after a broker outage) never recovers; :class:`AsyncProducer` and
:class:`BlockingProducer` rebuild it.

Producing: :func:`produce` is the one blocking produce with back-pressure
(poll while librdkafka's queue is full, bounded wait, then
:class:`ProduceBlocked`), :func:`produce_all` its loop for many records, and
:func:`flush` the bounded wait for delivery reports; :class:`AsyncProducer`
is the awaitable variant for the async stages.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient

from ocrstream.errors import Permanent, Transient
from ocrstream.settings import Settings

log = logging.getLogger(__name__)
_rdkafka_log = logging.getLogger("ocrstream.librdkafka")


class _QuietLibrdkafkaLog:
    """librdkafka's ``logger``: every line at DEBUG (its syslog level kept in the text)."""

    def log(self, level: int, fmt: str, *args: Any) -> None:
        if _rdkafka_log.isEnabledFor(logging.DEBUG):
            _rdkafka_log.debug("[%s] " + fmt, logging.getLevelName(level), *args)


QUIET_LOGGER = _QuietLibrdkafkaLog()


def common_config(settings: Settings) -> dict[str, Any]:
    k = settings.kafka
    cfg: dict[str, Any] = {
        "bootstrap.servers": k.bootstrap,
        "client.id": f"ocrstream-{socket.gethostname()}",
        "security.protocol": k.security_protocol,
        "logger": QUIET_LOGGER,
        "log.connection.close": False,
    }
    if k.sasl_mechanism:
        cfg.update(
            {
                "sasl.mechanism": k.sasl_mechanism,
                "sasl.username": k.sasl_username or "",
                "sasl.password": k.sasl_password or "",
            }
        )
    return cfg


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    cfg = common_config(settings) | {
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "compression.type": "lz4",
        "message.max.bytes": settings.kafka.message_max_bytes,
        "message.timeout.ms": 30_000,
    }
    cfg.update(overrides)
    return cfg


def consumer_config(settings: Settings, group_id: str, **overrides: Any) -> dict[str, Any]:
    cfg = common_config(settings) | {
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": settings.kafka.session_timeout_ms,
        "heartbeat.interval.ms": max(500, settings.kafka.session_timeout_ms // 6),
        "fetch.max.bytes": max(52_428_800, settings.kafka.message_max_bytes),
        "max.partition.fetch.bytes": settings.kafka.message_max_bytes,
    }
    cfg.update(overrides)
    return cfg


def make_producer(settings: Settings, **overrides: Any) -> Producer:
    return Producer(producer_config(settings, **overrides))


def make_consumer(settings: Settings, group_id: str, **overrides: Any) -> Consumer:
    return Consumer(consumer_config(settings, group_id, **overrides))


def admin_client(settings: Settings) -> AdminClient:
    return AdminClient(common_config(settings))


def broker_reachable(settings: Settings, timeout_s: float = 5.0) -> bool:
    """True when the bootstrap broker answers a metadata request."""
    try:
        admin_client(settings).list_topics(timeout=timeout_s)
        return True
    except Exception:
        return False


class BrokerUnavailable(Transient, RuntimeError):
    """No broker answered; ``str()`` is one line saying where and what to do."""


def kafka_error_line(exc: BaseException) -> str:
    """One line for a librdkafka error (``KafkaException`` carries a ``KafkaError``)."""
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    text = err.str() if isinstance(err, KafkaError) else str(exc)
    return " ".join(text.split())[:300] or type(exc).__name__


def require_broker(settings: Settings, attempts: int | None = None, timeout_s: float | None = None) -> None:
    """Raise :class:`BrokerUnavailable` unless a metadata request succeeds.

    ``attempts`` x ``timeout_s`` default to ``producer.connect_attempts`` x
    ``producer.connect_timeout_s``, with a short back-off in between.
    """
    p = settings.producer
    attempts = attempts or p.connect_attempts
    timeout_s = timeout_s or p.connect_timeout_s
    last = ""
    for attempt in range(1, attempts + 1):
        try:
            admin_client(settings).list_topics(timeout=timeout_s)
            return
        except KafkaException as exc:
            last = kafka_error_line(exc)
            log.debug("Kafka at %s not reachable (attempt %d/%d): %s", settings.kafka.bootstrap, attempt,
                      attempts, last)
        if attempt < attempts:
            time.sleep(min(2.0, 0.5 * attempt))
    raise BrokerUnavailable(
        f"cannot reach Kafka at {settings.kafka.bootstrap} after {attempts} attempts ({last or 'timeout'}): "
        "start it with `ocrstream stack up` or pass --kafka-bootstrap HOST:PORT"
    )


# ---------------------------------------------------------------- delivery errors

#: Broker answers that no retry can change: the record itself is refused.
REFUSED_CODES = frozenset({
    KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.INVALID_RECORD, KafkaError.RECORD_LIST_TOO_LARGE,
    KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED, KafkaError.POLICY_VIOLATION,
    KafkaError.TOPIC_EXCEPTION, KafkaError.INVALID_REQUIRED_ACKS, KafkaError.UNSUPPORTED_FOR_MESSAGE_FORMAT,
    KafkaError._INVALID_ARG,
})  # fmt: skip


#: Errors after which an idempotent producer id/epoch is unusable: only a new producer gets on.
#: (Tansu answers PRODUCER_FENCED to every later record once it lost producer state in an S3 outage;
#: librdkafka does not flag that as fatal for a non-transactional producer.)
NEW_PRODUCER_CODES = frozenset({
    KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH, KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
    KafkaError.UNKNOWN_PRODUCER_ID, KafkaError.INVALID_PRODUCER_ID_MAPPING, KafkaError._FENCED, KafkaError._FATAL,
})  # fmt: skip


def needs_new_producer(err: Any) -> bool:
    """True when ``err`` leaves the producer unusable (fatal, fenced, lost sequence)."""
    return isinstance(err, KafkaError) and (err.fatal() or err.code() in NEW_PRODUCER_CODES)


class DeliveryFailed(Transient):
    """A record was not acknowledged (broker down, timeout, fenced producer): retry it."""

    def __init__(self, topic: str, err: Any) -> None:
        self.code = err.code() if isinstance(err, KafkaError) else None
        self.fatal = bool(err.fatal()) if isinstance(err, KafkaError) else False
        text = err.str() if isinstance(err, KafkaError) else str(err)
        super().__init__(f"delivery to {topic} failed: {' '.join(text.split())[:300]}")


class DeliveryRefused(DeliveryFailed, Permanent):
    """The broker will never accept this record (e.g. ``MSG_SIZE_TOO_LARGE``): permanent (that wins)."""

    @property
    def error_class(self) -> str:
        name = KafkaError(self.code).name() if self.code is not None else "refused"
        return f"DeliveryRefused.{name.lstrip('_')}"


def delivery_error(topic: str, err: Any) -> DeliveryFailed:
    """:class:`DeliveryRefused` for :data:`REFUSED_CODES`, else :class:`DeliveryFailed`."""
    code = err.code() if isinstance(err, KafkaError) else None
    if code in REFUSED_CODES and not (isinstance(err, KafkaError) and err.fatal()):
        return DeliveryRefused(topic, err)
    return DeliveryFailed(topic, err)


#: How long :func:`produce` waits for room in librdkafka's local queue before it gives up.
#: Longer than ``message.timeout.ms`` (30 s): by then every queued message was delivered or failed.
PRODUCE_MAX_WAIT_S = 120.0

DeliveryCallback = Callable[[Any, Any], None]


class ProduceBlocked(Transient, BufferError):
    """librdkafka's local queue stayed full for the whole bounded wait of :func:`produce` (the broker is away)."""


def produce(producer: Producer, topic: str, value: bytes | None, key: bytes | str | None = None,
            on_delivery: DeliveryCallback | None = None, *, headers: list[tuple[str, bytes]] | None = None,
            timestamp_ms: int | None = None, max_wait_s: float = PRODUCE_MAX_WAIT_S) -> None:
    """Queue one message, blocking with back-pressure while librdkafka's local queue is full.

    On ``BufferError`` it serves delivery reports (``poll``), which frees the
    queue as the broker acknowledges, and tries again; after ``max_wait_s``
    without room it raises :class:`ProduceBlocked` (one line: topic, queue
    length, wait). Memory stays bounded and nothing is dropped silently. Other
    errors (``KafkaException`` for a record refused locally) propagate.
    """
    kwargs: dict[str, Any] = {"key": key, "value": value}
    if on_delivery is not None:
        kwargs["on_delivery"] = on_delivery
    if headers is not None:
        kwargs["headers"] = headers
    if timestamp_ms is not None:
        kwargs["timestamp"] = timestamp_ms
    deadline: float | None = None
    while True:
        try:
            producer.produce(topic, **kwargs)
            return
        except ProduceBlocked:
            raise  # a wrapper already waited its bound
        except BufferError:
            now = time.monotonic()
            if deadline is None:
                deadline = now + max_wait_s
            elif now >= deadline:
                raise ProduceBlocked(
                    f"cannot queue a record for {topic}: librdkafka's queue stayed full ({len(producer)} "
                    f"messages) for {max_wait_s:.0f}s; is the broker at reach?") from None
            producer.poll(0.05)


def produce_all(producer: Producer, topic: str, pairs: Iterable[tuple[bytes, bytes]],
                on_delivery: DeliveryCallback | None = None, *, pace_rate: float | None = None,
                on_progress: Callable[[int], None] | None = None) -> int:
    """Queue every ``(key, value)`` of ``pairs`` (as :func:`produce` does, one call per record on the
    fast path); return how many were queued.

    With ``pace_rate`` (records/s) it sleeps to queue at that wall-clock rate.
    Delivery reports are served every 1,024 records, when ``on_progress(n)``
    is called too. Call :func:`flush` to wait for them.
    """
    t0 = time.monotonic()
    n = 0
    fast = producer.produce
    poll = producer.poll
    for key, value in pairs:
        if pace_rate:
            wait = n / pace_rate - (time.monotonic() - t0)
            if wait > 0:
                time.sleep(wait)
        try:
            fast(topic, value, key, on_delivery=on_delivery)
        except BufferError:
            produce(producer, topic, value, key, on_delivery)
        n += 1
        if n & 0x3FF == 0:
            poll(0)
            if on_progress is not None:
                on_progress(n)
    return n


def flush(producer: Any, timeout_s: float) -> int:
    """Wait up to ``timeout_s`` for all delivery reports; return how many are still outstanding."""
    deadline = time.monotonic() + timeout_s
    remaining = len(producer)
    while remaining and time.monotonic() < deadline:
        remaining = producer.flush(min(1.0, max(0.0, deadline - time.monotonic())))
    return remaining


class _RebuildingProducer:
    """An idempotent producer that is replaced after an error that leaves it unusable.

    When a delivery, a ``produce`` call or librdkafka's error callback reports
    an error of :func:`needs_new_producer` (fatal, fenced, lost sequence after
    an outage — it would refuse every later record), the next call builds a new
    producer (new producer id). Records still queued in the old one fail with a
    delivery error and are retried by their callers (at-least-once: a record the
    broker had stored but not acknowledged may be written twice — consumers
    dedupe by record id).
    """

    def __init__(self, settings: Settings, **overrides: Any) -> None:
        self._settings = settings
        self._overrides = overrides
        self._lock = threading.Lock()
        self._fatal: str | None = None
        self.rebuilds = 0
        self._producer = self._build()

    def _build(self) -> Producer:
        cfg = producer_config(self._settings, **self._overrides)
        cfg["error_cb"] = self._on_error
        return Producer(cfg)

    def _on_error(self, err: KafkaError) -> None:
        if not self._note(err):
            log.debug("producer error: %s", err.str())

    def _note(self, err: Any) -> bool:
        """Remember ``err`` when it calls for a new producer; True if it does."""
        if needs_new_producer(err):
            self._fatal = " ".join(err.str().split())[:300]
            return True
        return False

    def _rebuild_if_needed(self) -> None:
        if self._fatal is None:
            return
        with self._lock:
            if self._fatal is None:
                return  # another caller rebuilt it already
            reason, self._fatal = self._fatal, None
            old, self._producer = self._producer, self._build()
            self.rebuilds += 1
        log.warning("producer hit a fatal error (%s): rebuilt it (rebuild %d); unacknowledged records are retried",
                    reason, self.rebuilds)
        try:
            old.purge()
            old.poll(0)  # fail the purged deliveries so their senders retry
            old.flush(0)
        except Exception as exc:  # noqa: BLE001 - the old producer is being dropped
            log.debug("old producer cleanup: %s", exc)

    def _reporting(self, on_delivery: DeliveryCallback | None) -> DeliveryCallback:
        """``on_delivery`` that first notes an error calling for a new producer."""

        def report(err: Any, msg: Any) -> None:
            if err is not None:
                self._note(err)
            if on_delivery is not None:
                on_delivery(err, msg)

        return report


class BlockingProducer(_RebuildingProducer):
    """The batch stages' producer: :func:`produce` with back-pressure, rebuilt after a fatal error.

    ``produce`` queues (blocking while the local queue is full), ``flush``
    waits for the delivery reports; ``on_delivery`` callbacks see every
    failure (a purged record of a replaced producer too), so the caller
    decides what to retry. It stands in for a confluent-kafka ``Producer``
    where a stage only produces, polls and flushes (``ocrstream.deadletter``, the sink).
    """

    def produce(self, topic: str, value: bytes | None = None, key: bytes | str | None = None,
                on_delivery: DeliveryCallback | None = None, *, headers: list[tuple[str, bytes]] | None = None,
                timestamp_ms: int | None = None) -> None:
        """Queue one record (see :func:`produce`); a producer found unusable is replaced first."""
        for attempt in (1, 2):
            self._rebuild_if_needed()
            try:
                produce(self._producer, topic, value, key, self._reporting(on_delivery), headers=headers,
                        timestamp_ms=timestamp_ms)
                return
            except KafkaException as exc:
                if attempt == 2 or not self._note(exc.args[0] if exc.args else None):
                    raise

    def poll(self, timeout: float = 0.0) -> int:
        return self._producer.poll(timeout)

    def flush(self, timeout: float = 30.0) -> int:
        """Wait up to ``timeout`` seconds for the delivery reports; return how many are outstanding."""
        return flush(self._producer, timeout)

    def __len__(self) -> int:
        return len(self._producer)


class AsyncProducer(_RebuildingProducer):
    """Idempotent confluent-kafka producer with awaitable deliveries, rebuilt after a fatal error.

    ``await send(...)`` returns once the broker acknowledged the record and
    raises :func:`delivery_error`'s exceptions otherwise. A thread serves the
    delivery callbacks. A producer found unusable is replaced as
    :class:`_RebuildingProducer` says; the caller's retry goes through the new one.
    """

    def __init__(self, settings: Settings, **overrides: Any) -> None:
        super().__init__(settings, **overrides)
        self._running = True
        self._thread = threading.Thread(target=self._poll, name="producer-poll", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while self._running:
            self._producer.poll(0.1)

    async def send(self, topic: str, value: bytes, key: bytes | None) -> None:
        """Return once the broker acknowledged the record; raise :class:`DeliveryFailed` otherwise."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def settle(err: Any) -> None:
            if fut.done():
                return
            if err is not None:
                fut.set_exception(delivery_error(topic, err))
            else:
                fut.set_result(None)

        on_delivery = self._reporting(lambda err, msg: loop.call_soon_threadsafe(settle, err))
        waited = 0.0
        while True:
            self._rebuild_if_needed()
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:
                if waited >= PRODUCE_MAX_WAIT_S:
                    raise DeliveryFailed(topic, f"local queue full for {PRODUCE_MAX_WAIT_S:.0f}s") from None
                await asyncio.sleep(0.05)
                waited += 0.05
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                if self._note(err):
                    continue
                raise delivery_error(topic, err if isinstance(err, KafkaError) else exc) from exc
        await fut

    def close(self, timeout_s: float = 10.0) -> None:
        try:
            self._producer.flush(timeout_s)
        finally:
            self._running = False


@dataclass
class DeliveryTracker:
    """Counts delivery reports; a message is 'published' only once acked."""

    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def __call__(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.failed += 1
            if len(self.errors) < 20:
                self.errors.append(f"{msg.topic()}: {err.str()}")
        else:
            self.delivered += 1


def read_all(
    consumer: Consumer, expected: int | None = None, idle_timeout_s: float = 5.0
) -> list[Message]:
    """Poll until ``expected`` messages or ``idle_timeout_s`` without one (test/tool helper)."""
    import time

    out: list[Message] = []
    last = time.monotonic()
    while expected is None or len(out) < expected:
        batch = consumer.consume(num_messages=1000, timeout=0.5)
        good = [m for m in batch if m.error() is None]
        out.extend(good)
        if good:
            last = time.monotonic()
        elif time.monotonic() - last > idle_timeout_s:
            break
    return out
