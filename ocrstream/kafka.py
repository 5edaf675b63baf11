"""confluent-kafka clients configured from :class:`~ocrstream.settings.Settings`.

Producers are idempotent with ``acks=all``: a message counts as published only
when its delivery report says the broker acknowledged it (see
:class:`DeliveryTracker`). Consumers commit explicitly (``enable.auto.commit``
off) — at-least-once; the exactly-once *effect* comes from idempotent sinks.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient

from ocrstream.settings import Settings

log = logging.getLogger(__name__)


def common_config(settings: Settings) -> dict[str, Any]:
    k = settings.kafka
    cfg: dict[str, Any] = {
        "bootstrap.servers": k.bootstrap,
        "client.id": f"ocrstream-{socket.gethostname()}",
        "security.protocol": k.security_protocol,
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
