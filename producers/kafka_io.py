"""Producer-side Kafka plumbing shared by the three producers.

* :func:`connect` checks the broker with bounded retries (then raises
  :class:`~producers.errors.BrokerUnavailable` with a hint), makes sure the
  topic exists and returns an idempotent ``acks=all`` producer.

Producing goes through the ground's one helper, :func:`ocrstream.kafka.produce`
(blocking with back-pressure) and :func:`ocrstream.kafka.flush`.

Delivery semantics: at-least-once. A message counts as published only when
its delivery report says the broker acknowledged it (``acks=all``). The
idempotent producer removes duplicates caused by librdkafka's own retries;
a message re-sent by a *new* run (after a crash before the report) can appear
twice, and consumers de-duplicate on the key/document id.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Producer

from ocrstream.kafka import BrokerUnavailable as KafkaUnreachable
from ocrstream.kafka import make_producer, require_broker
from ocrstream.settings import Settings
from ocrstream.topics import TopicSpec, ensure_topics
from producers.errors import BrokerUnavailable

log = logging.getLogger(__name__)


def check_broker(settings: Settings) -> None:
    """Raise :class:`BrokerUnavailable` unless a metadata request succeeds.

    Tries ``producer.connect_attempts`` times, ``producer.connect_timeout_s``
    seconds each, with a short back-off between attempts (:func:`ocrstream.kafka.require_broker`).
    """
    try:
        require_broker(settings)
    except KafkaUnreachable as exc:
        raise BrokerUnavailable(str(exc)) from None


def connect(settings: Settings, spec: TopicSpec, **overrides: Any) -> tuple[Producer, str]:
    """Check the broker, create ``spec``'s topic if missing, return ``(producer, topic)``."""
    check_broker(settings)
    try:
        ensure_topics(settings, (spec,), timeout_s=settings.producer.connect_timeout_s * 2)
    except Exception as exc:  # noqa: BLE001 - one line for the user
        raise BrokerUnavailable(
            f"cannot create topic {settings.topic(spec.short_name)} on {settings.kafka.bootstrap}: "
            f"{' '.join(str(exc).split())[:200]} (run `ocrstream topics`)"
        ) from exc
    overrides.setdefault("logger", logging.getLogger("producers.librdkafka"))
    return make_producer(settings, **overrides), settings.topic(spec.short_name)
