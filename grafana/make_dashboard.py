"""Generate ``grafana/dashboards/ocrstream.json`` (run after changing panels; commit the output).

    .venv/bin/python grafana/make_dashboard.py

The same ideas as the built-in dashboard (``serving/static/dashboard.js``):

* a table of the range per business with a total row (the table footer sums);
* one time-series panel per window metric (``serving.queries.METRICS``):
  lines with points, one colour per business, broken where a business has no
  window (``WITH FILL`` inserts NULL rows into the gaps; ``spanNulls`` off),
  per-document metrics NULL in windows without counted documents, and a
  ``total`` series (query B) where a total means something (sums, document-
  weighted means); tooltips list every business;
* late updates (final windows re-emitted because late documents arrived),
  documents by type, window close delay, dead letters.

Queries use the ClickHouse plugin's macros (``$__timeFilter``,
``$__timeInterval``) and the dashboard variables ``$business`` (multi-select)
and ``$granularity``; tests/integration/test_grafana.py expands them and runs every query
against chDB.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from serving.queries import METRICS  # noqa: E402

DS = {"type": "grafana-clickhouse-datasource", "uid": "ocrstream-clickhouse"}
OUT = Path(__file__).resolve().parent / "dashboards" / "ocrstream.json"

TITLES = {  # metric -> (title, unit, total: "sum" | "mean" | None, per counted document)
    "document_count": ("Documents per window", "short", "sum", False),
    "total_amount": ("Total amount", "short", "sum", False),
    "avg_score": ("Average score", "percentunit", "mean", True),
    "avg_ocr_score": ("Average OCR score", "percentunit", "mean", True),
    "median_score": ("Median score", "percentunit", None, True),
    "median_ocr_score": ("Median OCR score", "percentunit", None, True),
    "ocr_seconds_p50": ("OCR seconds p50", "s", None, True),
    "ocr_seconds_p95": ("OCR seconds p95", "s", None, True),
    "late_events": ("Late events per window (counted late updates)", "short", "sum", False),
    "too_late_events": ("Too-late events per window (in no aggregate)", "short", "sum", False),
}


def info(metric: str) -> tuple[str, str, str | None, bool]:
    """(title, unit, total kind, per counted document) of a metric; plain defaults for new ones."""
    return TITLES.get(metric, (metric.replace("_", " ").capitalize(), "short", None, False))


BUSINESS_FILTER = "business_id IN (${business:singlequote})"
WINDOW_FILTER = f"""$__timeFilter(window_start)
  AND granularity = '${{granularity}}'
  AND {BUSINESS_FILTER}"""
FILL_STEP = "toIntervalSecond(if('${granularity}' = 'hour', 3600, 60))"


def target(sql: str, fmt: int = 0, ref: str = "A") -> dict[str, Any]:
    """A plugin v4 SQL-editor query; format 0 = time series (long rows become one series per label)."""
    return {"datasource": DS, "editorType": "sql", "format": fmt, "queryType": "timeseries" if fmt == 0 else "table",
            "rawSql": sql.strip(), "refId": ref}


def timeseries(panel_id: int, title: str, unit: str, sqls: list[str], x: int, y: int, w: int = 8,
               description: str = "") -> dict[str, Any]:
    overrides = [{"matcher": {"id": "byName", "options": "total"},
                  "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": "#6b7280"}},
                                 {"id": "custom.showPoints", "value": "never"},
                                 {"id": "custom.lineWidth", "value": 1}]}]
    return {
        "id": panel_id, "type": "timeseries", "title": title, "description": description, "datasource": DS,
        "gridPos": {"h": 8, "w": w, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit, "color": {"mode": "palette-classic-by-name"},
                                     "custom": {"lineWidth": 1, "spanNulls": False, "showPoints": "always",
                                                "pointSize": 4, "drawStyle": "line"}},
                        "overrides": overrides},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
        "targets": [target(sql, ref="AB"[i]) for i, sql in enumerate(sqls)],
    }


def metric_sql(metric: str) -> str:
    """One row per (business, window) in range plus NULL rows in each business's gaps, by time."""
    value = f"if(document_count = 0, NULL, {metric})" if info(metric)[3] else f"toNullable({metric})"
    return f"""
SELECT time, business_id, value AS {metric}
FROM (
  SELECT window_start AS time, business_id, {value} AS value
  FROM ocrstream.windows FINAL
  WHERE {WINDOW_FILTER}
  ORDER BY business_id, time WITH FILL STEP {FILL_STEP}
)
ORDER BY time, business_id
"""


def total_sql(metric: str) -> str | None:
    """The 'total' series over the selected businesses: a sum, or a document-weighted mean."""
    kind = info(metric)[2]
    if kind is None:
        return None
    agg = f"sum({metric})" if kind == "sum" else f"sum({metric} * document_count) / nullIf(sum(document_count), 0)"
    return f"""
SELECT window_start AS time, {agg} AS total
FROM ocrstream.windows FINAL
WHERE {WINDOW_FILTER}
GROUP BY time
ORDER BY time
"""


def metric_panel(panel_id: int, metric: str, x: int, y: int) -> dict[str, Any]:
    title, unit, kind, per_document = info(metric)
    sqls = [metric_sql(metric)] + ([total] if (total := total_sql(metric)) else [])
    note = {"sum": "total = sum over the selected businesses. ",
            "mean": "total = mean over every counted document of the selected businesses. ",
            None: "no total: medians and percentiles do not combine across businesses. "}[kind]
    gaps = "Lines break where a business has no window" + (
        "; empty where a window counts no document (only too-late ones)." if per_document else ".")
    return timeseries(panel_id, title, unit, sqls, x=x, y=y, description=note + gaps)


def summary_table(panel_id: int) -> dict[str, Any]:
    """Per business over the range, with a footer summing every column (the total row)."""
    return {
        "id": panel_id, "type": "table", "title": "Businesses in range (footer: total of the selected)",
        "datasource": DS, "gridPos": {"h": 6, "w": 24, "x": 0, "y": 0},
        "options": {"showHeader": True, "footer": {"show": True, "reducer": ["sum"], "countRows": False,
                                                   "fields": ["documents", "late_documents", "too_late_documents", "amount", "windows",
                                                              "open_windows", "late_updated_windows"]}},
        "fieldConfig": {"defaults": {}, "overrides": []},
        "targets": [target(f"""
SELECT business_id,
       sum(document_count) AS documents,
       sum(late_events) AS late_documents,
       round(sum(total_amount), 2) AS amount,
       round(sum(avg_score * document_count) / nullIf(sum(document_count), 0), 3) AS mean_score,
       count() AS windows,
       sum(too_late_events) AS too_late_documents,
       countIf(status = 'current') AS open_windows,
       countIf(status = 'late_update') AS late_updated_windows
FROM ocrstream.windows FINAL
WHERE {WINDOW_FILTER}
GROUP BY business_id
ORDER BY business_id
""", fmt=1)],
    }


def build() -> dict[str, Any]:
    panels: list[dict[str, Any]] = [summary_table(1)]
    pid = 2
    for i, metric in enumerate(METRICS):
        panels.append(metric_panel(pid, metric, x=(i % 3) * 8, y=6 + (i // 3) * 8))
        pid += 1
    y = 6 + ((len(METRICS) + 2) // 3) * 8
    panels.append(timeseries(pid, "Late updates: final windows re-emitted after late documents", "short", [f"""
SELECT $__timeInterval(window_start) AS time, business_id, count() AS late_updated_windows
FROM ocrstream.windows FINAL
WHERE {WINDOW_FILTER}
  AND status = 'late_update'
GROUP BY time, business_id
ORDER BY time, business_id
"""], x=0, y=y, description="Windows that were already final when late documents arrived, so their row was "
                                 "recomputed and emitted again (status late_update; the built-in dashboard's "
                                 "tooltip says 'late update')."))
    pid += 1
    y += 8
    panels.append(timeseries(pid, "Documents by type (selected businesses)", "short", [f"""
SELECT window_start AS time, doc_type, sum(n) AS documents
FROM ocrstream.windows FINAL
ARRAY JOIN mapKeys(type_counts) AS doc_type, mapValues(type_counts) AS n
WHERE $__timeFilter(window_start)
  AND granularity = '${{granularity}}'
  AND {BUSINESS_FILTER}
GROUP BY time, doc_type
ORDER BY time, doc_type
"""], x=0, y=y))
    pid += 1
    panels.append(timeseries(pid, "Window close delay (final rows, seconds after window end)", "s", [f"""
SELECT window_end AS time, business_id,
       dateDiff('millisecond', window_end, emitted_at) / 1000.0 AS close_delay_s
FROM ocrstream.windows FINAL
WHERE $__timeFilter(window_end)
  AND granularity = '${{granularity}}'
  AND is_final = 1
  AND {BUSINESS_FILTER}
ORDER BY time, business_id
"""], x=8, y=y))
    pid += 1
    panels.append(timeseries(pid, "Dead letters per interval, by stage", "short", [f"""
SELECT $__timeInterval(last_failure_time) AS time, stage, count() AS dead_letters
FROM ocrstream.dead_letters FINAL
WHERE $__timeFilter(last_failure_time)
  AND (business_id IS NULL OR {BUSINESS_FILTER})
GROUP BY time, stage
ORDER BY time, stage
"""], x=16, y=y))
    pid += 1
    panels.append({
        "id": pid, "type": "stat", "title": "Dead letters, late and too-late events in range", "datasource": DS,
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
    WHERE $__timeFilter(window_start) AND granularity = 'minute' AND {BUSINESS_FILTER}) AS late_events,
  (SELECT sum(too_late_events) FROM ocrstream.windows FINAL
    WHERE $__timeFilter(window_start) AND granularity = 'minute' AND {BUSINESS_FILTER}) AS too_late_events
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
        "time": {"from": "now-1d/d", "to": "now/d"},  # yesterday + today, as the built-in dashboard
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
