"""Grafana provisioning: valid files, a panel per window metric, and SQL that runs.

Grafana cannot run here, so every panel's query (and the variable query) is
expanded the way the ClickHouse plugin (grafana-clickhouse-datasource v4)
expands it - ``$__timeFilter(c)`` -> ``c >= toDateTime(from) AND c <= toDateTime(to)``,
``$__timeInterval(c)`` -> ``toStartOfInterval(toDateTime(c), INTERVAL n second)``,
``${business:singlequote}`` -> ``'a','b'``, ``${granularity}`` -> ``minute`` - and
run against the session chDB holding rows for the selected businesses.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from ocrstream.clickhouse import connect
from serving import sample
from serving.queries import METRICS
from tests.support import REPO

GRAFANA = REPO / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "ocrstream.json"


def load_dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def expand(sql: str, start: datetime, end: datetime, variables: dict[str, list[str]], interval_s: int = 60) -> str:
    """The plugin's macro and Grafana's variable expansion, for the forms the dashboard uses."""
    frm, to = int(start.timestamp()), int(end.timestamp())
    sql = re.sub(r"\$__timeFilter_ms\(([^)]+)\)",
                 lambda m: f"{m[1]} >= fromUnixTimestamp64Milli({frm * 1000}) AND "
                           f"{m[1]} <= fromUnixTimestamp64Milli({to * 1000})", sql)
    sql = re.sub(r"\$__timeFilter\(([^)]+)\)",
                 lambda m: f"{m[1]} >= toDateTime({frm}) AND {m[1]} <= toDateTime({to})", sql)
    sql = re.sub(r"\$__timeInterval\(([^)]+)\)",
                 lambda m: f"toStartOfInterval(toDateTime({m[1]}), INTERVAL {interval_s} second)", sql)
    sql = sql.replace("$__fromTime", f"toDateTime({frm})").replace("$__toTime", f"toDateTime({to})")
    sql = sql.replace("$__interval_s", str(interval_s))

    def quoted(values: list[str]) -> str:
        return ",".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values)

    for name, values in variables.items():
        sql = sql.replace(f"${{{name}:singlequote}}", quoted(values))
        sql = sql.replace(f"${{{name}}}", values[0]).replace(f"${name}", values[0])
    assert "$" not in sql, f"unexpanded macro or variable left in: {sql}"
    return sql


def all_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            out.append((panel["title"], target["rawSql"]))
    return out


def test_provisioning_files_are_valid() -> None:
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "clickhouse.yaml").read_text())
    (source,) = ds["datasources"]
    assert source["type"] == "grafana-clickhouse-datasource"
    assert source["jsonData"]["defaultDatabase"] == "ocrstream"
    assert {"host", "port", "protocol", "username"} <= set(source["jsonData"])
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "ocrstream.yaml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/etc/grafana/dashboards"

    dashboard = load_dashboard()
    assert dashboard["refresh"] == "5s"
    names = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert names["business"]["multi"] is True and names["granularity"]["query"] == "minute,hour"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"]
    # one time series panel per window metric, filtered by time, business and granularity
    for metric in METRICS:
        panels = [p for p in dashboard["panels"] if p["type"] == "timeseries"
                  and re.search(rf"\b{metric}\b", p["targets"][0]["rawSql"])
                  and "$__timeFilter(window_start)" in p["targets"][0]["rawSql"]]
        assert panels, f"no panel for {metric}"
        sql = panels[0]["targets"][0]["rawSql"]
        assert "${business:singlequote}" in sql and "${granularity}" in sql
    assert any("dead_letters" in sql for _, sql in all_queries(dashboard))
    assert any("late_events" in sql for _, sql in all_queries(dashboard))


def test_generated_dashboard_is_current() -> None:
    """grafana/dashboards/ocrstream.json is what grafana/make_dashboard.py builds."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_dashboard", GRAFANA / "make_dashboard.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    assert module.build() == load_dashboard(), "run: .venv/bin/python grafana/make_dashboard.py"


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
