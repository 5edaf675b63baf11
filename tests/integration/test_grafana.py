"""Grafana provisioning: the SQL of every panel runs (the files themselves: tests/unit/serving/test_grafana.py).

Grafana cannot run here, so every panel's query (and the variable query) is
expanded the way the ClickHouse plugin (grafana-clickhouse-datasource v4)
expands it - ``$__timeFilter(c)`` -> ``c >= toDateTime(from) AND c <= toDateTime(to)``,
``$__timeInterval(c)`` -> ``toStartOfInterval(toDateTime(c), INTERVAL n second)``,
``${business:singlequote}`` -> ``'a','b'``, ``${granularity}`` -> ``minute`` - and
run against the session chDB holding rows for the selected businesses.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ocrstream.clickhouse import connect
from serving import sample
from tests.support.grafana import all_queries, expand, load_dashboard


def test_every_panel_query_runs_against_chdb(stack: Any) -> None:
    ch = connect(stack.settings)
    tag = uuid.uuid4().hex[:8]
    a, b = f"graf-a-{tag}", f"graf-o'brien-{tag}"  # a quote in an id must survive :singlequote
    t0 = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)
    for business in (a, b):
        sample.insert_windows(ch, sample.window_rows(business, t0, 30))
        sample.insert_windows(ch, sample.window_rows(business, t0, 2, "hour"))
    ch.insert("dead_letters", [["topic", 0, 7, f"ocr-{tag}", "CorruptImage", "bad bytes", 1, t0,
                                t0 + timedelta(minutes=3), f"doc-{tag}", a, "s3://x/y"]],
              column_names=["source_topic", "source_partition", "source_offset", "stage", "error_class",
                            "error_message", "attempts", "first_failure_time", "last_failure_time", "document_id",
                            "business_id", "reference"])
    start, end = t0 - timedelta(minutes=5), t0 + timedelta(hours=3)
    dashboard = load_dashboard()

    variable_sql = next(v for v in dashboard["templating"]["list"] if v["name"] == "business")["query"]
    businesses = {row[0] for row in ch.query(variable_sql).result_rows}
    assert {a, b} <= businesses

    for granularity in ("minute", "hour"):
        variables = {"business": [a, b], "granularity": [granularity]}
        for title, raw in all_queries(dashboard):
            sql = expand(raw, start, end, variables)
            try:
                result = ch.query(sql)
            except Exception as exc:  # pragma: no cover - the failure message is the point
                pytest.fail(f"panel {title!r} ({granularity}) fails: {exc}\n{sql}")
            rows = result.result_rows
            assert rows, f"panel {title!r} ({granularity}) returned no rows\n{sql}"
            if re.search(r"\bwindow_start AS time, business_id, (\w+)", raw):
                expected = 30 if granularity == "minute" else 2
                assert len(rows) == 2 * expected, (title, granularity, len(rows))
                assert {r[1] for r in rows} == {a, b}
        # the stat panel's numbers
        stat = next(p for p in dashboard["panels"] if p["type"] == "stat")
        dead, late, too_late = ch.query(expand(stat["targets"][0]["rawSql"], start, end, variables)).result_rows[0]
        assert dead >= 1 and late == 2 * 15 and too_late == 0  # window_rows: odd minutes carry one late event


def test_panels_break_lines_at_gaps_and_total_the_selection(stack: Any) -> None:
    """Gaps become NULL rows (lines break, as on the built-in dashboard); query B totals the businesses."""
    ch = connect(stack.settings)
    tag = uuid.uuid4().hex[:8]
    a, b = f"gap-a-{tag}", f"gap-b-{tag}"
    t0 = datetime(2024, 6, 2, 8, 0, tzinfo=UTC)
    sample.insert_windows(ch, sample.window_rows(a, t0, 3) + sample.window_rows(a, t0 + timedelta(minutes=6), 2))
    sample.insert_windows(ch, sample.window_rows(b, t0, 8))
    empty = sample.window_rows(b, t0 + timedelta(minutes=8), 1)
    empty[0][4] = 0  # a window holding only late documents: no score to draw
    sample.insert_windows(ch, empty)
    dashboard = load_dashboard()
    variables = {"business": [a, b], "granularity": ["minute"]}
    start, end = t0, t0 + timedelta(hours=1)
    panel = next(p for p in dashboard["panels"] if p["title"] == "Documents per window")
    rows = ch.query(expand(panel["targets"][0]["rawSql"], start, end, variables)).result_rows
    a_rows = [(r[0].replace(tzinfo=UTC) - t0, r[2]) for r in rows if r[1] == a]
    minute = timedelta(minutes=1)
    assert a_rows == [(0 * minute, 1), (1 * minute, 2), (2 * minute, 3), (3 * minute, None), (4 * minute, None),
                      (5 * minute, None), (6 * minute, 1), (7 * minute, 2)]
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)  # by time, as Grafana's long-to-wide needs
    totals = ch.query(expand(panel["targets"][1]["rawSql"], start, end, variables)).result_rows
    assert [t[1] for t in totals[:4]] == [2, 4, 6, 4]  # a + b, then b alone where a has no window
    score = next(p for p in dashboard["panels"] if p["title"] == "Average score")
    b_scores = [r[2] for r in ch.query(expand(score["targets"][0]["rawSql"], start, end, variables)).result_rows
                if r[1] == b]
    assert b_scores[:8] == [pytest.approx(0.9)] * 8 and b_scores[8] is None
    assert next(p for p in dashboard["panels"] if p["title"] == "Median score")["targets"][1:] == []  # no total
    table = next(p for p in dashboard["panels"] if p["type"] == "table" and "total" in p["title"])
    assert table["options"]["footer"]["show"] is True and table["options"]["footer"]["reducer"] == ["sum"]
    summary = {r[0]: r for r in ch.query(expand(table["targets"][0]["rawSql"], start, end, variables)).result_rows}
    assert summary[a][1] == 1 + 2 + 3 + 1 + 2 and summary[b][1] == sum(range(1, 9)) and summary[b][5] == 9
