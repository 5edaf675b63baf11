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
after a broker outage) never recovers; :class:`AsyncProducer` rebuilds it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient

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


class BrokerUnavailable(RuntimeError):
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


class DeliveryFailed(Exception):
    """A record was not acknowledged (broker down, timeout, fenced producer): retry it."""

    def __init__(self, topic: str, err: Any) -> None:
        self.code = err.code() if isinstance(err, KafkaError) else None
        self.fatal = bool(err.fatal()) if isinstance(err, KafkaError) else False
        text = err.str() if isinstance(err, KafkaError) else str(err)
        super().__init__(f"delivery to {topic} failed: {' '.join(text.split())[:300]}")


class DeliveryRefused(DeliveryFailed):
    """The broker will never accept this record (e.g. ``MSG_SIZE_TOO_LARGE``): permanent."""

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


class AsyncProducer:
    """Idempotent confluent-kafka producer with awaitable deliveries, rebuilt after a fatal error.

    ``await send(...)`` returns once the broker acknowledged the record and
    raises :func:`delivery_error`'s exceptions otherwise. A thread serves the
    delivery callbacks. When a delivery or librdkafka reports an error that
    leaves the producer unusable (:func:`needs_new_producer`: fatal, fenced,
    lost sequence after an outage — it would refuse every later record), the
    next ``send`` builds a new producer (new producer id)
    and the caller's retry goes through it; records still queued in the old
    one fail with :class:`DeliveryFailed` and are retried by their callers
    (at-least-once: a record the broker had stored but not acknowledged may be
    written twice — consumers dedupe by record id).
    """

    def __init__(self, settings: Settings, **overrides: Any) -> None:
        self._settings = settings
        self._overrides = overrides
        self._lock = threading.Lock()
        self._fatal: str | None = None
        self.rebuilds = 0
        self._producer = self._build()
        self._running = True
        self._thread = threading.Thread(target=self._poll, name="producer-poll", daemon=True)
        self._thread.start()

    def _build(self) -> Producer:
        cfg = producer_config(self._settings, **self._overrides)
        cfg["error_cb"] = self._on_error
        return Producer(cfg)

    def _on_error(self, err: KafkaError) -> None:
        if needs_new_producer(err):
            self._fatal = " ".join(err.str().split())[:300]
        else:
            log.debug("producer error: %s", err.str())

    def _poll(self) -> None:
        while self._running:
            self._producer.poll(0.1)

    def _rebuild(self) -> None:
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

    async def send(self, topic: str, value: bytes, key: bytes | None) -> None:
        """Return once the broker acknowledged the record; raise :class:`DeliveryFailed` otherwise."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def on_delivery(err: Any, msg: Any) -> None:
            if err is not None and needs_new_producer(err):
                self._fatal = " ".join(err.str().split())[:300]

            def settle() -> None:
                if fut.done():
                    return
                if err is not None:
                    fut.set_exception(delivery_error(topic, err))
                else:
                    fut.set_result(None)

            loop.call_soon_threadsafe(settle)

        while True:
            if self._fatal is not None:
                self._rebuild()
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:
                await asyncio.sleep(0.05)
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                if needs_new_producer(err):
                    self._fatal = " ".join(err.str().split())[:300]
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
