"""Unit tests of the event-time window operator (streams/windows.py); pure Python, seconds."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

import pytest

from ocrstream.settings import WindowSettings
from ocrstream.tables import STATUS_CURRENT, STATUS_FINAL, STATUS_LATE_UPDATE, WINDOW_FIELDS
from streams.aggregates import brute_force_row
from streams.windows import LateEvent, Rejected, WindowOperator, WindowResult

MIN = 60_000
HOUR = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, hour aligned
OOO, GRACE, IDLE, EMIT = 5_000, 10_000, 15_000, 1_000
LATENESS = 2 * HOUR  # allowed lateness in these tests (the default is 7 days)
SETTINGS = WindowSettings(out_of_orderness_ms=OOO, grace_ms=GRACE, idle_timeout_ms=IDLE, emit_interval_ms=EMIT,
                          allowed_lateness_ms=LATENESS)


class Clock:
    """Processing time under test control (also used as the wall clock)."""

    def __init__(self, now: int = 0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def make_op(clock: Clock | None = None, **kw: Any) -> WindowOperator:
    clock = clock or Clock()
    return WindowOperator(SETTINGS, clock=clock, wall_clock=lambda: 1_000_000 + clock.now, **kw)


_DOC = [0]


def rec(et: int, business: str = "b1", score: float = 0.5, total: float | None = 1.0, doc_type: str = "receipt",
        ocr_s: float = 0.2, ocr_score: float = 0.9) -> dict[str, Any]:  # fmt: skip
    _DOC[0] += 1
    return {
        "document_id": f"doc-{_DOC[0]}",
        "business_id": business,
        "event_time": et,
        "doc_type": doc_type,
        "engine": "onnx",
        "text": "",
        "fields": {"total": total},
        "score": score,
        "ocr_score": ocr_score,
        "timings": {"ocr_s": ocr_s},
    }


class Feeder:
    """Feeds one operator with per-partition offsets, collecting emissions."""

    def __init__(self, op: WindowOperator, clock: Clock) -> None:
        self.op, self.clock = op, clock
        self.offsets: dict[int, int] = defaultdict(int)
        self.out: list[Any] = []

    def send(self, record: dict[str, Any], partition: int = 0, advance_ms: int = 1) -> list[Any]:
        self.clock.now += advance_ms
        off = self.offsets[partition]
        self.offsets[partition] += 1
        got = self.op.process(partition, off, record)
        self.out += got
        return got

    def tick(self, advance_ms: int) -> list[Any]:
        self.clock.now += advance_ms
        got = self.op.tick()
        self.out += got
        return got

    def flush(self) -> list[Any]:
        got = self.op.flush()
        self.out += got
        return got


class Table:
    """What the sink makes of the emissions: ``documents`` rows with their flags and the
    newest ``windows`` row per window, late updates recomputed from the stored documents
    (a Python model of :mod:`streams.recompute`'s SQL)."""

    def __init__(self) -> None:
        self.docs: dict[str, tuple[dict[str, Any], bool, bool]] = {}  # id -> (record, too late, late update)
        self.rows: dict[tuple[str, str, int], dict[str, Any]] = {}

    def apply(self, op: WindowOperator, emissions: list[Any], records: list[dict[str, Any]]) -> None:
        flags = {e.record["document_id"]: e for e in emissions if isinstance(e, LateEvent)}
        for r in records:
            e = flags.get(r["document_id"])
            self.docs[r["document_id"]] = (r, bool(e and e.too_late), bool(e and not e.too_late))
        for e in emissions:
            if isinstance(e, WindowResult):
                self.rows[(e.row["business_id"], e.row["granularity"], e.row["window_start"])] = e.row
        for business, g, start, end in op.drain_recompute():
            self.rows[(business, g, start)] = {**self.aggregate(business, g, start, end), "status": STATUS_LATE_UPDATE}

    def aggregate(self, business: str, g: str, start: int, end: int) -> dict[str, Any]:
        inside = [d for d in self.docs.values()
                  if d[0]["business_id"] == business and start <= d[0]["event_time"] < end]  # fmt: skip
        counted = [r for r, too_late, _ in inside if not too_late]
        return brute_force_row(counted, sum(1 for _, t, lu in inside if lu and not t), business, g, start, end,
                               sum(1 for _, t, _ in inside if t))


def finals(emissions: list[Any], granularity: str | None = None) -> list[dict[str, Any]]:
    return [
        e.row
        for e in emissions
        if isinstance(e, WindowResult) and e.row["is_final"] and granularity in (None, e.row["granularity"])
    ]


def currents(emissions: list[Any]) -> list[dict[str, Any]]:
    return [e.row for e in emissions if isinstance(e, WindowResult) and not e.row["is_final"]]


def lates(emissions: list[Any]) -> list[LateEvent]:
    return [e for e in emissions if isinstance(e, LateEvent)]


def last_rows(emissions: list[Any]) -> dict[tuple[str, str, int], dict[str, Any]]:
    rows: dict[tuple[str, str, int], dict[str, Any]] = {}
    for e in emissions:
        if isinstance(e, WindowResult):
            rows[(e.row["business_id"], e.row["granularity"], e.row["window_start"])] = e.row
    return rows


# --- basics --------------------------------------------------------------------------
def test_rows_have_exactly_the_window_aggregate_fields() -> None:
    clock = Clock()
    f = Feeder(make_op(clock), clock)
    f.send(rec(T0 + 1_000))
    f.send(rec(T0 + MIN + GRACE + OOO))  # closes minute 0
    (row,) = finals(f.out)
    assert tuple(row) == WINDOW_FIELDS
    assert row["is_final"] is True and row["emitted_at"] == 1_000_000 + clock.now
    assert row["window_start"] == T0 and row["window_end"] == T0 + MIN and row["granularity"] == "minute"


def test_window_bounds_are_start_inclusive_end_exclusive_and_close_exactly_at_end_plus_grace() -> None:
    clock = Clock()
    f = Feeder(make_op(clock), clock)
    f.send(rec(T0))  # first ms of minute 0
    f.send(rec(T0 + MIN - 1))  # last ms of minute 0
    f.send(rec(T0 + MIN))  # first ms of minute 1
    # watermark = max - OOO; minute 0 closes when watermark >= T0 + MIN + GRACE
    assert finals(f.send(rec(T0 + MIN + GRACE + OOO - 1))) == []  # watermark one ms short
    m0 = finals(f.send(rec(T0 + MIN + GRACE + OOO)))  # watermark == end + grace
    assert [(r["window_start"], r["document_count"], r["min_event_time"], r["max_event_time"]) for r in m0] == [
        (T0, 2, T0, T0 + MIN - 1)
    ]
    # an event for minute 0 is now late; the same ms one later is minute 1 and on time
    assert len(lates(f.send(rec(T0 + MIN - 1)))) == 1
    assert lates(f.send(rec(T0 + MIN))) == []
    f.send(rec(T0 + 2 * MIN + GRACE + OOO))  # closes minute 1
    m1 = [r for r in finals(f.out, "minute") if r["window_start"] == T0 + MIN]
    assert m1[0]["document_count"] == 4  # T0+MIN twice, the two closing probes


def test_out_of_order_within_bound_is_counted_in_the_right_window() -> None:
    clock = Clock()
    f = Feeder(make_op(clock), clock)
    f.send(rec(T0 + 50_000, score=0.1))
    f.send(rec(T0 + 62_000, score=0.2))  # minute 1, watermark T0+57s
    f.send(rec(T0 + 58_000, score=0.3))  # back in minute 0, 4 s behind max: on time
    f.send(rec(T0 + 64_900, score=0.4))  # watermark T0+59.9s
    f.send(rec(T0 + 59_999, score=0.5))  # still on time (minute 0 closes at wm >= T0+70s)
    assert lates(f.out) == []
    f.send(rec(T0 + 75_000))  # watermark T0+70s: minute 0 closes
    (m0,) = finals(f.out, "minute")
    assert m0["document_count"] == 3 and m0["late_events"] == 0
    assert m0["median_score"] == 0.3 and m0["avg_score"] == pytest.approx(0.3)
    assert m0["max_event_time"] == T0 + 59_999


def test_late_event_within_allowed_lateness_is_folded_into_every_aggregate() -> None:
    clock = Clock()
    f = Feeder(make_op(clock), clock)
    table = Table()
    sent = [rec(T0 + 10_000, score=0.2, total=5.0), rec(T0 + 20_000, score=0.4, total=7.0),
            rec(T0 + MIN + GRACE + OOO)]  # the last one closes minute 0
    for r in sent:
        f.send(r)
    (m0,) = finals(f.out, "minute")
    assert (m0["document_count"], m0["late_events"], m0["status"]) == (2, 0, STATUS_FINAL)
    late_rec = rec(T0 + 30_000, score=0.99, total=1000.0, doc_type="invoice")
    got = f.send(late_rec, advance_ms=1)
    (late,) = lates(got)
    assert late.record is late_rec and late.partition == 0 and late.offset == 3 and not late.too_late
    assert late.event_time == T0 + 30_000 and late.watermark == T0 + MIN + GRACE
    assert late.recomputed == (("minute", T0),)  # the hour is still open: folded in memory
    f.flush()
    table.apply(f.op, f.out, [*sent, late_rec])
    m0_now = table.rows[("b1", "minute", T0)]
    assert m0_now["status"] == STATUS_LATE_UPDATE
    assert (m0_now["document_count"], m0_now["total_amount"], m0_now["late_events"]) == (3, 1012.0, 1)
    assert m0_now["median_score"] == 0.4 and m0_now["type_counts"] == {"receipt": 2, "invoice": 1}
    hour = table.rows[("b1", "hour", T0)]
    assert hour["status"] == STATUS_CURRENT and hour["late_events"] == 1
    assert hour["document_count"] == 4 and hour["total_amount"] == 1013.0  # the late one is IN
    assert f.op.stats["late"] == 1 and f.op.stats["too_late"] == 0 and f.op.drain_recompute() == []


def test_too_late_event_is_only_counted_and_a_window_row_exists_for_it() -> None:
    clock = Clock()
    f = Feeder(make_op(clock), clock)
    table = Table()
    sent = [rec(T0 + 1_000), rec(T0 + 5 * HOUR)]  # watermark far past minute 0 + grace + 2 h lateness
    for r in sent:
        f.send(r)
    f.tick(10 * HOUR)
    too_late = rec(T0 + MIN + 5, total=99.0)  # minute 1 never had a counted event
    (late,) = lates(f.send(too_late))
    assert late.too_late and late.recomputed == (("minute", T0 + MIN), ("hour", T0))
    table.apply(f.op, f.out + f.flush(), [*sent, too_late])
    m1 = table.rows[("b1", "minute", T0 + MIN)]
    assert (m1["document_count"], m1["too_late_events"], m1["total_amount"], m1["status"]) == (
        0, 1, 0.0, STATUS_LATE_UPDATE)
    hour = table.rows[("b1", "hour", T0)]
    assert (hour["document_count"], hour["too_late_events"], hour["late_events"]) == (1, 1, 0)
    assert f.op.stats["too_late"] == 1


def test_allowed_lateness_boundary_is_watermark_at_end_plus_grace_plus_lateness() -> None:
    clock = Clock()
    op = make_op(clock)
    op.process(0, 0, rec(T0 + MIN + GRACE + LATENESS + OOO - 1))  # watermark one ms short
    (late,) = lates(op.process(0, 1, rec(T0 + 1_000)))
    assert not late.too_late
    op.process(0, 2, rec(T0 + MIN + GRACE + LATENESS + OOO))  # watermark == end + grace + lateness
    (late,) = lates(op.process(0, 3, rec(T0 + 2_000)))
    assert late.too_late


def test_too_late_for_the_minute_but_hour_still_open_counts_in_memory() -> None:
    clock = Clock()
    f = Feeder(make_op(clock, allowed_lateness_ms=0), clock)
    f.send(rec(T0 + 1_000))
    f.send(rec(T0 + 3 * MIN))  # minute 0 closed, no lateness allowed
    (late,) = lates(f.send(rec(T0 + 2_000, total=50.0)))
    assert late.too_late and late.recomputed == (("minute", T0),)
    hour = last_rows(f.flush())[("b1", "hour", T0)]
    assert (hour["document_count"], hour["too_late_events"], hour["total_amount"]) == (2, 1, 2.0)


def test_partitions_close_independently() -> None:
    clock = Clock()
    f = Feeder(make_op(clock), clock)
    f.send(rec(T0 + 1_000, business="a"), partition=0)
    f.send(rec(T0 + 2_000, business="b"), partition=1)
    f.send(rec(T0 + 2 * MIN, business="a"), partition=0)  # partition 0 passes minute 0's close
    closed = finals(f.out, "minute")
    assert [(r["business_id"], r["window_start"]) for r in closed] == [("a", T0)]
    # partition 1's watermark is still T0-3s: its business's event for minute 0 is on time
    assert lates(f.send(rec(T0 + 30_000, business="b"), partition=1)) == []
    f.send(rec(T0 + 2 * MIN, business="b"), partition=1)
    b_rows = [r for r in finals(f.out, "minute") if r["business_id"] == "b"]
    assert [(r["window_start"], r["document_count"]) for r in b_rows] == [(T0, 2)]
    assert f.op.watermark == T0 + 2 * MIN - OOO


def test_operator_scope_uses_min_over_active_partitions_like_flink() -> None:
    clock = Clock()
    f = Feeder(make_op(clock, watermark_scope="operator"), clock)
    f.op.assign([0, 1])
    f.send(rec(T0 + 1_000, business="a"), partition=0)
    f.send(rec(T0 + 2_000, business="b"), partition=1)
    f.send(rec(T0 + 2 * MIN, business="a"), partition=0)
    assert finals(f.out) == []  # partition 1 holds the watermark back
    assert f.op.watermark == T0 + 2_000 - OOO
    f.send(rec(T0 + 2 * MIN, business="b"), partition=1)
    assert sorted((r["business_id"], r["window_start"]) for r in finals(f.out, "minute")) == [("a", T0), ("b", T0)]
    # partition 1 goes quiet: after the idle timeout it no longer holds partition 0 back
    f.send(rec(T0 + 4 * MIN, business="a"), partition=0, advance_ms=IDLE - 10)
    assert [r["window_start"] for r in finals(f.out, "minute") if r["business_id"] == "a"] == [T0]
    f.send(rec(T0 + 4 * MIN + 1, business="a"), partition=0, advance_ms=10)
    a_closed = [r["window_start"] for r in finals(f.out, "minute") if r["business_id"] == "a"]
    assert a_closed == [T0, T0 + 2 * MIN]


def test_idle_partition_watermark_advances_with_processing_time() -> None:
    clock = Clock()
    f = Feeder(make_op(clock), clock)
    f.send(rec(T0 + 40_000))  # watermark T0+35s; minute 0 closes at watermark T0+70s
    assert f.op.partition_watermark(0) == T0 + 35_000
    f.tick(IDLE - 1)  # not idle yet
    assert f.op.partition_watermark(0) == T0 + 35_000 and finals(f.out) == []
    f.tick(1)  # idle: watermark = T0+35s + 15s of processing time
    assert f.op.partition_watermark(0) == T0 + 50_000 and finals(f.out) == []
    f.tick(35_000 - IDLE - 1)  # elapsed 34.999 s
    assert finals(f.out) == []
    f.tick(1)  # elapsed 35 s: watermark T0+70s = minute end + grace
    assert [r["window_start"] for r in finals(f.out, "minute")] == [T0]
    f.tick(HOUR)  # traffic stopped: the hour window closes too
    assert [r["window_start"] for r in finals(f.out, "hour")] == [T0]
    assert f.op.open_windows() == 0
    # traffic resumes: the watermark never goes back; an old event is late
    (late,) = lates(f.send(rec(T0 + 50_000)))
    assert late.watermark >= T0 + HOUR + GRACE


def test_all_partitions_idle_in_operator_scope() -> None:
    clock = Clock()
    f = Feeder(make_op(clock, watermark_scope="operator"), clock)
    f.op.assign([0, 1])  # operator scope: assign up front, or an unseen partition can't hold the min back
    f.send(rec(T0 + 40_000, business="a"), partition=0)
    assert f.op.watermark is None  # partition 1 (assigned, no data, not idle) blocks
    f.send(rec(T0 + 10_000, business="b"), partition=1)
    f.tick(IDLE)  # both idle: min of the advanced watermarks
    assert f.op.watermark == T0 + 10_000 - OOO + IDLE
    f.tick(60_000)
    assert sorted(r["business_id"] for r in finals(f.out, "minute")) == ["a", "b"]


def test_hour_and_minute_windows_from_the_same_stream() -> None:
    clock = Clock()
    f = Feeder(make_op(clock), clock)
    rnd = random.Random(3)
    events = [rec(T0 + i * 7_001, score=rnd.random()) for i in range(1100)]  # ~2.1 hours
    for e in events:
        f.send(e)
    f.tick(10 * HOUR)  # idle flush
    minutes = finals(f.out, "minute")
    hours = finals(f.out, "hour")
    assert len(minutes) == len({e["event_time"] // MIN for e in events})
    assert [h["window_start"] for h in hours] == [T0, T0 + HOUR, T0 + 2 * HOUR]
    for h in hours:
        inside = [e for e in events if h["window_start"] <= e["event_time"] < h["window_end"]]
        want = brute_force_row(inside, 0, "b1", "hour", h["window_start"], h["window_end"])
        assert {k: h[k] for k in want if not isinstance(want[k], float)} == {
            k: v for k, v in want.items() if not isinstance(v, float)
        }
        assert h["median_score"] == want["median_score"]
        assert h["document_count"] == sum(
            m["document_count"] for m in minutes if h["window_start"] <= m["window_start"] < h["window_end"]
        )


def test_current_results_are_rate_limited_and_only_for_changed_windows() -> None:
    clock = Clock()
    f = Feeder(make_op(clock), clock)
    for i in range(30):  # 30 events over 3 s of processing time, two businesses
        f.send(rec(T0 + i * 100, business="a" if i % 3 else "b"), advance_ms=100)
    cur = [e for e in f.out if isinstance(e, WindowResult) and not e.is_final]
    times = sorted({r.row["emitted_at"] for r in cur})
    assert len(times) >= 2
    assert all(b - a >= EMIT for a, b in zip(times, times[1:]))
    for t in times:  # each emission: each changed window once
        keys = [(r.row["business_id"], r.row["granularity"]) for r in cur if r.row["emitted_at"] == t]
        assert len(keys) == len(set(keys))
    n_before = len(f.out)
    f.tick(5 * EMIT)  # nothing changed since the last emission (or only once)
    f.tick(5 * EMIT)
    assert len(currents(f.out[n_before:])) <= 4
    assert currents(f.out[len(f.out) :]) == []
    f.send(rec(T0 + 5_000, business="b"), advance_ms=1)
    got = f.tick(EMIT)
    assert sorted((r["business_id"], r["granularity"]) for r in currents(got)) == [("b", "hour"), ("b", "minute")]
    # the sink versions rows in emission order; each re-emission of a window is stamped later than the one before
    stamps = [e.row["emitted_at"] for e in f.out if isinstance(e, WindowResult) and e.row["business_id"] == "b"
              and e.row["granularity"] == "minute"]  # fmt: skip
    assert len(stamps) >= 2 and stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_redelivered_offsets_are_skipped() -> None:
    clock = Clock()
    op = make_op(clock)
    op.process(0, 0, rec(T0))
    op.process(0, 1, rec(T0 + 1))
    op.process(0, 1, rec(T0 + 2))  # same offset again
    op.process(0, 0, rec(T0 + 3))
    assert op.stats["duplicates"] == 2 and op.last_offsets() == {0: 1}
    (row,) = [e.row for e in op.flush() if e.row["granularity"] == "minute"]
    assert row["document_count"] == 2


def test_datetime_event_time_and_invalid_records() -> None:
    clock = Clock()
    op = make_op(clock)
    dt = datetime.fromtimestamp((T0 + 1_234) / 1000, tz=timezone.utc)
    op.process(0, 0, {**rec(0), "event_time": dt})
    (row,) = [e.row for e in op.flush() if e.row["granularity"] == "minute"]
    assert row["min_event_time"] == T0 + 1_234
    before = json.dumps(op.snapshot(), sort_keys=True)
    bad = [{"business_id": "b"}, {**rec(T0), "event_time": "yesterday"}, {**rec(T0), "score": None},
           {**rec(T0), "business_id": 7}, {**rec(T0), "fields": {"total": "n/a"}}, None]  # fmt: skip
    out = op.process_batch(0, list(enumerate(bad, start=1)))
    assert [(type(e), e.offset) for e in out] == [(Rejected, i) for i in range(1, 7)]
    assert op.stats["rejected"] == 6 and op.last_offsets() == {0: 6}
    after = json.loads(json.dumps(op.snapshot(), sort_keys=True))
    after["partitions"]["0"]["last_offset"] = 0
    after["stats"] = json.loads(before)["stats"]
    assert json.dumps(after, sort_keys=True) == before  # nothing else changed


# --- snapshot / restore / rebalance ---------------------------------------------------
def random_stream(seed: int, n: int, partitions: int, businesses: int, late_prob: float) -> list[tuple[int, int, dict]]:
    """(advance_ms, partition, record) with bounded disorder plus some very late events."""
    rnd = random.Random(seed)
    out: list[tuple[int, int, dict]] = []
    t = T0 + rnd.randrange(HOUR)
    for _ in range(n):
        t += rnd.randrange(0, 4_000)
        b = rnd.randrange(businesses)
        et = t - rnd.randrange(0, OOO + GRACE + 5_000)  # some beyond out-of-orderness
        if rnd.random() < late_prob:
            et -= rnd.randrange(MIN, 3 * HOUR)  # very late
        r = rec(
            et,
            business=f"biz{b}",
            score=round(rnd.random(), 2),  # ties on purpose
            total=None if rnd.random() < 0.2 else rnd.uniform(0, 99),
            doc_type=rnd.choice(["receipt", "invoice", "form"]),
            ocr_s=rnd.expovariate(4.0),
            ocr_score=rnd.random(),
        )
        out.append((rnd.randrange(1, 300), b % partitions, r))
    return out


def run(op: WindowOperator, clock: Clock, stream: list[tuple[int, int, dict]], offsets: dict[int, int]) -> list[Any]:
    out: list[Any] = []
    for advance, p, r in stream:
        clock.now += advance
        out += op.process(p, offsets.setdefault(p, 0), r)
        offsets[p] += 1
        if advance > 250:
            out += op.tick()
    return out


def comparable(emissions: list[Any]) -> list[Any]:
    return [
        ("row", e.partition, json.dumps(e.row, sort_keys=True))
        if isinstance(e, WindowResult)
        else ("late", e.partition, e.offset, e.record["document_id"], e.watermark, e.too_late, e.recomputed)
        for e in emissions
    ]


@pytest.mark.parametrize("exact_limit", [8192, 20])
def test_snapshot_restore_mid_stream_gives_identical_output(exact_limit: int) -> None:
    stream = random_stream(11, 1500, partitions=3, businesses=7, late_prob=0.03)
    cut = 800
    clock_a = Clock()
    a = make_op(clock_a, exact_limit=exact_limit)
    expected = run(a, clock_a, stream, {})

    clock_b = Clock()
    b = make_op(clock_b, exact_limit=exact_limit)
    offsets: dict[int, int] = {}
    got = run(b, clock_b, stream[:cut], offsets)
    snap = json.loads(json.dumps(b.snapshot()))  # must survive JSON
    # "crash": a new operator restores; the consumer re-reads a few records after the
    # checkpoint was taken (redelivery) before new ones, and they are skipped
    clock_c = Clock(clock_b.now)
    c = make_op(clock_c, exact_limit=exact_limit)
    c.restore(snap)
    assert c.last_offsets() == {p: o - 1 for p, o in offsets.items()}
    for p, off in list(offsets.items())[:2]:
        assert c.process(p, off - 1, rec(T0)) == []
    got += run(c, clock_c, stream[cut:], offsets)
    assert comparable(got) == comparable(expected)
    assert c.snapshot(partitions=[]) is not None


def test_a_snapshot_does_not_change_when_the_operator_goes_on() -> None:
    clock = Clock()
    op = make_op(clock)
    stream = random_stream(5, 400, partitions=2, businesses=3, late_prob=0.05)
    offsets: dict[int, int] = {}
    run(op, clock, stream[:200], offsets)
    snap = op.snapshot()
    frozen = json.dumps(snap, sort_keys=True)
    run(op, clock, stream[200:], offsets)  # the committer serialises the snapshot meanwhile
    assert json.dumps(snap, sort_keys=True) == frozen


def test_revoke_and_assign_move_partitions_between_operators() -> None:
    stream = random_stream(12, 1200, partitions=2, businesses=5, late_prob=0.03)
    clock_a = Clock()
    single = make_op(clock_a)
    expected = run(single, clock_a, stream, {})

    clock = Clock()
    w1, w2 = make_op(clock), make_op(clock)
    offsets: dict[int, int] = {}
    out = run(w1, clock, stream[:600], offsets)
    parts = w1.revoke([1])
    assert w1.partitions == (0,)
    w2.assign([1], json.loads(json.dumps({str(k): v for k, v in parts.items()})))
    offsets_w1 = {0: offsets.get(0, 0)}
    offsets_w2 = {1: offsets.get(1, 0)}
    for advance, p, r in stream[600:]:
        clock.now += advance
        op, offs = (w1, offsets_w1) if p == 0 else (w2, offsets_w2)
        out += op.process(p, offs[p], r)
        offs[p] += 1
        if advance > 250:
            out += w1.tick() + w2.tick()
    # the emission schedule is per operator, so compare what lands in the table: the last
    # row of every window (minus emitted_at), and the late events
    out += w1.flush() + w2.flush()
    expected += single.flush()
    strip = lambda rows: {k: {f: v for f, v in r.items() if f != "emitted_at"} for k, r in rows.items()}  # noqa: E731
    assert strip(last_rows(out)) == strip(last_rows(expected))
    assert [x for x in comparable(out) if x[0] == "late"] == [x for x in comparable(expected) if x[0] == "late"]


# --- property test --------------------------------------------------------------------
def brute_force(stream: list[tuple[int, int, dict]], scope: str) -> tuple[dict, set[str], set[str]]:
    """Direct model: per clock (business or partition), an event is late iff max(previous
    event times) - OOO >= its minute's end + GRACE, too late iff also >= + LATENESS; windows
    aggregate every event but the too-late ones and count both kinds."""
    max_et: dict[Any, int] = {}
    counted: dict[tuple[str, str, int], list[dict]] = defaultdict(list)
    late_n: dict[tuple[str, str, int], int] = defaultdict(int)
    too_late_n: dict[tuple[str, str, int], int] = defaultdict(int)
    late_ids: set[str] = set()
    too_late_ids: set[str] = set()
    for _, p, r in stream:
        et = r["event_time"]
        ck = r["business_id"] if scope == "key" else p
        wm = max_et[ck] - OOO if ck in max_et else None
        close = (et // MIN) * MIN + MIN + GRACE
        is_late = wm is not None and wm >= close
        too_late = is_late and wm >= close + LATENESS  # type: ignore[operator]
        for g, size in (("minute", MIN), ("hour", HOUR)):
            key = (r["business_id"], g, (et // size) * size)
            if too_late:
                too_late_n[key] += 1
            else:
                counted[key].append(r)
                late_n[key] += is_late
        (too_late_ids if too_late else late_ids if is_late else set()).add(r["document_id"])
        max_et[ck] = max(max_et.get(ck, et), et)
    rows = {}
    for key in set(counted) | set(too_late_n):
        b, g, start = key
        rows[key] = brute_force_row(counted[key], late_n[key], b, g, start, start + (MIN if g == "minute" else HOUR),
                                    too_late_n[key])
    return rows, late_ids, too_late_ids


@pytest.mark.parametrize("scope", ["key", "partition"])
@pytest.mark.parametrize("seed", range(15))
def test_random_stream_rows_equal_brute_force(seed: int, scope: str) -> None:
    rnd = random.Random(seed)
    stream = random_stream(
        1000 + seed, rnd.randrange(50, 700), partitions=rnd.randrange(1, 4), businesses=rnd.randrange(1, 6),
        late_prob=rnd.choice([0.0, 0.02, 0.1]),
    )  # fmt: skip
    # processing time: small steps only (no idle), so the brute-force model needs no idleness
    stream = [(rnd.randrange(1, 200), p, r) for _, p, r in stream]
    clock = Clock()
    op = make_op(clock, watermark_scope=scope)
    table = Table()
    offsets: dict[int, int] = {}
    out: list[Any] = []
    for i in range(0, len(stream), 37):  # the sink flushes after every batch
        chunk = stream[i:i + 37]
        got = run(op, clock, chunk, offsets)
        table.apply(op, got, [r for _, _, r in chunk])
        out += got
    # end of input: let every clock go idle so every window closes
    clock.now += 10 * HOUR
    got = op.tick() + op.flush()
    table.apply(op, got, [])
    out += got
    assert op.open_windows() == 0
    want_rows, want_late, want_too_late = brute_force(stream, scope)
    assert {e.record["document_id"] for e in lates(out) if not e.too_late} == want_late
    assert {e.record["document_id"] for e in lates(out) if e.too_late} == want_too_late
    assert len(lates(out)) == len(want_late) + len(want_too_late)
    assert table.rows.keys() == want_rows.keys()
    for key, want in want_rows.items():
        row = table.rows[key]
        assert row["status"] in (STATUS_FINAL, STATUS_LATE_UPDATE), key
        for k, v in want.items():
            if isinstance(v, float):
                assert row[k] == pytest.approx(v, rel=1e-9, abs=1e-12), (key, k)
            else:
                assert row[k] == v, (key, k)
    # each window: no current row after its final; exactly one final (from memory) per window
    seen_final: dict = defaultdict(int)
    for e in out:
        if isinstance(e, WindowResult):
            k = (e.row["business_id"], e.row["granularity"], e.row["window_start"])
            if e.is_final:
                seen_final[k] += 1
            else:
                assert k not in seen_final
    assert all(n == 1 for n in seen_final.values())


def test_key_scope_one_business_never_makes_another_late() -> None:
    clock = Clock()
    f = Feeder(make_op(clock), clock)
    f.send(rec(T0 + 1_000, business="fresh"))
    f.send(rec(T0 + 30 * MIN, business="fresh"))  # fresh's clock: T0 + 30 min
    # same partition: yesterday's documents of another business open their own windows
    assert lates(f.send(rec(T0 - 86_400_000 + 5_000, business="backfill"))) == []
    assert lates(f.send(rec(T0 - 86_400_000 + 2 * MIN, business="backfill"))) == []
    assert f.op.key_watermark(0, "backfill") == T0 - 86_400_000 + 2 * MIN - OOO
    day_ago = T0 - 86_400_000
    assert [(r["business_id"], r["window_start"]) for r in finals(f.out, "minute")] == [
        ("fresh", T0), ("backfill", day_ago)]  # backfill's own clock closed its first minute
    f.tick(IDLE + 3 * MIN)  # both idle: every minute closes, each counted once
    assert [(r["business_id"], r["window_start"], r["document_count"]) for r in finals(f.out, "minute")] == [
        ("fresh", T0, 1), ("backfill", day_ago, 1), ("fresh", T0 + 30 * MIN, 1), ("backfill", day_ago + 2 * MIN, 1)]
    # the same stream with one clock per partition: the backfill is late, then too late
    clock2 = Clock()
    g = Feeder(make_op(clock2, watermark_scope="partition"), clock2)
    g.send(rec(T0 + 1_000, business="fresh"))
    g.send(rec(T0 + 30 * MIN, business="fresh"))
    (late,) = lates(g.send(rec(T0 - 86_400_000 + 5_000, business="backfill")))
    assert late.too_late


def test_key_scope_idle_advance_is_per_business() -> None:
    clock = Clock()
    f = Feeder(make_op(clock), clock)
    f.send(rec(T0 + 40_000, business="quiet"))
    for i in range(40):  # "busy" keeps sending on the same partition, one per second
        f.send(rec(T0 + 40_000 + i * 1_000, business="busy"), advance_ms=1_000)
    # quiet has been idle for 40 s: its clock advanced by processing time and closed minute 0
    assert ("quiet", T0) in {(r["business_id"], r["window_start"]) for r in finals(f.out + f.tick(1), "minute")}
    assert f.op.key_watermark(0, "quiet") >= T0 + MIN + GRACE


def test_restore_v1_snapshot_and_scope_changes() -> None:
    clock = Clock()
    part_op = make_op(clock, watermark_scope="partition")
    part_op.process_batch(0, [(0, rec(T0 + 1_000, business="a")), (1, rec(T0 + 10 * MIN, business="b"))])
    snap = json.loads(json.dumps(part_op.snapshot()))
    key_op = make_op(clock)  # key scope from a partition snapshot: b's open window keeps its clock,
    key_op.restore(snap)  # a new business starts at the old partition watermark (floor)
    assert key_op.key_watermark(0, "b") == T0 + 10 * MIN - OOO
    assert key_op.key_watermark(0, "new") == T0 + 10 * MIN - OOO
    (late,) = lates(key_op.process(0, 2, rec(T0 + 2_000, business="new")))
    assert not late.too_late and late.recomputed == (("minute", T0),)
    back = make_op(clock, watermark_scope="partition")  # and back: one clock, the most advanced
    back.restore(json.loads(json.dumps(key_op.snapshot())))
    assert back.partition_watermark(0) == T0 + 10 * MIN - OOO
    v1 = {"v": 1, "granularities": ["minute", "hour"], "scope": "partition", "operator_wm": None,
          "emit_due_in": 500, "stats": {}, "partitions": {"0": {
              "last_offset": 7, "max_et": T0 + 5 * MIN, "base_wm": T0 + 5 * MIN - OOO, "wm": T0 + 5 * MIN - OOO,
              "idle_for": 0, "open": [], "closed": [[T0 + MIN + GRACE, 0, "a", T0, [1] * 14]],
              "dirty": [[0, "a", T0]]}}}  # fmt: skip
    old = make_op(clock)
    old.restore(v1)
    assert old.last_offsets() == {0: 7} and old.key_watermark(0, "a") == T0 + 5 * MIN - OOO
    assert old.drain_recompute() == [("a", "minute", T0, T0 + MIN)]  # its pending late update


def test_snapshot_while_idle_resumes_the_idle_clock() -> None:
    def scenario(restore_at: int | None) -> list[Any]:
        clock = Clock()
        op = make_op(clock)
        out = op.process(0, 0, rec(T0 + 40_000))
        for step in range(1, 8):
            clock.now += 10_000  # idle after 15 s; minute 0 closes after 35 s of silence
            if step == restore_at:
                snap = json.loads(json.dumps(op.snapshot()))
                op = make_op(clock)
                op.restore(snap)
            out += op.tick()
        return comparable(out)

    uninterrupted = scenario(None)
    assert any('"is_final": true' in x[2] for x in uninterrupted)
    for at in (1, 2, 3):
        assert scenario(at) == uninterrupted


def test_scope_and_lateness_default_from_settings() -> None:
    settings = SETTINGS.model_copy(update={"watermark_scope": "operator", "allowed_lateness_ms": 123_000})
    op = WindowOperator(settings)
    assert op.scope == "operator" and op.allowed_lateness == 123_000
    assert WindowOperator(settings, watermark_scope="key", allowed_lateness_ms=0).scope == "key"
    assert WindowSettings().watermark_scope == "key" and WindowSettings().allowed_lateness_ms == 7 * 86_400_000
    with pytest.raises(ValueError, match="watermark_scope"):
        WindowOperator(settings, watermark_scope="global")  # type: ignore[arg-type]
