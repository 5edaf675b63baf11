"""Unit tests of streams/aggregates.py: quantile definition, accumulators, sketches, state."""

from __future__ import annotations

import json
import random

import pytest

from streams.aggregates import (
    AggConfig,
    FinalAgg,
    QuantileSketch,
    WindowAcc,
    brute_force_row,
    quantile_exact,
)

from ocrstream.tables import WINDOW_COLUMN_NAMES, WINDOW_FIELDS  # noqa: E402
from tests.support import REPO

ROOT = REPO


def test_window_fields_match_avro_schema_and_the_table_definition() -> None:
    schema = json.loads((ROOT / "schemas" / "WindowAggregate.avsc").read_text())
    assert tuple(f["name"] for f in schema["fields"]) == WINDOW_FIELDS
    # the migrated ClickHouse table is checked against the same definition in tests/integration/test_tables.py
    assert [c for c in WINDOW_COLUMN_NAMES if c != "version"] == list(WINDOW_FIELDS)


@pytest.mark.parametrize(
    ("values", "level", "expected"),
    [
        ([1.0], 0.5, 1.0),
        ([1.0, 2.0], 0.5, 2.0),  # even n: upper middle, like ClickHouse quantileExact
        ([1.0, 2.0, 3.0], 0.5, 2.0),
        ([1.0, 2.0, 3.0, 4.0], 0.5, 3.0),
        ([float(i) for i in range(20)], 0.95, 19.0),  # int(0.95 * 20) = 19
        ([float(i) for i in range(19)], 0.95, 18.0),  # int(18.05) = 18
        ([float(i) for i in range(100)], 0.95, 95.0),
        ([float(i) for i in range(10)], 1.0, 9.0),
        ([float(i) for i in range(10)], 0.0, 0.0),
        ([], 0.5, 0.0),
    ],
)
def test_quantile_exact_is_clickhouse_quantile_exact(values: list[float], level: float, expected: float) -> None:
    assert quantile_exact(values, level) == expected


def _event(i: int, rnd: random.Random) -> dict:
    return {
        "event_time": 1_000 + i,
        "doc_type": rnd.choice(["receipt", "invoice", "form"]),
        "fields": {"total": None if rnd.random() < 0.2 else rnd.uniform(0, 100)},
        "score": rnd.random(),
        "ocr_score": rnd.random(),
        "timings": {"ocr_s": rnd.expovariate(3.0)},
    }


def _feed(acc: WindowAcc, events: list[dict]) -> None:
    for e in events:
        t = e["fields"]["total"]
        acc.add(e["event_time"], 0.0 if t is None else t, e["score"], e["ocr_score"], e["timings"]["ocr_s"], e["doc_type"])


def _row(agg: FinalAgg) -> dict:
    row = agg.row("b", "minute", 0, 60_000, "final", 0)
    del row["is_final"], row["status"], row["emitted_at"]
    return row


def _assert_rows_equal(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for k, v in want.items():
        if isinstance(v, float):
            assert got[k] == pytest.approx(v, rel=1e-12, abs=1e-12), k
        else:
            assert got[k] == v, k


@pytest.mark.parametrize("n", [1, 2, 3, 10, 101, 1000])
def test_window_acc_matches_brute_force(n: int) -> None:
    rnd = random.Random(n)
    events = [_event(i, rnd) for i in range(n)]
    rnd.shuffle(events)
    acc = WindowAcc(AggConfig())
    _feed(acc, events[: n // 2])
    acc.finalize()  # a current emission midway must not disturb the result
    _feed(acc, events[n // 2 :])
    agg = acc.finalize()
    assert agg.exact
    _assert_rows_equal(_row(agg), brute_force_row(events, 0, "b", "minute", 0, 60_000))


def test_empty_window_row() -> None:
    acc = WindowAcc(AggConfig())
    acc.too_late = 3  # a window that only saw too-late events
    row = acc.finalize().row("b", "hour", 3_600_000, 7_200_000, "current", 5)
    assert row["document_count"] == 0 and row["too_late_events"] == 3 and row["late_events"] == 0
    assert row["min_event_time"] == row["max_event_time"] == 3_600_000
    assert row["median_score"] == row["avg_score"] == row["total_amount"] == 0.0
    assert row["type_counts"] == {}
    assert row == {**brute_force_row([], 0, "b", "hour", 3_600_000, 7_200_000, too_late_count=3),
                   "is_final": False, "status": "current", "emitted_at": 5}


@pytest.mark.parametrize("limit", [8192, 50])
def test_window_acc_state_round_trip_is_bit_exact(limit: int) -> None:
    rnd = random.Random(1)
    events = [_event(i, rnd) for i in range(300)]
    cfg = AggConfig(exact_limit=limit)
    acc = WindowAcc(cfg)
    _feed(acc, events[:200])
    acc.finalize()
    acc.late = 2
    state = acc.state()
    assert state[8] == 0  # the unused slot (an emission count in older snapshots)
    older = json.loads(json.dumps(state))
    older[8] = 4  # an older snapshot's emission count: loads, ignored
    clone = WindowAcc.from_state(cfg, json.loads(json.dumps(state)))
    old_clone = WindowAcc.from_state(cfg, older)
    assert old_clone.state() == clone.state() == state
    _feed(acc, events[200:])
    _feed(clone, events[200:])
    _feed(old_clone, events[200:])
    a, b = acc.finalize(), clone.finalize()
    assert a.state() == b.state() == old_clone.finalize().state()
    assert a.exact == (limit > 300)


@pytest.mark.parametrize("alpha", [0.005, 0.02])
def test_sketch_relative_error_bound_against_quantile_exact(alpha: float) -> None:
    rnd = random.Random(5)
    cfg = AggConfig(exact_limit=100, relative_accuracy=alpha)
    for trial in range(5):
        n = rnd.randrange(101, 6000)
        events = [_event(i, rnd) for i in range(n)]
        if trial == 0:  # zeros and a negative value (bad data) stay ordered correctly
            events[0]["score"] = 0.0
            events[1]["score"] = -0.25
        acc = WindowAcc(cfg)
        _feed(acc, events)
        agg = acc.finalize()
        assert not agg.exact
        want = brute_force_row(events, 0, "b", "minute", 0, 60_000)
        for k in ("median_score", "median_ocr_score", "ocr_seconds_p50", "ocr_seconds_p95"):
            assert abs(_row(agg)[k] - want[k]) <= alpha * abs(want[k]) + 1e-12, (k, n)
        # counts, sums, averages, min/max stay exact in sketch mode
        assert agg.count == n
        assert agg.avg_score == pytest.approx(want["avg_score"], rel=1e-12)
        assert agg.types == want["type_counts"]


def test_sketch_merge_and_ranks() -> None:
    cfg = AggConfig(relative_accuracy=0.01)
    a, b = QuantileSketch(cfg.mapping()), QuantileSketch(cfg.mapping())
    values = [float(i) for i in range(1, 1001)]
    for v in values[:500]:
        a.add(v)
    for v in values[500:]:
        b.add(v)
    a.merge(b)
    assert a.count == 1000
    for level in (0.0, 0.1, 0.5, 0.95, 1.0):
        exact = quantile_exact(values, level)
        assert abs(a.quantile(level) - exact) <= 0.01 * exact
    assert QuantileSketch(cfg.mapping()).quantile(0.5) == 0.0
