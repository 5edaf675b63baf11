"""Late updates: closed windows recomputed exactly from the stored raw documents.

When a late (or too-late) document lands in a window that has already closed,
the window operator queues the window (:meth:`streams.windows.WindowOperator.drain_recompute`);
at its next flush, right after the ``documents`` insert, the sink calls
:meth:`LateUpdater.rows`, which runs ONE query — :func:`ocrstream.tables.window_aggregate_sql`
over the affected windows of every business, restricted to the merged event-time
ranges of those windows so ClickHouse reads only their ``(business_id, event_time)``
key ranges — and returns one ``windows`` row per window with ``status = 'late_update'``
and a new (higher) version. The result is exact (``quantileExact``), includes the
new documents and is idempotent: a replay after a crash recomputes the same rows.
See :mod:`streams.windows` for why this beats keeping closed windows in memory.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from ocrstream.tables import GRANULARITY_MS, STATUS_LATE_UPDATE, window_aggregate_sql
from streams.checkpoint import CLICKHOUSE_LOCK

#: (business_id, granularity, window_start ms, window_end ms)
WindowRef = tuple[str, str, int, int]


def merged_ranges(windows: list[WindowRef]) -> dict[str, list[tuple[int, int]]]:
    """Per business, the union of the windows' ``[start, end)`` as sorted disjoint ranges."""
    spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for business, _g, start, end in windows:
        spans[business].append((start, end))
    out: dict[str, list[tuple[int, int]]] = {}
    for business, items in spans.items():
        items.sort()
        merged: list[tuple[int, int]] = []
        for s, e in items:
            if merged and s <= merged[-1][1]:
                if e > merged[-1][1]:
                    merged[-1] = (merged[-1][0], e)
            else:
                merged.append((s, e))
        out[business] = merged
    return out


class LateUpdater:
    """Recomputes window rows from ``documents`` (one query per call; see module docstring)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.queries = 0
        self.windows = 0

    def rows(self, windows: list[WindowRef], emitted_at: int, version: Callable[[], int]) -> list[list[Any]]:
        """``windows`` table rows (:data:`ocrstream.tables.WINDOW_COLUMNS` order) for ``windows``."""
        if not windows:
            return []
        wanted = {(b, g, s): e for b, g, s, e in set(windows)}
        terms: list[str] = []
        params: dict[str, Any] = {"keys": list(wanted)}
        for i, (business, ranges) in enumerate(sorted(merged_ranges(list(windows)).items())):
            params[f"b{i}"] = business
            for j, (lo, hi) in enumerate(ranges):
                params[f"lo{i}_{j}"], params[f"hi{i}_{j}"] = lo, hi
                terms.append(f"(business_id = {{b{i}:String}} AND event_time >= fromUnixTimestamp64Milli("
                             f"{{lo{i}_{j}:Int64}}, 'UTC') AND event_time < fromUnixTimestamp64Milli("
                             f"{{hi{i}_{j}:Int64}}, 'UTC'))")
        where = f"({' OR '.join(terms)}) AND (business_id, granularity, window_start) IN {{keys:Array(Tuple(String, String, Int64))}}"
        granularities = tuple(sorted({g for _b, g, _s in wanted}, key=GRANULARITY_MS.__getitem__))
        with CLICKHOUSE_LOCK:
            result = self.client.query(window_aggregate_sql(where, granularities), parameters=params).result_rows
        self.queries += 1
        found: dict[tuple[str, str, int], tuple] = {(r[0], r[1], int(r[2])): r for r in result}
        out: list[list[Any]] = []
        for key, end in wanted.items():
            business, granularity, start = key
            r = found.get(key)
            # no document at all cannot happen (a late one triggered this); keep a zero row to be safe
            n = int(r[3]) if r else 0

            def val(i: int) -> float:
                x = float(r[i]) if r and n else 0.0  # noqa: B023
                return 0.0 if math.isnan(x) else x

            out.append([
                business, granularity, start, end, n, val(4), val(5), val(6), val(7), val(8), val(9), val(10),
                {str(k): int(v) for k, v in (r[11] if r else {}).items() if v}, int(r[12]) if r else 0,
                int(r[13]) if r else 0, int(r[14]) if r and n else start, int(r[15]) if r and n else start,
                1, STATUS_LATE_UPDATE, emitted_at, version(),
            ])  # fmt: skip
        self.windows += len(out)
        return out


__all__ = ["LateUpdater", "WindowRef", "merged_ranges"]
