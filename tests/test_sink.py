"""Aggregation sink in-process: duplicates dropped by document_id, bad records dead-lettered."""

from __future__ import annotations

import pytest

from ocrstream.clickhouse import connect
from ocrstream.codec import make_serde
from ocrstream.kafka import make_producer
from ocrstream.topics import OCR_RESULTS, ensure_topics
from streams.sink import AggregationSink
from streams.verify import compare
from tests.streams_helpers import make_events, stream_settings

pytestmark = pytest.mark.integration


def test_duplicates_and_bad_records(settings):
    s = stream_settings(settings, **{"stream.known_businesses": ["biz-000", "biz-001", "biz-002"]})
    ensure_topics(s)
    events = list(make_events(2_000, businesses=3, seed=5))
    enc = make_serde("OcrResult")
    producer = make_producer(s)
    topic = s.topic(OCR_RESULTS.short_name)
    for e in events:
        producer.produce(topic, value=enc.encode(e), key=e["business_id"].encode())
    for e in events[:50]:  # an OCR worker re-publishing after a crash
        producer.produce(topic, value=enc.encode(e), key=e["business_id"].encode())
    producer.produce(topic, value=b"\xc3\x01garbage", key=b"biz-000")
    stranger = dict(events[0], document_id="x-1", business_id="biz-999")
    producer.produce(topic, value=enc.encode(stranger), key=b"biz-000")
    assert producer.flush(30) == 0
    client = connect(s)
    stats = AggregationSink(s, client=client).run(idle_exit_s=2.0, max_runtime_s=60)
    assert stats.records == 2_000 and stats.duplicates == 50 and stats.dead_letters == 2, stats.as_dict()
    report = compare(client)
    assert report["mismatches"] == [] and report["documents"] == 2_000, report
    rows = client.query("SELECT stage, error_class FROM dead_letters FINAL WHERE source_topic = {t:String}",
                        parameters={"t": topic}).result_rows
    assert sorted(rows) == [("aggregate", "CodecError"), ("aggregate", "UnknownBusiness")]


def test_sink_updates_metrics(settings):
    from ocrstream import metrics

    s = stream_settings(settings)
    ensure_topics(s)
    topic = s.topic(OCR_RESULTS.short_name)
    enc = make_serde("OcrResult")
    producer = make_producer(s)
    events = list(make_events(2_000, businesses=3, seed=7, late=0.05))
    for e in events:
        producer.produce(topic, value=enc.encode(e), key=e["business_id"].encode())
    producer.produce(topic, value=b"\xc3\x01garbage", key=b"biz-000")
    assert producer.flush(30) == 0
    windowed, sunk = metrics.EVENTS.value(stage="windowed"), metrics.EVENTS.value(stage="sunk")
    late = metrics.LATE_EVENTS.value()
    dead = metrics.DEAD_LETTERS.value(stage="aggregate", error_class="CodecError")
    closes = metrics.WINDOW_CLOSE_DELAY.count(granularity="minute")
    sink = AggregationSink(s, client=connect(s))
    seen: dict = {}
    close = sink.close

    def close_after_snapshot() -> None:  # closing revokes the partitions, which drops their lag gauges
        seen.update((k, (v, metrics.CONSUMER_LAG.value(group=k[0], topic=k[1], partition=k[2])))
                    for k, v in metrics.CONSUMER_HIGH_WATERMARK.items() if k[:2] == (sink.group, topic))
        close()

    sink.close = close_after_snapshot  # type: ignore[method-assign]
    stats = sink.run(idle_exit_s=2.0, max_runtime_s=60)
    assert stats.records == 2_000 and stats.late > 0, stats.as_dict()
    assert metrics.EVENTS.value(stage="windowed") - windowed == 2_000
    assert metrics.EVENTS.value(stage="sunk") - sunk == 2_000
    assert metrics.LATE_EVENTS.value() - late == stats.late
    assert metrics.DEAD_LETTERS.value(stage="aggregate", error_class="CodecError") - dead == 1
    assert metrics.WINDOW_CLOSE_DELAY.count(granularity="minute") - closes > 0
    assert seen and sum(high for high, _ in seen.values()) == 2_001, seen  # every record (+ garbage) fetched
    assert all(lag == 0 for _, lag in seen.values()), seen
    assert not [k for k, _ in metrics.CONSUMER_LAG.items() if k[:2] == (sink.group, topic)]  # revoked: dropped
    assert 'ocrstream_events_total{stage="windowed"}' in metrics.REGISTRY.render()
