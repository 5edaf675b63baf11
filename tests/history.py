"""A recent history of synthetic ``OcrResult`` events with a daily pattern (dashboard tests).

:func:`daily_history` chains one :func:`producers.events.generate_events` stream
per hour of ``[end_ms - hours, end_ms)``; the hour's rate follows a daily curve
(quiet at night, a peak at 13:00 UTC), so minute windows are dense by day and
gappy at night. Event times are in order within bounded disorder, plus a small
fraction of late events (2-8 minutes behind, after their minute window closed),
which the sink counts as late updates of final windows.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import Any

HOUR_MS = 3_600_000


def day_factor(hour_of_day: float) -> float:
    """Relative traffic at an hour of the UTC day: 0.12 at night .. 1.0 at 13:00."""
    return 0.12 + 0.88 * max(0.0, math.sin(math.pi * (hour_of_day - 5.0) / 16.0)) ** 1.5


def daily_history(businesses: tuple[str, ...], end_ms: int, *, hours: int = 24, peak_rate: float = 0.5,
                  seed: int = 0, late: float = 0.01) -> tuple[Iterator[dict[str, Any]], list[Any]]:
    """``(events, streams)``: the chained event dicts and the per-hour streams (their ``truth``)."""
    from producers.events import generate_events

    streams = []
    start_ms = end_ms - hours * HOUR_MS
    for h in range(hours):
        t0 = start_ms + h * HOUR_MS
        factor = day_factor(((t0 + HOUR_MS // 2) % (24 * HOUR_MS)) / HOUR_MS)
        streams.append(generate_events(businesses, rate=peak_rate * factor, duration_s=3600, start_ms=t0,
                                       seed=seed * 1000 + h, out_of_order=0.05, max_disorder_ms=2_000,
                                       late=late, late_delay_ms=(120_000, 480_000), templates=64))
    return itertools.chain.from_iterable(streams), streams


def total_events(streams: list[Any]) -> int:
    """Events of all streams (complete once they were iterated)."""
    return sum(v["count"] for s in streams for v in s.truth.values())
