"""50,000 synthetic OcrResults through the aggregation sink into ClickHouse.

Every minute and hour window in ``windows`` must equal a direct SQL aggregation
over the raw ``documents`` table; late events are all accounted for (in the
documents table, in ``late_events`` of their windows, and on the late topic).
"""

from __future__ import annotations

import time

import pytest

from ocrstream.clickhouse import connect
from ocrstream.topics import LATE_EVENTS, WINDOWS, ensure_topics
from streams.commit import VERSION_HEADER
from streams.sink import AggregationSink
from streams.verify import compare
from tests.support.streams import assert_equal_report, publish, read_topic, stream_settings

pytestmark = pytest.mark.integration

N = 50_000


def test_windows_equal_sql_aggregation(settings):
    s = stream_settings(settings)
    ensure_topics(s)
    delivered, truth = publish(s, N)
    assert delivered == N
    assert len(truth) >= 5
    client = connect(s)
    sink = AggregationSink(s, client=client)
    t0 = time.monotonic()
    stats = sink.run(idle_exit_s=2.0, max_runtime_s=120)
    elapsed = time.monotonic() - t0
    assert stats.records == N, stats.as_dict()
    report = compare(client)
    print(f"sink: {stats.as_dict()} in {elapsed:.1f}s; report: { {k: v for k, v in report.items() if k != 'mismatches'} }")
    assert_equal_report(report, N)
    # hours x businesses: the event time span is covered
    hours = client.query("SELECT uniqExact(window_start) FROM windows FINAL WHERE granularity = 'hour'").result_rows[0][0]
    assert hours >= 6
    # the late topic holds every late document (at-least-once: compare distinct ids)
    from ocrstream.codec import make_serde

    serde = make_serde("OcrResult")
    late_ids = {serde.decode(m.value())["document_id"] for m in read_topic(s, LATE_EVENTS.short_name)}
    db_late = {r[0] for r in client.query("SELECT document_id FROM documents FINAL WHERE is_late").result_rows}
    assert late_ids == db_late
    # the windows topic: per key, the record of the highest version equals the table's FINAL row
    windows_serde = make_serde("WindowAggregate")
    newest: dict[bytes, tuple[int, dict]] = {}
    for m in read_topic(s, WINDOWS.short_name):
        version = int(dict(m.headers())[VERSION_HEADER])
        if m.key() not in newest or version > newest[m.key()][0]:
            newest[m.key()] = (version, windows_serde.decode(m.value()))
    cols = ("document_count", "total_amount", "late_events", "too_late_events", "status")
    table = {f"{r[0]}|{r[1]}|{r[2]}".encode(): dict(zip(cols, r[3:])) for r in client.query(
        f"SELECT business_id, granularity, toUnixTimestamp64Milli(window_start), {', '.join(cols)} "
        "FROM windows FINAL").result_rows}
    assert set(newest) == set(table)
    for key, (_, rec) in newest.items():
        assert {c: rec[c] for c in cols} == {**table[key], "total_amount": pytest.approx(table[key]["total_amount"])}
    # a second run of the same group resumes from the checkpoint: nothing is re-counted
    again = AggregationSink(s, client=client).run(idle_exit_s=1.0, max_runtime_s=60)
    assert again.records == 0
    assert_equal_report(compare(client), N)
