"""Producing ``OcrResult`` events to Kafka (the publish half of the load generator).

:func:`publish_events` produces any iterable of ``OcrResult`` dicts (key
``business_id``) and waits for every delivery report. A source that can encode
itself faster than record by record (:class:`PreEncoded`, e.g.
:class:`synth.events.EventStream`) is handed the serde and asked for its
``(key, value)`` bytes instead; either way every value goes through
:func:`ocrstream.codec.make_serde`, so ``kafka.schema_registry_url`` is honoured.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ocrstream.codec import Serde, make_serde
from ocrstream.kafka import flush, produce_all
from ocrstream.settings import Settings
from ocrstream.topics import OCR_RESULTS, TopicSpec
from producers.kafka_io import connect


@runtime_checkable
class PreEncoded(Protocol):
    """Records that encode themselves (one pass): ``encoded(serde, topic)`` yields ``(key, value)`` bytes."""

    @property
    def fresh(self) -> bool: ...

    def encoded(self, serde: Serde | None = None, topic: str | None = None) -> Iterator[tuple[bytes, bytes]]: ...


@dataclass
class PublishStats:
    """Outcome of :func:`publish_events`: delivered = acknowledged by the broker."""

    produced: int = 0
    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.delivered / self.elapsed_s if self.elapsed_s > 0 else 0.0


def encoded_events(settings: Settings, events: Iterable[dict[str, Any]] | PreEncoded,
                   topic: str) -> Iterator[tuple[bytes, bytes]]:
    """``(business_id, value)`` per event, with the ``OcrResult`` serde of ``settings`` (registry or not)."""
    serde = make_serde("OcrResult", settings.kafka.schema_registry_url)
    if isinstance(events, PreEncoded) and events.fresh:
        return events.encoded(serde, topic)
    return ((str(e["business_id"]).encode(), serde.encode(e, topic)) for e in events)


def publish_events(settings: Settings, events: Iterable[dict[str, Any]] | PreEncoded, *,
                   spec: TopicSpec = OCR_RESULTS, pace_rate: float | None = None,
                   on_progress: Callable[[int], None] | None = None) -> PublishStats:
    """Produce ``OcrResult`` events (key ``business_id``) and wait for every delivery report.

    At-least-once: ``delivered`` counts records the broker acknowledged
    (``acks=all``, idempotent producer; only failures raise a delivery report,
    so after a complete flush ``delivered = produced - failed``). With
    ``pace_rate`` (events/s) the call sleeps to emit at that wall-clock rate
    (live mode); otherwise it produces as fast as the broker takes it, with a
    large ``linger.ms``/batch for throughput. ``on_progress(n_produced)`` is
    called every 1,024 events and at the end.
    """
    p = settings.producer
    producer, topic = connect(settings, spec, **generator_producer_config(settings))
    stats = PublishStats()

    def on_error(err: Any, msg: Any) -> None:
        if err is not None:
            stats.failed += 1
            if len(stats.errors) < 10:
                stats.errors.append(err.str())

    t0 = time.monotonic()
    stats.produced = produce_all(producer, topic, encoded_events(settings, events, topic), on_error,
                                 pace_rate=pace_rate, on_progress=on_progress)
    left = flush(producer, p.flush_timeout_s)
    stats.elapsed_s = time.monotonic() - t0
    if left:
        stats.failed += left
        stats.errors.append(f"{left} messages without delivery report after {p.flush_timeout_s:.0f}s")
    stats.delivered = stats.produced - stats.failed
    if on_progress is not None:
        on_progress(stats.produced)
    return stats


def generator_producer_config(settings: Settings) -> dict[str, Any]:
    """librdkafka overrides of the load generator: large batches, only failures reported."""
    p = settings.producer
    return {
        "linger.ms": p.generator_linger_ms,
        "batch.size": p.generator_batch_bytes,
        "batch.num.messages": 100_000,
        "queue.buffering.max.messages": p.generator_queue_messages,
        "queue.buffering.max.kbytes": 1_048_576,
        "delivery.report.only.error": True,
    }
