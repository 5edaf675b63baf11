"""The Grafana dashboard of the checkout, and the ClickHouse plugin's macro expansion of its queries."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

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
