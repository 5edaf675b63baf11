"""50,000 synthetic OcrResults through the aggregation sink into ClickHouse.

Every minute and hour window in ``windows`` must equal a direct SQL aggregation
over the raw ``documents`` table; late events are all accounted for (in the
documents table, in ``late_events`` of their windows, and on the late topic).
"""

from __future__ import annotations

import time

import pytest

from ocrstream.clickhouse import connect
from ocrstream.topics import LATE_EVENTS, ensure_topics
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
    # a second run of the same group resumes from the checkpoint: nothing is re-counted
    again = AggregationSink(s, client=client).run(idle_exit_s=1.0, max_runtime_s=60)
    assert again.records == 0
    assert_equal_report(compare(client), N)
