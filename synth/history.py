"""A recent history of synthetic ``OcrResult`` events with daily patterns (the demo's backfill, dashboard tests).

Each business has a :class:`BusinessProfile`: a peak rate (documents per
minute) and a daily shape over the UTC hour of day — Gaussian bumps (a
breakfast rush, a lunch peak, an afternoon) above a night floor — so traffic
is quiet at night, peaks at lunch and differs in size between businesses.

:func:`daily_history` turns profiles and a span ``[start_ms, end_ms)`` into a
:class:`History`: per business, one :func:`synth.events.generate_events`
stream at the business's peak rate, thinned by the shape (an event at time
``t`` is kept with probability ``shape(t)``, so the kept events are a Poisson
process whose rate follows the curve); the businesses' streams are merged in
event-time order. By default nothing is out of order and nothing is late:
published before any newer traffic, no window of it closes before its last
event arrived. ``disorder`` (:class:`Disorder`) makes a fraction of each
business's events out of order or late, as :func:`~synth.events.generate_events`
does (the merge keeps each stream's arrival order). Same arguments, same events
(document ids included).

:attr:`History.counts` (events per business) and :attr:`History.total` are
complete once the history has been iterated (e.g. by
:func:`producers.events.publish_events`); :func:`expected_counts` recomputes
them without publishing (ground truth for tests).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from synth.events import generate_events

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True)
class BusinessProfile:
    """Daily traffic of one business (all hours UTC).

    ``peaks`` are ``(hour_of_day, height, width_h)``: a Gaussian bump centred
    at ``hour_of_day`` (0-24, wrapping at midnight) with relative height
    ``height`` (0-1) and standard deviation ``width_h`` hours. ``shape(t)`` is
    the highest bump at ``t`` or ``night`` where all bumps are below it,
    capped at 1; the rate at ``t`` is ``peak_per_minute * shape(t)``.
    """

    business_id: str
    peak_per_minute: float
    peaks: tuple[tuple[float, float, float], ...]
    night: float = 0.02

    def shape(self, t_ms: int) -> float:
        """Relative traffic (0-1) at epoch ms ``t_ms``."""
        hour = (t_ms % DAY_MS) / HOUR_MS
        level = self.night
        for centre, height, width in self.peaks:
            d = abs(hour - centre)
            d = min(d, 24.0 - d)  # wrap around midnight
            level = max(level, height * math.exp(-0.5 * (d / width) ** 2))
        return min(1.0, level)


# The demo's businesses: a cafe (breakfast + lunch), a bakery (early morning), a hardware
# store (afternoon) and an office sending invoices in working hours only (nothing at night).
DEMO_PROFILES: tuple[BusinessProfile, ...] = (
    BusinessProfile("demo-cafe", 4.0, ((8.0, 0.8, 1.0), (12.5, 1.0, 0.8), (16.5, 0.35, 1.5)), night=0.02),
    BusinessProfile("demo-hardware", 1.5, ((10.0, 0.8, 1.8), (15.0, 1.0, 2.0)), night=0.02),
    BusinessProfile("demo-bakery", 2.5, ((7.0, 1.0, 1.2), (12.0, 0.5, 1.0), (17.5, 0.4, 1.0)), night=0.01),
    BusinessProfile("demo-office", 0.8, ((10.0, 1.0, 1.5), (14.5, 0.8, 1.5)), night=0.0),
)


@dataclass(frozen=True)
class Disorder:
    """Out-of-order and late events of a history (fractions of each business's events, as in
    :func:`synth.events.generate_events`: ``out_of_order`` ones 1..``max_disorder_ms`` early,
    ``late`` ones ``late_delay_ms[0]..[1]`` ms behind their arrival position)."""

    out_of_order: float = 0.0
    max_disorder_ms: int = 4_000
    late: float = 0.0
    late_delay_ms: tuple[int, int] = (120_000, 600_000)


IN_ORDER = Disorder()


@dataclass
class History:
    """Events of :func:`daily_history`, merged in event-time order; iterate once."""

    profiles: tuple[BusinessProfile, ...]
    start_ms: int
    end_ms: int
    seed: int = 0
    scale: float = 1.0
    disorder: Disorder = IN_ORDER
    counts: dict[str, int] = field(default_factory=dict)
    _started: bool = False

    def __post_init__(self) -> None:
        if self.end_ms <= self.start_ms:
            raise ValueError("a history needs end_ms > start_ms")
        if self.scale <= 0:
            raise ValueError("scale must be positive")
        names = [p.business_id for p in self.profiles]
        if len(set(names)) != len(names):
            raise ValueError("one profile per business")
        self.counts = {name: 0 for name in names}

    @property
    def total(self) -> int:
        """Events produced so far (all of them once iterated)."""
        return sum(self.counts.values())

    def _business(self, k: int, profile: BusinessProfile) -> Iterator[dict[str, Any]]:
        rate = profile.peak_per_minute * self.scale / 60.0
        duration_s = (self.end_ms - self.start_ms) / 1000.0
        if rate * duration_s < 1:
            return
        d = self.disorder
        stream = generate_events((profile.business_id,), rate, duration_s, self.start_ms,
                                 seed=self.seed * 1000 + k, templates=64, out_of_order=d.out_of_order,
                                 max_disorder_ms=d.max_disorder_ms, late=d.late, late_delay_ms=d.late_delay_ms)
        keep = random.Random(f"history:{self.seed}:{profile.business_id}")
        for event in stream:
            if keep.random() < profile.shape(event["event_time"]):
                self.counts[profile.business_id] += 1
                yield event

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self._started:
            raise RuntimeError("a History is one pass: call daily_history() again to replay")
        self._started = True
        streams = [self._business(k, p) for k, p in enumerate(self.profiles)]
        return heapq.merge(*streams, key=lambda e: e["event_time"])


def daily_history(profiles: Iterable[BusinessProfile], start_ms: int, end_ms: int, *, seed: int = 0,
                  scale: float = 1.0, disorder: Disorder = IN_ORDER) -> History:
    """``OcrResult`` dicts over ``[start_ms, end_ms)`` following each profile's day (module docstring).

    ``scale`` multiplies every business's rate.
    """
    return History(tuple(profiles), int(start_ms), int(end_ms), seed=seed, scale=scale, disorder=disorder)


def expected_counts(profiles: Iterable[BusinessProfile], start_ms: int, end_ms: int, *, seed: int = 0,
                    scale: float = 1.0, before_ms: int | None = None,
                    disorder: Disorder = IN_ORDER) -> dict[str, int]:
    """Events per business that :func:`daily_history` with these arguments yields (event time < ``before_ms``)."""
    history = daily_history(profiles, start_ms, end_ms, seed=seed, scale=scale, disorder=disorder)
    out = {p.business_id: 0 for p in history.profiles}
    for event in history:
        if before_ms is None or event["event_time"] < before_ms:
            out[event["business_id"]] += 1
    return out
