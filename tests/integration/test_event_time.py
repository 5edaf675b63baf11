"""Event time as businesses send documents, against the real stack.

A pipeline already holds live data of three businesses (their windows are final).
Then documents arrive with event times from minutes to 6 days in the past — for
those businesses and for a new one, in random order —, 8-9 days in the past
(beyond the 7 days of allowed lateness), and duplicates re-sent after the
in-memory dedupe horizon (a restarted sink with 1 minute of event time in memory
must find them in ClickHouse). Afterwards the minute and hour windows equal one
SQL aggregation over the raw documents AND an independent ground truth computed
here from what was published: count and sum for every business and window; the
too-late documents are too-late counts in their windows, on the late topic with
a reason, and in the API.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from typing import Any

import pytest

from ocrstream.clickhouse import connect
from ocrstream.codec import make_serde
from ocrstream.tables import STATUS_LATE_UPDATE
from ocrstream.topics import LATE_EVENTS, ensure_topics
from producers.events import publish_events
from streams.sink import REASON_HEADER, AggregationSink
from streams.verify import compare
from synth.events import generate_events
from tests.support.streams import read_topic, stream_settings

pytestmark = pytest.mark.integration

DAY = 86_400_000
HOUR = 3_600_000
LIVE = ("live-a", "live-b", "live-c")


def run_sink(s: Any, client: Any) -> Any:
    return AggregationSink(s, client=client, copy_dead_letters=False).run(idle_exit_s=2.0, max_runtime_s=120)


def truth(records: list[dict[str, Any]], too_late_ids: set[str]) -> dict[tuple[str, str, int], list[float]]:
    """(business, granularity, window_start) -> [counted, sum of totals (cents), too late]."""
    out: dict[tuple[str, str, int], list[float]] = defaultdict(lambda: [0, 0, 0])
    for r in records:
        for g, size in (("minute", 60_000), ("hour", HOUR)):
            cell = out[(r["business_id"], g, r["event_time"] // size * size)]
            if r["document_id"] in too_late_ids:
                cell[2] += 1
            else:
                cell[0] += 1
                cell[1] += round((r["fields"]["total"] or 0.0) * 100)
    return out


def test_late_uploads_backfills_and_old_duplicates_end_up_exact(settings):
    s = stream_settings(settings, **{"sink.dedupe_memory_ms": 60_000})
    ensure_topics(s)
    client = connect(s)
    now = int(time.time() * 1000)
    live_start = now - now % HOUR - 2 * HOUR
    live = dict(businesses=LIVE, rate=2.0, duration_s=2 * 3600, start_ms=live_start, seed=3, late=0.01,
                late_delay_ms=(120_000, 900_000))  # fmt: skip
    assert publish_events(s, generate_events(**live)).failed == 0
    first = run_sink(s, client)
    assert first.records == 14_400 and first.too_late == 0 and first.late > 0, first.as_dict()

    # -- what arrives after go-live -------------------------------------------------------
    rnd = random.Random(7)
    backfill = list(generate_events(("live-a", "live-b", "new-d"), rate=3_000 / (6 * 86_400), duration_s=6 * 86_400 - 600,
                                    start_ms=now - 6 * DAY, seed=4))  # minutes .. 6 days ago
    rnd.shuffle(backfill)
    too_late = list(generate_events(("live-a", "new-d"), rate=150 / 86_400, duration_s=86_400,
                                    start_ms=now - 9 * DAY, seed=5))  # 8-9 days ago
    live_again = list(generate_events(**live))  # the same documents, byte for byte
    duplicates = rnd.sample(live_again, 200) + rnd.sample(backfill, 100)
    arrivals = backfill + too_late + duplicates
    assert publish_events(s, arrivals).failed == 0
    second = run_sink(s, client)  # a new sink: only ClickHouse knows the live ids
    assert second.records == len(backfill) + len(too_late), second.as_dict()
    assert second.duplicates == len(duplicates) and second.too_late == len(too_late), second.as_dict()
    assert second.dedupe_lookups >= len(duplicates) and second.late_update_rows > 0, second.as_dict()

    # -- windows == one SQL aggregation over the raw documents ---------------------------
    report = compare(client)
    assert report["mismatches"] == [] and report["missing"] == 0, report["mismatches"]
    n = 14_400 + len(backfill) + len(too_late)
    assert report["documents"] == report["distinct_documents"] == n, report
    assert report["too_late_documents"] == len(too_late), report
    assert report["too_late_in_minute_windows"] == report["too_late_in_hour_windows"] == len(too_late), report
    assert report["counted_in_hour_windows"] == n - len(too_late), report

    # -- ... and == the ground truth of what was published, for every business and window ---
    live_records = list(generate_events(**live))
    want = truth(live_records + backfill + too_late, {r["document_id"] for r in too_late})
    rows = client.query(
        "SELECT business_id, granularity, toUnixTimestamp64Milli(window_start), document_count, "
        "round(total_amount * 100), too_late_events, status FROM windows FINAL").result_rows
    got = {(b, g, int(ws)): [int(c), int(t), int(tl)] for b, g, ws, c, t, tl, _ in rows}
    assert got == {k: [int(v) for v in cell] for k, cell in want.items()}
    assert {b for b, *_ in rows} == {*LIVE, "new-d"}
    late_rows = [(b, g) for b, g, _ws, _c, _t, tl, st in rows if st == STATUS_LATE_UPDATE]
    assert {b for b, _ in late_rows} >= {"live-a", "live-b", "new-d"}  # re-emitted as late updates

    # -- too-late documents: late topic with the reason, is_late in documents ------------
    serde = make_serde("OcrResult")
    late_msgs = read_topic(s, LATE_EVENTS.short_name)
    assert {serde.decode(m.value())["document_id"] for m in late_msgs} == {r["document_id"] for r in too_late}
    reasons = [dict(m.headers() or [])[REASON_HEADER].decode() for m in late_msgs]
    assert all(r.startswith("too late: event_time ") and "allowed lateness 168 h" in r for r in reasons), reasons[:3]
    flagged = {r[0] for r in client.query("SELECT document_id FROM documents FINAL WHERE is_late").result_rows}
    assert flagged == {r["document_id"] for r in too_late}


def test_too_late_counts_and_row_status_are_served_by_the_api(settings):
    from fastapi.testclient import TestClient

    from serving import create_app

    s = stream_settings(settings, **{"windows.allowed_lateness_ms": HOUR})
    ensure_topics(s)
    client = connect(s)
    now = int(time.time() * 1000)
    start = now - now % HOUR - 5 * HOUR
    on_time = list(generate_events(("api-biz",), rate=0.05, duration_s=4 * 3600, start_ms=start, seed=8))
    old = list(generate_events(("api-biz",), rate=0.01, duration_s=1800, start_ms=start, seed=9))  # 4 h late
    assert publish_events(s, on_time + old).failed == 0
    stats = run_sink(s, client)
    assert stats.too_late == len(old) > 0, stats.as_dict()
    app_settings = s.with_overrides(**{"api.tokens": {}, "api.cache_ttl_s": 0.0})
    with TestClient(create_app(app_settings, client)) as api:
        r = api.get("/api/aggregates", params={"business_id": "api-biz", "start": start - HOUR, "end": now + HOUR,
                                               "granularity": "hour"})
        assert r.status_code == 200, r.text
        (series,) = r.json()["series"]
    assert sum(series["too_late_events"]) == len(old)
    assert sum(series["document_count"]) == len(on_time)
    first_hour = series["window_start"].index(start)
    assert series["status"][first_hour] == STATUS_LATE_UPDATE and series["is_final"][first_hour] == 1
    assert set(series["status"]) <= {"final", "late_update", "current"}
