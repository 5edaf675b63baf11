"""Aggregation sink in-process: duplicates dropped by document_id, bad records dead-lettered."""

from __future__ import annotations

import pytest

from ocrstream.clickhouse import connect
from ocrstream.kafka import make_producer
from ocrstream.topics import OCR_RESULTS, ensure_topics
from streams.serde import FastEncoder
from streams.sink import AggregationSink, DedupeIndex
from streams.verify import compare
from tests.streams_helpers import make_events, stream_settings

pytestmark = pytest.mark.integration


def test_dedupe_index_rule():
    idx = DedupeIndex(horizon_ms=60_000, max_ids=10)
    assert not idx.seen_before(0, "a", 5)
    assert not idx.seen_before(0, "a", 5)  # replay of the same offset is not a duplicate
    assert idx.seen_before(0, "a", 9)  # a later copy is
    assert not idx.seen_before(1, "a", 9)  # other partition: not comparable
    idx.reset(2, {"b": 3})
    assert not idx.seen_before(2, "b", 3) and idx.seen_before(2, "b", 4)


def test_duplicates_and_bad_records(settings):
    s = stream_settings(settings, **{"stream.known_businesses": ["biz-000", "biz-001", "biz-002"]})
    ensure_topics(s)
    events = list(make_events(2_000, businesses=3, seed=5))
    enc = FastEncoder("OcrResult")
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
