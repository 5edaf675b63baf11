"""Generate ``grafana/dashboards/ocrstream.json`` (run after changing panels; commit the output).

    .venv/bin/python grafana/make_dashboard.py

One time-series panel per window metric (``ocrstream.api.queries.METRICS``),
plus documents by type, window close delay, and dead letters / late events.
Queries use the ClickHouse plugin's macros (``$__timeFilter``,
``$__timeInterval``) and the dashboard variables ``$business`` (multi-select)
and ``$granularity``; tests/test_grafana.py expands them and runs every query
against chDB.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ocrstream.api.queries import METRICS  # noqa: E402

DS = {"type": "grafana-clickhouse-datasource", "uid": "ocrstream-clickhouse"}
OUT = Path(__file__).resolve().parent / "dashboards" / "ocrstream.json"

TITLES = {
    "document_count": ("Documents per window", "short"),
    "total_amount": ("Total amount", "short"),
    "avg_score": ("Average score", "percentunit"),
    "avg_ocr_score": ("Average OCR score", "percentunit"),
    "median_score": ("Median score", "percentunit"),
    "median_ocr_score": ("Median OCR score", "percentunit"),
    "ocr_seconds_p50": ("OCR seconds p50", "s"),
    "ocr_seconds_p95": ("OCR seconds p95", "s"),
    "late_events": ("Late events per window", "short"),
}
BUSINESS_FILTER = "business_id IN (${business:singlequote})"


def target(sql: str, fmt: int = 0) -> dict[str, Any]:
    """A plugin v4 SQL-editor query; format 0 = time series (long rows become one series per label)."""
    return {"datasource": DS, "editorType": "sql", "format": fmt, "queryType": "timeseries" if fmt == 0 else "table",
            "rawSql": sql.strip(), "refId": "A"}


def timeseries(panel_id: int, title: str, unit: str, sql: str, x: int, y: int, w: int = 8) -> dict[str, Any]:
    return {
        "id": panel_id, "type": "timeseries", "title": title, "datasource": DS,
        "gridPos": {"h": 8, "w": w, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit, "custom": {"lineWidth": 1, "spanNulls": False,
                                                               "showPoints": "auto"}}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
        "targets": [target(sql)],
    }


def metric_sql(metric: str) -> str:
    return f"""
SELECT window_start AS time, business_id, {metric}
FROM ocrstream.windows FINAL
WHERE $__timeFilter(window_start)
  AND granularity = '${{granularity}}'
  AND {BUSINESS_FILTER}
ORDER BY time, business_id
"""


def build() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    pid = 1
    for i, metric in enumerate(METRICS):
        title, unit = TITLES[metric]
        panels.append(timeseries(pid, title, unit, metric_sql(metric), x=(i % 3) * 8, y=(i // 3) * 8))
        pid += 1
    y = ((len(METRICS) + 2) // 3) * 8
    panels.append(timeseries(pid, "Documents by type (selected businesses)", "short", f"""
SELECT window_start AS time, doc_type, sum(n) AS documents
FROM ocrstream.windows FINAL
ARRAY JOIN mapKeys(type_counts) AS doc_type, mapValues(type_counts) AS n
WHERE $__timeFilter(window_start)
  AND granularity = '${{granularity}}'
  AND {BUSINESS_FILTER}
GROUP BY time, doc_type
ORDER BY time, doc_type
""", x=0, y=y))
    pid += 1
    panels.append(timeseries(pid, "Window close delay (final rows, seconds after window end)", "s", f"""
SELECT window_end AS time, business_id,
       dateDiff('millisecond', window_end, emitted_at) / 1000.0 AS close_delay_s
FROM ocrstream.windows FINAL
WHERE $__timeFilter(window_end)
  AND granularity = '${{granularity}}'
  AND is_final = 1
  AND {BUSINESS_FILTER}
ORDER BY time, business_id
""", x=8, y=y))
    pid += 1
    panels.append(timeseries(pid, "Dead letters per interval, by stage", "short", f"""
SELECT $__timeInterval(last_failure_time) AS time, stage, count() AS dead_letters
FROM ocrstream.dead_letters FINAL
WHERE $__timeFilter(last_failure_time)
  AND (business_id IS NULL OR {BUSINESS_FILTER})
GROUP BY time, stage
ORDER BY time, stage
""", x=16, y=y))
    pid += 1
    panels.append({
        "id": pid, "type": "stat", "title": "Dead letters and late events in range", "datasource": DS,
        "gridPos": {"h": 5, "w": 12, "x": 0, "y": y + 8},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "value", "graphMode": "none", "textMode": "value_and_name"},
        "fieldConfig": {"defaults": {"unit": "short", "thresholds": {"mode": "absolute", "steps": [
            {"color": "green", "value": None}, {"color": "orange", "value": 1}]}}, "overrides": []},
        "targets": [target(f"""
SELECT
  (SELECT count() FROM ocrstream.dead_letters FINAL
    WHERE $__timeFilter(last_failure_time) AND (business_id IS NULL OR {BUSINESS_FILTER})) AS dead_letters,
  (SELECT sum(late_events) FROM ocrstream.windows FINAL
    WHERE $__timeFilter(window_start) AND granularity = 'minute' AND {BUSINESS_FILTER}) AS late_events
""", fmt=1)],
    })
    pid += 1
    panels.append({
        "id": pid, "type": "table", "title": "Dead letters by error class", "datasource": DS,
        "gridPos": {"h": 5, "w": 12, "x": 12, "y": y + 8},
        "targets": [target("""
SELECT stage, error_class, count() AS dead_letters, max(last_failure_time) AS last_failure
FROM ocrstream.dead_letters FINAL
WHERE $__timeFilter(last_failure_time)
GROUP BY stage, error_class
ORDER BY dead_letters DESC
""", fmt=1)],
    })
    return {
        "uid": "ocrstream-windows",
        "title": "ocrstream — live document windows",
        "tags": ["ocrstream"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "5s",
        "time": {"from": "now-24h", "to": "now"},
        "timepicker": {"refresh_intervals": ["5s", "10s", "30s", "1m", "5m"]},
        "templating": {"list": [
            {
                "name": "business", "label": "Business", "type": "query", "datasource": DS,
                "query": "SELECT DISTINCT business_id FROM ocrstream.windows WHERE granularity = 'hour' "
                         "ORDER BY business_id",
                "definition": "SELECT DISTINCT business_id FROM ocrstream.windows",
                "refresh": 2, "multi": True, "includeAll": True, "sort": 1,
                "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            },
            {
                "name": "granularity", "label": "Granularity", "type": "custom", "query": "minute,hour",
                "multi": False, "includeAll": False,
                "current": {"selected": True, "text": "minute", "value": "minute"},
                "options": [{"selected": True, "text": "minute", "value": "minute"},
                            {"selected": False, "text": "hour", "value": "hour"}],
            },
        ]},
        "panels": panels,
    }


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(build(), indent=2) + "\n")
    print(f"wrote {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
