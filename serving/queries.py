"""The API's SQL, in one place. Every value is a bound ``{name:Type}`` parameter.

Time semantics: all timestamps are UTC. A query range ``[start, end)`` selects
windows whose ``window_start`` lies in it (start inclusive, end exclusive) and
documents whose ``event_time`` lies in it. Windows themselves span
``[window_start, window_end)``. Tables are ReplacingMergeTrees read with
``FINAL`` (the newest version of a window - its final row once closed - wins).
"""

from __future__ import annotations

import json

from ocrstream.tables import WINDOW_METRICS

# (output name, SQL expression) for each column of an aggregate series, in order.
# Times are epoch milliseconds (UTC) so that charts need no date parsing.
WINDOW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("window_start", "toUnixTimestamp64Milli(window_start)"),
    ("window_end", "toUnixTimestamp64Milli(window_end)"),
    ("document_count", "document_count"),
    ("total_amount", "total_amount"),
    ("avg_score", "avg_score"),
    ("avg_ocr_score", "avg_ocr_score"),
    ("median_score", "median_score"),
    ("median_ocr_score", "median_ocr_score"),
    ("ocr_seconds_p50", "ocr_seconds_p50"),
    ("ocr_seconds_p95", "ocr_seconds_p95"),
    ("late_events", "late_events"),
    ("too_late_events", "too_late_events"),
    ("is_final", "is_final"),
    ("status", "status"),
    ("type_counts", "type_counts"),
    ("min_event_time", "toUnixTimestamp64Milli(min_event_time)"),
    ("max_event_time", "toUnixTimestamp64Milli(max_event_time)"),
    ("emitted_at", "toUnixTimestamp64Milli(emitted_at)"),
)

# Numeric per-window metrics, each charted as a line (dashboard, Grafana).
METRICS: tuple[str, ...] = WINDOW_METRICS

GRANULARITIES: tuple[str, ...] = ("minute", "hour")

# Settings for queries whose JSON ClickHouse serializes for us (see Database.json_lines):
# 64-bit integers stay numbers, NaN/inf become null. Written into the SQL: passing
# them per call makes the chDB backend run SET/restore round trips (~7 ms a query).
JSON_SETTINGS = "output_format_json_quote_64bit_integers = 0, output_format_json_quote_denormals = 0"


def _series_sql() -> str:
    # Columns are qualified (w.x): the output aliases reuse the column names.
    select = ",\n       ".join(f"{expr.replace('(', '(w.', 1) if '(' in expr else 'w.' + expr} AS {name}"
                                for name, expr in WINDOW_COLUMNS)
    return f"""
SELECT {select}
FROM windows AS w FINAL
WHERE w.business_id = {{business_id:String}}
  AND w.granularity = {{granularity:String}}
  AND w.window_start >= {{start:DateTime64(3, 'UTC')}}
  AND w.window_start < {{end:DateTime64(3, 'UTC')}}
ORDER BY w.window_start
SETTINGS {JSON_SETTINGS}
"""


#: One business's windows in range, to be read in ClickHouse's ``JSONColumns``
#: format: ``{"window_start": [ms, ..], "document_count": [..], ..}`` (arrays
#: sorted by ``window_start``; empty arrays when there are none). Serializing
#: columns in ClickHouse costs about half the CPU of building them with
#: groupArray/arrayMap, and nothing in Python.
SERIES_SQL = _series_sql()


def series_object(business_id: str, json_columns: bytes) -> bytes:
    """``{"business_id": .., "points": n, <the JSONColumns body>}`` as compact JSON bytes."""
    body = json_columns.strip()
    if not body.startswith(b"{"):
        raise ValueError("expected a JSONColumns object")
    start = body.find(b"[")
    end = body.find(b"]", start)
    first = body[start + 1:end].strip()
    points = first.count(b",") + 1 if first else 0
    head = json.dumps({"business_id": business_id, "points": points}, separators=(",", ":")).encode()
    return head[:-1] + b"," + body[1:].lstrip()


BUSINESSES_SQL = """
SELECT business_id,
       sum(document_count) AS documents,
       sum(late_events) AS late_events,
       count() AS hour_windows,
       toUnixTimestamp64Milli(min(window_start)) AS first_window_start,
       toUnixTimestamp64Milli(max(window_end)) AS last_window_end
FROM windows FINAL
WHERE granularity = 'hour'
  AND ({all:UInt8} = 1 OR business_id IN {business_ids:Array(String)})
GROUP BY business_id
ORDER BY business_id
"""

DOCUMENT_LIST_COLUMNS = (
    "document_id, business_id, event_time, processed_at, source, uri, doc_type, type_confidence, engine, "
    "pages, vendor, date, currency, total, score, ocr_score, ocr_s, is_late, late_update, "
    "substring(text, 1, {preview_chars:UInt32}) AS text_preview, length(text) AS text_chars"
)

DOCUMENTS_SQL = f"""
SELECT {DOCUMENT_LIST_COLUMNS}
FROM documents FINAL
WHERE ({{all:UInt8}} = 1 OR business_id IN {{business_ids:Array(String)}})
  AND event_time >= {{start:DateTime64(3, 'UTC')}}
  AND event_time < {{end:DateTime64(3, 'UTC')}}
  AND ({{doc_type:String}} = '' OR doc_type = {{doc_type:String}})
ORDER BY event_time DESC, document_id
LIMIT {{limit:UInt32}}
"""

#: Every column of one document (``*``: flags added by later migrations, e.g. ``late_update``, come along).
DOCUMENT_SQL = """
SELECT *
FROM documents FINAL
WHERE document_id = {document_id:String}
LIMIT 1
"""

#: The minute and hour windows a document's event time falls in (window starts passed in, epoch-aligned).
DOCUMENT_WINDOWS_SQL = """
SELECT granularity,
       toUnixTimestamp64Milli(window_start) AS start_ms,
       toUnixTimestamp64Milli(window_end) AS end_ms,
       document_count, late_events, is_final,
       toUnixTimestamp64Milli(emitted_at) AS emitted_ms
FROM windows FINAL
WHERE business_id = {business_id:String}
  AND ((granularity = 'minute' AND window_start = {minute:DateTime64(3, 'UTC')})
    OR (granularity = 'hour' AND window_start = {hour:DateTime64(3, 'UTC')}))
ORDER BY granularity = 'hour'
"""

DOCUMENT_REF_SQL = """
SELECT business_id, uri FROM documents FINAL WHERE document_id = {document_id:String} LIMIT 1
"""

# ---------------------------------------------------------------- /metrics (ClickHouse side)

DEAD_LETTERS_SQL = """
SELECT stage, error_class, count() AS n FROM dead_letters FINAL GROUP BY stage, error_class ORDER BY stage, error_class
"""

LATE_EVENTS_SQL = """
SELECT granularity, sum(late_events) AS late FROM windows FINAL GROUP BY granularity ORDER BY granularity
"""

#: Wall-clock delay from window end to the stored final row, over finals of the last hour.
CLOSE_DELAY_SQL = """
SELECT granularity,
       count() AS n,
       quantile(0.5)(dateDiff('millisecond', window_end, emitted_at) / 1000.0) AS p50,
       quantile(0.95)(dateDiff('millisecond', window_end, emitted_at) / 1000.0) AS p95,
       max(dateDiff('millisecond', window_end, emitted_at) / 1000.0) AS max_s,
       toUnixTimestamp64Milli(max(window_end)) / 1000.0 AS last_window_end
FROM windows FINAL
WHERE is_final = 1 AND window_end >= now64(3) - INTERVAL 1 HOUR
GROUP BY granularity
ORDER BY granularity
"""

FRESHNESS_SQL = """
SELECT granularity, toUnixTimestamp64Milli(max(emitted_at)) / 1000.0 AS last_emitted
FROM windows GROUP BY granularity ORDER BY granularity
"""
