"""Grafana provisioning files: valid, a panel per window metric, the dashboard JSON what its builder makes.

The panel queries run against chDB in tests/integration/test_grafana.py.
"""

from __future__ import annotations

import re

import yaml

from serving.queries import METRICS
from tests.support.grafana import GRAFANA, all_queries, load_dashboard


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
