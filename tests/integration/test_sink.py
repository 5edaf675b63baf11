"""Aggregation sink in-process: duplicates dropped by document_id, bad records dead-lettered."""

from __future__ import annotations

import pytest

from ocrstream.clickhouse import connect
from ocrstream.codec import make_serde
from ocrstream.kafka import make_producer
from ocrstream.topics import OCR_RESULTS, ensure_topics
from streams.sink import AggregationSink
from streams.verify import compare
from tests.support.streams import make_events, stream_settings

pytestmark = pytest.mark.integration


def test_duplicates_and_bad_records(settings):
    s = stream_settings(settings, **{"worker.known_businesses": ["biz-000", "biz-001", "biz-002"]})
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


FULL = {
    "document_id": "full-1", "business_id": "biz-000", "event_time": 1_767_225_601_234, "doc_type": "receipt",
    "score": 0.5, "ocr_score": 0.25, "timings": {"ocr_s": 0.5, "fetch_s": 0.125, "classify_s": 0.0625, "extract_s": 0.001},
    "fields": {"total": 12.5, "subtotal": 10.0, "tax": None, "vendor": "Shop", "date": "2026-01-02", "currency": "EUR",
               "confidences": {"total": 0.75, "vendor": 0.5}},
    "pages": 2, "type_confidence": 0.75, "processed_at": 1_767_225_602_000, "uri": "file:///x.png", "source": "upload",
    "engine": "onnx", "text": "Shop\nTOTAL 12.50",
    "lines": [{"text": "TOTAL 12.50", "confidence": 0.5, "box": [1.0, 2.0, 3.0, 4.0], "page": 1}],
    "line_items": [{"description": "tea", "quantity": 1.0, "unit_price": 12.5, "amount": 12.5, "confidence": 0.5,
                    "raw_text": "tea 12.50", "page": 0, "box": [5.0, 6.0, 7.0, 8.0]}],
    "field_evidence": {"total": {"value": 12.5, "confidence": 0.75, "raw_text": "TOTAL 12.50", "page": 1,
                                 "box": [1.0, 2.0, 3.0, 4.0]},
                       "vendor": {"value": "Shop", "confidence": 0.5, "raw_text": "Shop", "page": 0, "box": []}},
    "page_sizes": [{"width": 800, "height": 1200}, {"width": 600, "height": 900}],
}  # fmt: skip


def test_every_documents_column_of_a_full_record_and_of_an_old_writer(settings):
    """The Avro path (ClickHouse parses the body) fills every documents column; a record of an
    older writer schema (schemas/history) is re-encoded and lands the same way."""
    import io
    import json

    import fastavro

    from ocrstream.codec import MAGIC, Schema
    from ocrstream.paths import schemas_dir

    s = stream_settings(settings)
    ensure_topics(s)
    producer = make_producer(s)
    topic = s.topic(OCR_RESULTS.short_name)
    producer.produce(topic, value=make_serde("OcrResult").encode(FULL), key=b"biz-000")
    v1 = Schema.from_file(schemas_dir() / "history" / "OcrResult.v1.avsc")
    old = {k: v for k, v in FULL.items() if k not in ("field_evidence", "page_sizes")}
    old = {**old, "document_id": "old-1", "line_items": [
        {k: v for k, v in item.items() if k not in ("raw_text", "page", "box")} for item in FULL["line_items"]]}
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, v1.parsed, old)
    producer.produce(topic, value=MAGIC + v1.fingerprint + buf.getvalue(), key=b"biz-000")
    assert producer.flush(30) == 0
    client = connect(s)
    sink = AggregationSink(s, client=client, copy_dead_letters=False)
    stats = sink.run(idle_exit_s=2.0, max_runtime_s=60)
    assert stats.records == 2 and stats.dead_letters == 0 and sink.decoder.reencoded == 1, stats.as_dict()
    rows = {r["document_id"]: r for r in client.query("SELECT * FROM documents FINAL").named_results()}
    new = rows["full-1"]
    expected = {
        "business_id": "biz-000", "doc_type": "receipt", "score": 0.5, "ocr_score": 0.25, "ocr_s": 0.5,
        "fetch_s": 0.125, "classify_s": 0.0625, "extract_s": 0.001, "total": 12.5, "subtotal": 10.0, "tax": None,
        "vendor": "Shop", "date": "2026-01-02", "currency": "EUR", "field_confidences": {"total": 0.75, "vendor": 0.5},
        "pages": 2, "type_confidence": 0.75, "uri": "file:///x.png", "source": "upload", "engine": "onnx",
        "text": "Shop\nTOTAL 12.50", "is_late": 0, "late_update": 0, "source_partition": new["source_partition"],
    }  # fmt: skip
    assert {k: new[k] for k in expected} == expected
    assert int(new["event_time"].timestamp() * 1000) == FULL["event_time"]
    assert int(new["processed_at"].timestamp() * 1000) == FULL["processed_at"]
    assert json.loads(new["lines"]) == FULL["lines"]
    assert json.loads(new["line_items"]) == FULL["line_items"]
    assert json.loads(new["field_evidence"]) == FULL["field_evidence"]
    assert json.loads(new["page_sizes"]) == FULL["page_sizes"]
    was = rows["old-1"]
    assert {k: was[k] for k in expected if k != "source_partition"} == {
        k: v for k, v in expected.items() if k != "source_partition"}
    assert json.loads(was["field_evidence"]) == {} and json.loads(was["page_sizes"]) == []
    assert json.loads(was["line_items"]) == [{**FULL["line_items"][0], "raw_text": "", "page": 0, "box": []}]
    assert new["source_offset"] + 1 == was["source_offset"]


def test_bad_records_are_dead_lettered_with_the_reason_and_never_counted(settings):
    """Every bad input of the sink: dead-lettered with its class and reason, good
    records keep flowing, nothing bad moves a watermark, enters a checkpoint or a table —
    window fields checked before the operator, the others by ClickHouse's constraints
    (the sink then resumes from its checkpoint without them), a body whose window prefix
    is fine but whose tail is cut included."""
    import json
    import time

    from streams.checkpoint import CheckpointStore

    s = stream_settings(settings, **{"sink.max_result_bytes": 1_000_000, "kafka.message_max_bytes": 4_000_000})
    ensure_topics(s)
    enc = make_serde("OcrResult")
    good = list(make_events(600, businesses=2, seed=9))
    base = dict(good[0])
    now = int(time.time() * 1000)
    bad: list[tuple[str, bytes, str]] = []  # (case, value, error class)

    def case(name: str, error_class: str, **changes: object) -> None:
        rec = json.loads(json.dumps(base))
        for path, value in changes.items():
            node = rec
            *parents, leaf = path.split("__")
            for part in parents:
                node = node[part]
            node[leaf] = value
        rec["document_id"] = f"bad-{name}"
        bad.append((name, enc.encode(rec), error_class))

    case("pages", "RefusedByClickHouse", pages=-1)
    case("score_nan", "InvalidRecord", score=float("nan"))
    case("ocr_score", "InvalidRecord", ocr_score=1.5)
    case("total_inf", "InvalidRecord", fields__total=float("inf"))
    case("timing", "InvalidRecord", timings__ocr_s=-1.0)
    case("confidence", "RefusedByClickHouse", fields__confidences={"total": 7.0})
    case("future", "FutureEventTime", event_time=now + 3 * 86_400_000)  # three days ahead
    case("year_2036", "FutureEventTime", event_time=2_082_758_400_000)
    case("year_1800", "InvalidRecord", event_time=-5_364_662_400_000)
    case("empty_business", "InvalidRecord", business_id="")
    case("processed", "RefusedByClickHouse", processed_at=-5)
    case("subtotal_nan", "RefusedByClickHouse", fields__subtotal=float("nan"))
    case("type_confidence", "RefusedByClickHouse", type_confidence=-0.5)
    case("huge", "RecordTooLarge", text="x" * 2_000_000)
    bad.append(("garbage", b"\xc3\x01garbage", "CodecError"))
    bad.append(("not_avro", b"{\"json\": true}", "CodecError"))
    tail_cut = enc.encode({**base, "document_id": "bad-tail"})[:-3]  # the prefix parses, the tail is cut
    bad.append(("tail", tail_cut, "RefusedByClickHouse"))
    producer = make_producer(s)
    topic = s.topic(OCR_RESULTS.short_name)
    queue = list(bad)
    for i, e in enumerate(good):
        producer.produce(topic, value=enc.encode(e), key=b"k")  # one partition: bad ones in between
        if i % 30 == 20 and queue:
            producer.produce(topic, value=queue.pop()[1], key=b"k")
    assert not queue
    assert producer.flush(30) == 0
    client = connect(s)
    sink = AggregationSink(s, client=client)
    stats = sink.run(idle_exit_s=3.0, max_runtime_s=90)
    assert stats.records >= 600 and stats.dead_letters >= len(bad), stats.as_dict()
    report = compare(client)
    assert report["mismatches"] == [] and report["documents"] == report["distinct_documents"] == 600, report
    rows = client.query("SELECT document_id, error_class, error_message FROM dead_letters FINAL "
                        "WHERE source_topic = {t:String}", parameters={"t": topic}).result_rows
    classes = sorted(r[1] for r in rows)
    assert classes == sorted(c for _, _, c in bad), rows
    assert all(r[2] for r in rows)  # every one says why
    why = {r[0]: r[2] for r in rows if r[0]}
    assert "constraint pages_range violated: pages = -1" in why["bad-pages"], why
    assert "ahead of the wall clock" in why["bad-year_2036"] and "score = nan" in why["bad-score_nan"]
    assert "Codec" in why["bad-tail"] or "truncated" in why["bad-tail"], why["bad-tail"]
    assert "max_result_bytes" in next(r[2] for r in rows if r[1] == "RecordTooLarge")
    stored = {r[0] for r in client.query("SELECT document_id FROM documents FINAL").result_rows}
    assert not {d for d in stored if d.startswith("bad-")}
    # the future event times moved no watermark and are in no checkpoint
    (cp,) = [c for c in CheckpointStore(client, sink.group, topic).load([0, 1, 2, 3]).values() if c.offset >= 0]
    clocks = cp.state["partitions"][str(cp.partition)]["clocks"]
    assert clocks and max(c[1] for c in clocks) < now, clocks
