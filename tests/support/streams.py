"""Helpers shared by the streams tests: settings, event generation, sink runs."""

from __future__ import annotations

import random
import uuid
from typing import Any

from ocrstream.settings import Settings

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOURS = 6


def stream_settings(settings: Settings, **extra: Any) -> Settings:
    """Test settings: own ClickHouse database, fast idle/emit, small batches."""
    values: dict[str, Any] = {
        "clickhouse.database": f"t_{uuid.uuid4().hex[:10]}",
        "windows.idle_timeout_ms": 1_000,
        "windows.emit_interval_ms": 300,
        "sink.flush_interval_ms": 300,
        "sink.batch_rows": 5_000,
        "sink.group": f"sink-{uuid.uuid4().hex[:6]}",
        "retry.backoff_ms": 50,
        "retry.max_backoff_ms": 500,
    }
    values.update(extra)
    return settings.with_overrides(**values)


def make_events(n: int = 50_000, businesses: int = 5, seed: int = 11, late: float = 0.01,
                out_of_order: float = 0.05):
    """``n`` OcrResult events over HOURS of event time, some out of order, some late."""
    from synth.events import generate_events

    duration_s = HOURS * 3600
    return generate_events(businesses, rate=n / duration_s, duration_s=duration_s, start_ms=START_MS, seed=seed,
                           out_of_order=out_of_order, max_disorder_ms=4_000, late=late,
                           late_delay_ms=(120_000, 1_800_000))


def publish(settings: Settings, n: int = 50_000, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """Publish the events; returns (delivered, truth per business)."""
    from producers.events import publish_events

    events = make_events(n, **kwargs)
    stats = publish_events(settings, events)
    assert stats.failed == 0, stats.errors
    return stats.delivered, events.truth


def publish_with_backfill(settings: Settings, n: int = 50_000, backfill: int = 3_000,
                          too_late: int = 300) -> tuple[int, int]:
    """``n`` live events (as :func:`publish`) with, interleaved at random positions, a backfill
    of the same businesses from the 6 days before (late updates) and events 8-9 days old
    (too late). Returns (delivered, too-late count)."""
    from producers.events import publish_events
    from synth.events import generate_events

    live = list(make_events(n))
    old = list(generate_events(5, rate=backfill / (6 * 86_400), duration_s=6 * 86_400, start_ms=START_MS - 6 * 86_400_000,
                               seed=21))
    ancient = list(generate_events(5, rate=too_late / 86_400, duration_s=86_400, start_ms=START_MS - 9 * 86_400_000,
                                   seed=22))
    rnd = random.Random(23)
    slots = sorted(rnd.sample(range(n // 10, n), len(old) + len(ancient)))  # after the clocks are past them
    extra = old + ancient
    rnd.shuffle(extra)
    merged: list[dict[str, Any]] = []
    it = iter(zip(slots, extra))
    nxt = next(it, None)
    for i, r in enumerate(live):
        while nxt is not None and nxt[0] == i:
            merged.append(nxt[1])
            nxt = next(it, None)
        merged.append(r)
    stats = publish_events(settings, merged)
    assert stats.failed == 0, stats.errors
    return stats.delivered, len(ancient)


def assert_equal_report(report: dict[str, Any], n: int, *, too_late: bool = False) -> None:
    """The windows == SQL aggregation check plus the accounting of late documents: every
    late update is counted in its windows and in their late_events, every too-late one
    in too_late_events of its minute and hour windows and nowhere else."""
    assert report["mismatches"] == [], report["mismatches"]
    assert report["missing"] == 0
    assert report["documents"] == n, report
    assert report["distinct_documents"] == n, report
    assert report["late_update_documents"] > 0, report
    assert (report["too_late_documents"] > 0) == too_late, report
    counted = n - report["too_late_documents"]
    assert report["counted_in_minute_windows"] == counted == report["counted_in_hour_windows"], report
    assert report["late_in_minute_windows"] == report["late_update_documents"], report
    assert report["too_late_in_minute_windows"] == report["too_late_documents"], report
    assert report["too_late_in_hour_windows"] == report["too_late_documents"], report


def read_topic(settings: Settings, short_name: str, expected: int | None = None, idle_s: float = 2.0) -> list[Any]:
    """Every message of the topic ``short_name`` (all partitions assigned from the start, no
    group join to wait for); stops at ``expected`` messages or after ``idle_s`` without one."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    from ocrstream.kafka import make_consumer, read_all

    topic = settings.topic(short_name)
    consumer = make_consumer(settings, f"read-{uuid.uuid4().hex[:6]}")
    try:
        meta = consumer.list_topics(topic, timeout=10)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.topics[topic].partitions])
        return read_all(consumer, expected=expected, idle_timeout_s=idle_s)
    finally:
        consumer.close()
