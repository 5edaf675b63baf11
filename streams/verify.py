"""Check the ``windows`` table against a direct SQL aggregation of ``documents``.

For every ``(business_id, granularity, window_start)`` the newest ``windows``
row (FINAL) must equal, over the window's raw documents (FINAL, one row per
``document_id``)::

    document_count = countIf(NOT is_late)        late_events = countIf(is_late)
    total_amount   = sum(ifNull(total, 0))       (on-time; float sum, rel 1e-9)
    avg_*          = avg(...)                    (rel 1e-9)
    median_*, ocr_seconds_p50/p95 = quantileExact(...)  exact while the window
                     held <= 8192 on-time documents, else within the DDSketch
                     bound (relative 0.5 %) — see streams/aggregates.py
    type_counts, min/max_event_time              exact

``python -m streams.verify --dsn chdb:///path [--database db]`` prints the
report as JSON (the crash test runs it in a subprocess: a process may open
one chDB path only).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

GRANULARITIES = {"minute": 60_000, "hour": 3_600_000}
EXACT_LIMIT = 8192
SKETCH_REL = 0.005

_EXPECTED_SQL = """
SELECT business_id, g.1 AS granularity,
       intDiv(toUnixTimestamp64Milli(event_time), g.2) * g.2 AS window_start,
       countIf(NOT is_late) AS n,
       sumIf(ifNull(total, 0), NOT is_late) AS total_amount,
       avgIf(toFloat64(score), NOT is_late) AS avg_score,
       avgIf(toFloat64(ocr_score), NOT is_late) AS avg_ocr_score,
       quantileExactIf(0.5)(toFloat64(score), NOT is_late) AS median_score,
       quantileExactIf(0.5)(toFloat64(ocr_score), NOT is_late) AS median_ocr_score,
       quantileExactIf(0.5)(ocr_s, NOT is_late) AS p50,
       quantileExactIf(0.95)(ocr_s, NOT is_late) AS p95,
       sumMapIf(map(doc_type, toUInt64(1)), NOT is_late) AS type_counts,
       countIf(is_late) AS late,
       minIf(toUnixTimestamp64Milli(event_time), NOT is_late) AS min_et,
       maxIf(toUnixTimestamp64Milli(event_time), NOT is_late) AS max_et
FROM documents FINAL
ARRAY JOIN [('minute', toInt64(60000)), ('hour', toInt64(3600000))] AS g
GROUP BY business_id, granularity, window_start
"""

_ACTUAL_SQL = """
SELECT business_id, granularity, toUnixTimestamp64Milli(window_start) AS ws, document_count, total_amount,
       avg_score, avg_ocr_score, median_score, median_ocr_score, ocr_seconds_p50, ocr_seconds_p95,
       type_counts, late_events, toUnixTimestamp64Milli(min_event_time), toUnixTimestamp64Milli(max_event_time),
       is_final
FROM windows FINAL
"""


def _close(a: float, b: float, rel: float, abs_tol: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_tol)


def _f32(x: float) -> float:
    import struct

    return struct.unpack("f", struct.pack("f", x))[0]


def compare(client: Any) -> dict[str, Any]:
    """Report: counts, and up to 20 mismatches (empty ``mismatches`` = equal)."""
    expected = {(r[0], r[1], int(r[2])): r for r in client.query(_EXPECTED_SQL).result_rows}
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
        checks = [
            ("document_count", int(a[3]) == n, a[3], n),
            ("total_amount", _close(a[4], e[4], 1e-9, 1e-6), a[4], e[4]),
            ("avg_score", n == 0 or _close(a[5], e[5], 1e-9), a[5], e[5]),
            ("avg_ocr_score", n == 0 or _close(a[6], e[6], 1e-9), a[6], e[6]),
            ("median_score", n == 0 or _close(_f32(a[7]), _f32(e[7]), qrel, 0 if exact else 1e-9), a[7], e[7]),
            ("median_ocr_score", n == 0 or _close(_f32(a[8]), _f32(e[8]), qrel, 0 if exact else 1e-9), a[8], e[8]),
            ("ocr_seconds_p50", n == 0 or _close(a[9], e[9], qrel, 0 if exact else 1e-9), a[9], e[9]),
            ("ocr_seconds_p95", n == 0 or _close(a[10], e[10], qrel, 0 if exact else 1e-9), a[10], e[10]),
            ("type_counts", {k: int(v) for k, v in a[11].items() if v} == {k: int(v) for k, v in e[11].items() if v},
             a[11], e[11]),
            ("late_events", int(a[12]) == int(e[12]), a[12], e[12]),
            ("min_event_time", n == 0 or int(a[13]) == int(e[13]), a[13], e[13]),
            ("max_event_time", n == 0 or int(a[14]) == int(e[14]), a[14], e[14]),
        ]
        for name, ok, got, want in checks:
            if not ok and len(mismatches) < 20:
                mismatches.append(f"{key} {name}: windows={got} documents={want}")
    missing = [k for k in expected if k not in actual]
    for k in missing[:10]:
        mismatches.append(f"{k}: documents without a window row (n={expected[k][3]}, late={expected[k][12]})")
    doc_total, doc_late, doc_ids = client.query(
        "SELECT count(), countIf(is_late), uniqExact(document_id) FROM documents FINAL").result_rows[0]
    late_minute = sum(int(a[12]) for k, a in actual.items() if k[1] == "minute")
    late_hour = sum(int(a[12]) for k, a in actual.items() if k[1] == "hour")
    return {
        "windows": len(actual),
        "final_windows": sum(1 for a in actual.values() if a[15]),
        "expected_windows": len(expected),
        "missing": len(missing),
        "sketched_windows": sketched,
        "documents": int(doc_total),
        "distinct_documents": int(doc_ids),
        "late_documents": int(doc_late),
        "late_in_minute_windows": late_minute,
        "late_in_hour_windows": late_hour,
        "on_time_in_minute_windows": sum(int(a[3]) for k, a in actual.items() if k[1] == "minute"),
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
