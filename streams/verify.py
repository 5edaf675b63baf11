"""Check the ``windows`` table against ONE SQL aggregation of the raw ``documents``.

For every ``(business_id, granularity, window_start)`` the newest ``windows``
row (FINAL) must equal :func:`ocrstream.tables.window_aggregate_sql` over the
window's raw documents (FINAL, one row per document)::

    document_count  = countIf(NOT is_late)     late_events     = countIf(late_update)
    too_late_events = countIf(is_late)         total_amount    = sum(ifNull(total, 0)) of the counted
    avg_*           = avg(...)                 (rel 1e-9)
    median_*, ocr_seconds_p50/p95 = quantileExact(...)  exact while the window
                      held <= 8192 counted documents, else within the DDSketch
                      bound (relative 0.5 %) — see streams/aggregates.py
    type_counts, min/max_event_time            exact
    status in (current, final, late_update), is_final = status != 'current'

and every window with documents must have a row. ``python -m streams.verify
--dsn chdb:///path [--database db]`` prints the report as JSON (the crash test
runs it in a subprocess: a process may open one chDB path only).
"""

from __future__ import annotations

import argparse
import json
import math
import struct
import sys
from typing import Any

from ocrstream.tables import STATUS_CURRENT, WINDOW_STATUSES, window_aggregate_sql

EXACT_LIMIT = 8192
SKETCH_REL = 0.005

_ACTUAL_SQL = """
SELECT business_id, granularity, toUnixTimestamp64Milli(window_start) AS ws, document_count, total_amount,
       avg_score, avg_ocr_score, median_score, median_ocr_score, ocr_seconds_p50, ocr_seconds_p95,
       type_counts, late_events, too_late_events, toUnixTimestamp64Milli(min_event_time),
       toUnixTimestamp64Milli(max_event_time), is_final, status
FROM windows FINAL
"""


def _close(a: float, b: float, rel: float, abs_tol: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_tol)


def _f32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def compare(client: Any) -> dict[str, Any]:
    """Report: counts, and up to 20 mismatches (empty ``mismatches`` = equal)."""
    expected = {(r[0], r[1], int(r[2])): r for r in client.query(window_aggregate_sql()).result_rows}
    actual = {(r[0], r[1], int(r[2])): r for r in client.query(_ACTUAL_SQL).result_rows}
    mismatches: list[str] = []
    sketched = 0
    for key, a in actual.items():
        e = expected.get(key)
        if e is None:
            mismatches.append(f"{key}: window row without documents")
            continue
        n = int(e[3])
        exact = n <= EXACT_LIMIT
        sketched += not exact
        qrel = 0.0 if exact else SKETCH_REL
        qabs = 0 if exact else 1e-9
        checks = [
            ("document_count", int(a[3]) == n, a[3], n),
            ("total_amount", _close(a[4], e[4], 1e-9, 1e-6), a[4], e[4]),
            ("avg_score", n == 0 or _close(a[5], e[5], 1e-9), a[5], e[5]),
            ("avg_ocr_score", n == 0 or _close(a[6], e[6], 1e-9), a[6], e[6]),
            ("median_score", n == 0 or _close(_f32(a[7]), _f32(e[7]), qrel, qabs), a[7], e[7]),
            ("median_ocr_score", n == 0 or _close(_f32(a[8]), _f32(e[8]), qrel, qabs), a[8], e[8]),
            ("ocr_seconds_p50", n == 0 or _close(a[9], e[9], qrel, qabs), a[9], e[9]),
            ("ocr_seconds_p95", n == 0 or _close(a[10], e[10], qrel, qabs), a[10], e[10]),
            ("type_counts", {k: int(v) for k, v in a[11].items() if v} == {k: int(v) for k, v in e[11].items() if v},
             a[11], e[11]),
            ("late_events", int(a[12]) == int(e[12]), a[12], e[12]),
            ("too_late_events", int(a[13]) == int(e[13]), a[13], e[13]),
            ("min_event_time", n == 0 or int(a[14]) == int(e[14]), a[14], e[14]),
            ("max_event_time", n == 0 or int(a[15]) == int(e[15]), a[15], e[15]),
            ("status", a[17] in WINDOW_STATUSES and bool(a[16]) == (a[17] != STATUS_CURRENT), a[17], a[16]),
        ]
        for name, ok, got, want in checks:
            if not ok and len(mismatches) < 20:
                mismatches.append(f"{key} {name}: windows={got} documents={want}")
    missing = [k for k in expected if k not in actual]
    for k in missing[:10]:
        mismatches.append(f"{k}: documents without a window row (n={expected[k][3]}, too late={expected[k][13]})")
    doc_total, doc_too_late, doc_late, doc_ids = client.query(
        "SELECT count(), countIf(is_late), countIf(late_update), uniqExact(document_id) FROM documents FINAL"
    ).result_rows[0]
    by_status: dict[str, int] = {}
    for a in actual.values():
        by_status[a[17]] = by_status.get(a[17], 0) + 1

    def total(g: str, i: int) -> int:
        return sum(int(a[i]) for k, a in actual.items() if k[1] == g)

    return {
        "windows": len(actual),
        "final_windows": sum(1 for a in actual.values() if a[16]),
        "by_status": by_status,
        "expected_windows": len(expected),
        "missing": len(missing),
        "sketched_windows": sketched,
        "documents": int(doc_total),
        "distinct_documents": int(doc_ids),
        "too_late_documents": int(doc_too_late),
        "late_update_documents": int(doc_late),
        "counted_in_minute_windows": total("minute", 3),
        "counted_in_hour_windows": total("hour", 3),
        "late_in_minute_windows": total("minute", 12),
        "too_late_in_minute_windows": total("minute", 13),
        "too_late_in_hour_windows": total("hour", 13),
        "mismatches": mismatches,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--database", default="ocrstream")
    args = parser.parse_args(argv)
    from ocrstream.clickhouse import connect
    from ocrstream.settings import Settings

    settings = Settings().with_overrides(**{"clickhouse.dsn": args.dsn, "clickhouse.database": args.database})
    report = compare(connect(settings))
    print(json.dumps(report))
    return 0 if not report["mismatches"] else 1


if __name__ == "__main__":
    sys.exit(main())
