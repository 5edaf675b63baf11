"""The ``windows`` and ``documents`` tables, defined once for the sink, the API and the checks.

Window rows (``windows``, ReplacingMergeTree(version), read with ``FINAL``)
--------------------------------------------------------------------------
One logical row per ``(business_id, granularity, window_start)``; the newest
``version`` wins. :data:`WINDOW_COLUMNS` lists the columns in table order.
``status`` says what the row is (a column for API clients and Grafana):

* ``current``     — the window is open (its key's watermark has not passed
  ``window_end + grace``): counts may still grow;
* ``final``       — closed by the watermark, as computed at the close;
* ``late_update`` — closed, re-emitted because documents arrived after the
  close: within allowed lateness they are folded into every aggregate (and
  counted in ``late_events``), beyond it they only count in
  ``too_late_events``.

``is_final`` is ``status != 'current'``. Over the window's raw documents
(``documents FINAL``) every row satisfies :data:`WINDOW_AGGREGATE_SQL`::

    document_count  = countIf(NOT is_late)      late_events     = countIf(late_update)
    too_late_events = countIf(is_late)          total_amount    = sumIf(ifNull(total, 0), NOT is_late)

Document rows (``documents``, ReplacingMergeTree(version))
----------------------------------------------------------
One row per document (key ``business_id, event_time, document_id``), with
``is_late`` = too late (beyond allowed lateness: in no aggregate),
``late_update`` = arrived after its minute window closed but within allowed
lateness (counted), and the source ``(partition, offset)``.
"""

from __future__ import annotations

from dataclasses import dataclass

STATUS_CURRENT = "current"
STATUS_FINAL = "final"
STATUS_LATE_UPDATE = "late_update"
WINDOW_STATUSES: tuple[str, ...] = (STATUS_CURRENT, STATUS_FINAL, STATUS_LATE_UPDATE)

#: Window sizes in ms by granularity name.
GRANULARITY_MS: dict[str, int] = {
    "second": 1_000,
    "minute": 60_000,
    "hour": 3_600_000,
    "day": 86_400_000,
}

#: Granularities the sink writes (and the API serves).
WINDOW_GRANULARITIES: tuple[str, ...] = ("minute", "hour")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    doc: str = ""
    metric: bool = False  # a numeric per-window value charted as a line (dashboard, Grafana)


WINDOW_COLUMNS: tuple[Column, ...] = (
    Column("business_id", "LowCardinality(String)"),
    Column("granularity", "LowCardinality(String)", "minute | hour"),
    Column("window_start", "DateTime64(3, 'UTC')", "inclusive"),
    Column("window_end", "DateTime64(3, 'UTC')", "exclusive"),
    Column("document_count", "UInt64", "documents counted (all but the too-late ones)", metric=True),
    Column("total_amount", "Float64", "sum of fields.total (null as 0) of the counted documents", metric=True),
    Column("avg_score", "Float64", metric=True),
    Column("avg_ocr_score", "Float64", metric=True),
    Column("median_score", "Float64", "quantileExact(0.5)", metric=True),
    Column("median_ocr_score", "Float64", "quantileExact(0.5)", metric=True),
    Column("ocr_seconds_p50", "Float64", "quantileExact(0.5) of timings.ocr_s", metric=True),
    Column("ocr_seconds_p95", "Float64", "quantileExact(0.95) of timings.ocr_s", metric=True),
    Column("type_counts", "Map(String, UInt64)"),
    Column("late_events", "UInt64", "counted documents that arrived after the window closed", metric=True),
    Column("too_late_events", "UInt64", "documents beyond allowed lateness (in no other aggregate)", metric=True),
    Column("min_event_time", "DateTime64(3, 'UTC')"),
    Column("max_event_time", "DateTime64(3, 'UTC')"),
    Column("is_final", "UInt8", "status != 'current'"),
    Column("status", "LowCardinality(String)", "current | final | late_update"),
    Column("emitted_at", "DateTime64(3, 'UTC')"),
    Column("version", "UInt64", "newest wins"),
)

WINDOW_COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in WINDOW_COLUMNS)
#: Fields of a ``WindowAggregate`` record (schemas/WindowAggregate.avsc): the columns but ``version``.
WINDOW_FIELDS: tuple[str, ...] = tuple(n for n in WINDOW_COLUMN_NAMES if n != "version")
#: The numeric per-window metrics, in column order.
WINDOW_METRICS: tuple[str, ...] = tuple(c.name for c in WINDOW_COLUMNS if c.metric)

DOCUMENT_COLUMNS: tuple[Column, ...] = (
    Column("document_id", "String"),
    Column("business_id", "LowCardinality(String)"),
    Column("event_time", "DateTime64(3, 'UTC')"),
    Column("processed_at", "DateTime64(3, 'UTC')"),
    Column("source", "LowCardinality(String)"),
    Column("uri", "String"),
    Column("doc_type", "LowCardinality(String)"),
    Column("type_confidence", "Float32"),
    Column("engine", "LowCardinality(String)"),
    Column("text", "String"),
    Column("pages", "UInt16"),
    Column("vendor", "Nullable(String)"),
    Column("date", "Nullable(String)"),
    Column("currency", "Nullable(String)"),
    Column("subtotal", "Nullable(Float64)"),
    Column("tax", "Nullable(Float64)"),
    Column("total", "Nullable(Float64)"),
    Column("field_confidences", "Map(String, Float32)"),
    Column("line_items", "String", "JSON array"),
    Column("lines", "String", "JSON array"),
    Column("score", "Float32"),
    Column("ocr_score", "Float32"),
    Column("fetch_s", "Float64"),
    Column("classify_s", "Float64"),
    Column("ocr_s", "Float64"),
    Column("extract_s", "Float64"),
    Column("is_late", "UInt8", "too late: beyond allowed lateness, in no aggregate"),
    Column("late_update", "UInt8", "arrived after its minute window closed, within allowed lateness (counted)"),
    Column("version", "UInt64"),
    Column("source_partition", "Int32"),
    Column("source_offset", "Int64"),
    Column("field_evidence", "String", "JSON object: field -> {value, confidence, raw_text, page, box}"),
    Column("page_sizes", "String", "JSON array of {width, height}: the pixel frame of every box, per page"),
)

DOCUMENT_COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in DOCUMENT_COLUMNS)


def window_aggregate_sql(where: str = "1", granularities: tuple[str, ...] = WINDOW_GRANULARITIES) -> str:
    """The windows as ONE SQL aggregation over the raw documents (``documents FINAL``).

    Columns, per ``(business_id, granularity, window_start)`` (epoch ms):
    ``business_id, granularity, window_start, document_count, total_amount,
    avg_score, avg_ocr_score, median_score, median_ocr_score, ocr_seconds_p50,
    ocr_seconds_p95, type_counts, late_events, too_late_events, min_event_time,
    max_event_time`` (times in epoch ms; averages/quantiles/min/max over the
    counted documents, 0 / NULL when there are none). ``where`` filters the
    documents (a SQL condition; may use ``window_start`` and ``granularity``
    through a ``HAVING``-free outer filter, see :func:`streams.recompute`).
    The sink's late updates are this query; :mod:`streams.verify` checks every
    window row against it.
    """
    arms = ", ".join(f"('{g}', toInt64({GRANULARITY_MS[g]}))" for g in granularities)
    return f"""
SELECT business_id, g.1 AS granularity,
       intDiv(toUnixTimestamp64Milli(event_time), g.2) * g.2 AS window_start,
       countIf(NOT is_late) AS document_count,
       sumIf(ifNull(total, 0), NOT is_late) AS total_amount,
       avgIf(toFloat64(score), NOT is_late) AS avg_score,
       avgIf(toFloat64(ocr_score), NOT is_late) AS avg_ocr_score,
       quantileExactIf(0.5)(toFloat64(score), NOT is_late) AS median_score,
       quantileExactIf(0.5)(toFloat64(ocr_score), NOT is_late) AS median_ocr_score,
       quantileExactIf(0.5)(ocr_s, NOT is_late) AS ocr_seconds_p50,
       quantileExactIf(0.95)(ocr_s, NOT is_late) AS ocr_seconds_p95,
       sumMapIf(map(toString(doc_type), toUInt64(1)), NOT is_late) AS type_counts,
       countIf(late_update AND NOT is_late) AS late_events,
       countIf(is_late) AS too_late_events,
       minIf(toUnixTimestamp64Milli(event_time), NOT is_late) AS min_event_time,
       maxIf(toUnixTimestamp64Milli(event_time), NOT is_late) AS max_event_time
FROM documents FINAL
ARRAY JOIN [{arms}] AS g
WHERE {where}
GROUP BY business_id, granularity, window_start
"""


__all__ = [
    "Column",
    "DOCUMENT_COLUMNS",
    "DOCUMENT_COLUMN_NAMES",
    "GRANULARITY_MS",
    "STATUS_CURRENT",
    "STATUS_FINAL",
    "STATUS_LATE_UPDATE",
    "WINDOW_COLUMNS",
    "WINDOW_COLUMN_NAMES",
    "WINDOW_FIELDS",
    "WINDOW_METRICS",
    "WINDOW_GRANULARITIES",
    "WINDOW_STATUSES",
    "window_aggregate_sql",
]
