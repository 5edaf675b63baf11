"""Per-window accumulators of the event-time window operator (:mod:`streams.windows`).

One :class:`WindowAcc` holds the aggregate of the *counted* events of one
open ``(business_id, granularity, window_start)`` window; :class:`FinalAgg` is
its computed result at one emission. It turns into a ``WindowAggregate`` row
(``schemas/WindowAggregate.avsc`` / the ClickHouse ``windows`` table,
:mod:`ocrstream.tables`) with :data:`ocrstream.tables.WINDOW_FIELDS` as keys, exactly. Closed
windows keep no accumulator: late updates are recomputed from the stored
documents (:mod:`streams.recompute`).

Aggregates (counted events = all but the too-late ones)
-------------------------------------------------------
* ``document_count``  number of counted events;
* ``total_amount``    sum of ``fields.total`` (``None``/missing counts as 0);
* ``avg_score`` / ``avg_ocr_score``  arithmetic means (float64 running sums, in
  arrival order; equal to ClickHouse ``avg`` up to float rounding);
* ``median_score`` / ``median_ocr_score`` / ``ocr_seconds_p50`` /
  ``ocr_seconds_p95`` (``timings.ocr_s``): quantiles, see below;
* ``type_counts``     ``doc_type -> count``;
* ``min_event_time`` / ``max_event_time``  of the counted events;
* ``late_events``     counted events that arrived after their minute window closed
  (within allowed lateness; they are in every aggregate above);
* ``too_late_events`` events beyond allowed lateness (in no other aggregate).

A window with no counted event (it only saw too-late events) has
``document_count = 0``, ``total_amount``, averages and quantiles ``0.0``,
``type_counts = {}`` and ``min_event_time = max_event_time = window_start``.

Quantile definition (matches ClickHouse ``quantileExact``)
----------------------------------------------------------
For ``n`` values sorted ascending ``v[0] <= ... <= v[n-1]`` the quantile at
``level`` is ``v[min(int(level * n), n - 1)]`` (``int`` truncates; ``level * n``
is the same IEEE double product ClickHouse computes). This is exactly
ClickHouse's ``quantileExact(level)`` (and ``quantileExactHigh``): no
interpolation, the result is always one of the input values, and for an even
``n`` the median is the *upper* middle element ``v[n // 2]``. It is *not*
``median``/``quantile`` (reservoir-sampled, approximate), nor
``quantileExactLow`` (lower middle for even ``n``), nor
``quantileExactInclusive``/``Exclusive`` (interpolating). The ClickHouse check
of a final row is therefore::

    SELECT quantileExact(0.5)(score), quantileExact(0.5)(ocr_score),
           quantileExact(0.5)(ocr_s), quantileExact(0.95)(ocr_s)
    FROM documents FINAL
    WHERE business_id = {b} AND event_time >= {start} AND event_time < {end}
      AND NOT is_late

``score``/``ocr_score`` are ``Float32`` columns, so compare against
``toFloat32(median_score)`` (identical when the event came through Avro, whose
``float`` is already 32-bit; selection commutes with monotone rounding).

Exact up to a size, then a DDSketch
-----------------------------------
Windows keep their values (three Python float lists, lazily sorted: a sort of
an already-sorted prefix plus a new tail is a linear Timsort merge) while they
hold at most ``exact_limit`` counted events (default 8192, like ClickHouse's
own ``quantile`` reservoir), so every window of up to 8192 documents has exact
quantiles. Beyond that the three value lists are converted, once, to
DDSketches (``ddsketch.LogarithmicMapping`` keys with a dict store, mergeable
and snapshot-able as ``key -> count``): memory becomes O(log-range / alpha)
instead of O(n) and a quantile query costs O(bins), so hour windows of a busy
business stay cheap. Guarantee for sketched windows: the returned quantile
``q~`` satisfies ``|q~ - q| <= alpha * |q|`` where ``q`` is the exact
``quantileExact`` value defined above (default ``alpha = 0.005``: 0.5 %). The
row does not say which mode was used; :attr:`FinalAgg.exact` /
``WindowResult.quantiles_exact`` does.
"""

from __future__ import annotations

import base64
import math
from array import array
from dataclasses import dataclass
from typing import Any

from ddsketch.mapping import LogarithmicMapping

from ocrstream.tables import STATUS_CURRENT


DEFAULT_EXACT_LIMIT = 8192
DEFAULT_RELATIVE_ACCURACY = 0.005


def quantile_exact(sorted_values: list[float], level: float) -> float:
    """ClickHouse ``quantileExact(level)`` of already sorted values (0.0 when empty)."""
    n = len(sorted_values)
    if n == 0:
        return 0.0
    i = int(level * n) if level < 1 else n - 1
    return sorted_values[i if i < n else n - 1]


def _pack_floats(values: list[float]) -> str:
    """Bit-exact, compact (8 bytes/value + base64) JSON-safe encoding of floats."""
    return base64.b64encode(array("d", values).tobytes()).decode("ascii")


def _unpack_floats(text: str) -> list[float]:
    a = array("d")
    a.frombytes(base64.b64decode(text))
    return a.tolist()


@dataclass(frozen=True, slots=True)
class AggConfig:
    """Quantile settings shared by all accumulators of one operator."""

    exact_limit: int = DEFAULT_EXACT_LIMIT
    relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY

    def mapping(self) -> LogarithmicMapping:
        return LogarithmicMapping(self.relative_accuracy)


class QuantileSketch:
    """DDSketch (log mapping from the ``ddsketch`` library, sparse dict store).

    ``quantile(level)`` estimates the ``quantileExact`` element (rank
    ``min(int(level*n), n-1)``) with relative error <= ``mapping.relative_accuracy``.
    """

    __slots__ = ("_mapping", "_key", "_min", "pos", "neg", "zero", "count")

    def __init__(self, mapping: LogarithmicMapping) -> None:
        self._mapping = mapping
        self._key = mapping.key
        self._min = mapping.min_possible
        self.pos: dict[int, int] = {}
        self.neg: dict[int, int] = {}
        self.zero = 0
        self.count = 0

    def add(self, value: float) -> None:
        if value > self._min:
            k = self._key(value)
            pos = self.pos
            pos[k] = pos.get(k, 0) + 1
        elif value < -self._min:
            k = self._key(-value)
            self.neg[k] = self.neg.get(k, 0) + 1
        else:
            self.zero += 1
        self.count += 1

    def merge(self, other: QuantileSketch) -> None:
        for k, c in other.pos.items():
            self.pos[k] = self.pos.get(k, 0) + c
        for k, c in other.neg.items():
            self.neg[k] = self.neg.get(k, 0) + c
        self.zero += other.zero
        self.count += other.count

    def quantile(self, level: float) -> float:
        return self.quantiles((level,))[0]

    def quantiles(self, levels: tuple[float, ...]) -> list[float]:
        """Estimates at ascending ``levels`` in one pass over the sorted bins."""
        n = self.count
        if n == 0:
            return [0.0] * len(levels)
        ranks = [min(int(lv * n) if lv < 1 else n - 1, n - 1) for lv in levels]
        out: list[float] = []
        value = self._mapping.value
        i = 0
        seen = 0
        for k in sorted(self.neg, reverse=True):  # most negative first
            seen += self.neg[k]
            while i < len(ranks) and seen > ranks[i]:
                out.append(-value(k))
                i += 1
        seen += self.zero
        while i < len(ranks) and seen > ranks[i]:
            out.append(0.0)
            i += 1
        for k in sorted(self.pos):
            seen += self.pos[k]
            while i < len(ranks) and seen > ranks[i]:
                out.append(value(k))
                i += 1
        return out

    def state(self) -> list[Any]:
        return [list(self.pos.items()), list(self.neg.items()), self.zero, self.count]

    @classmethod
    def from_state(cls, mapping: LogarithmicMapping, state: list[Any]) -> QuantileSketch:
        s = cls(mapping)
        s.pos = {int(k): int(c) for k, c in state[0]}
        s.neg = {int(k): int(c) for k, c in state[1]}
        s.zero = int(state[2])
        s.count = int(state[3])
        return s


class FinalAgg:
    """Computed aggregate of a window (what a row carries besides its key/flags)."""

    __slots__ = (
        "count", "total", "avg_score", "avg_ocr_score", "median_score", "median_ocr_score",
        "ocr_p50", "ocr_p95", "types", "late", "min_et", "max_et", "exact", "too_late",
    )  # fmt: skip

    def __init__(
        self, count: int, total: float, avg_score: float, avg_ocr_score: float,
        median_score: float, median_ocr_score: float, ocr_p50: float, ocr_p95: float,
        types: dict[str, int], late: int, min_et: int | None, max_et: int | None,
        exact: bool, too_late: int = 0,
    ) -> None:  # fmt: skip
        self.count = count
        self.total = total
        self.avg_score = avg_score
        self.avg_ocr_score = avg_ocr_score
        self.median_score = median_score
        self.median_ocr_score = median_ocr_score
        self.ocr_p50 = ocr_p50
        self.ocr_p95 = ocr_p95
        self.types = types
        self.late = late
        self.min_et = min_et
        self.max_et = max_et
        self.exact = exact
        self.too_late = too_late

    def row(
        self, business_id: str, granularity: str, start: int, end: int, status: str, emitted_at: int
    ) -> dict[str, Any]:
        """The ``WindowAggregate`` row (keys = :data:`ocrstream.tables.WINDOW_FIELDS`); ``status`` is
        ``current``/``final``/``late_update`` (:mod:`ocrstream.tables`)."""
        return {
            "business_id": business_id,
            "granularity": granularity,
            "window_start": start,
            "window_end": end,
            "document_count": self.count,
            "total_amount": self.total,
            "avg_score": self.avg_score,
            "avg_ocr_score": self.avg_ocr_score,
            "median_score": self.median_score,
            "median_ocr_score": self.median_ocr_score,
            "ocr_seconds_p50": self.ocr_p50,
            "ocr_seconds_p95": self.ocr_p95,
            "type_counts": dict(self.types),
            "late_events": self.late,
            "too_late_events": self.too_late,
            "min_event_time": start if self.min_et is None else self.min_et,
            "max_event_time": start if self.max_et is None else self.max_et,
            "is_final": status != STATUS_CURRENT,
            "status": status,
            "emitted_at": emitted_at,
        }

    def state(self) -> list[Any]:
        """Every value as a list (comparisons in tests)."""
        return [
            self.count, self.total, self.avg_score, self.avg_ocr_score, self.median_score,
            self.median_ocr_score, self.ocr_p50, self.ocr_p95, self.types, self.late,
            self.min_et, self.max_et, self.exact, self.too_late,
        ]  # fmt: skip


class WindowAcc:
    """Running aggregate of the counted events of one open window."""

    __slots__ = (
        "cfg", "count", "total", "sum_score", "sum_ocr", "min_et", "max_et", "late", "types",
        "scores", "ocr_scores", "ocr_secs", "sorted_n", "sketches", "too_late",
    )  # fmt: skip

    def __init__(self, cfg: AggConfig) -> None:
        self.cfg = cfg
        self.count = 0
        self.total = 0.0
        self.sum_score = 0.0
        self.sum_ocr = 0.0
        self.min_et: int | None = None
        self.max_et: int | None = None
        self.late = 0  # counted events that arrived after their minute window closed
        self.too_late = 0  # events beyond allowed lateness (not counted)
        self.types: dict[str, int] = {}
        # exact mode: value lists (sorted_n = length of the sorted prefix)
        self.scores: list[float] | None = []
        self.ocr_scores: list[float] = []
        self.ocr_secs: list[float] = []
        self.sorted_n = 0
        # sketch mode: (score, ocr_score, ocr_s) sketches
        self.sketches: tuple[QuantileSketch, QuantileSketch, QuantileSketch] | None = None

    def add(self, et: int, total: float, score: float, ocr_score: float, ocr_s: float, doc_type: str) -> None:
        """Fold one counted event in."""
        self.count += 1
        self.total += total
        self.sum_score += score
        self.sum_ocr += ocr_score
        if self.min_et is None:
            self.min_et = self.max_et = et
        elif et < self.min_et:
            self.min_et = et
        elif et > self.max_et:  # type: ignore[operator]
            self.max_et = et
        types = self.types
        types[doc_type] = types.get(doc_type, 0) + 1
        scores = self.scores
        if scores is not None:
            scores.append(score)
            self.ocr_scores.append(ocr_score)
            self.ocr_secs.append(ocr_s)
            if self.count > self.cfg.exact_limit:
                self._to_sketch()
        else:
            sk = self.sketches
            sk[0].add(score)  # type: ignore[index]
            sk[1].add(ocr_score)  # type: ignore[index]
            sk[2].add(ocr_s)  # type: ignore[index]

    def _to_sketch(self) -> None:
        mapping = self.cfg.mapping()
        sketches = (QuantileSketch(mapping), QuantileSketch(mapping), QuantileSketch(mapping))
        for sk, values in zip(sketches, (self.scores, self.ocr_scores, self.ocr_secs), strict=True):
            for v in values:  # type: ignore[union-attr]
                sk.add(v)
        self.sketches = sketches
        self.scores = None
        self.ocr_scores = []
        self.ocr_secs = []
        self.sorted_n = 0

    @property
    def exact(self) -> bool:
        return self.scores is not None

    def finalize(self) -> FinalAgg:
        """Compute the aggregate now (quantiles included); the acc stays usable."""
        n = self.count
        if n == 0:
            return FinalAgg(
                0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, {}, self.late, None, None, self.exact,
                self.too_late,
            )
        if self.scores is not None:
            if self.sorted_n != n:
                self.scores.sort()
                self.ocr_scores.sort()
                self.ocr_secs.sort()
                self.sorted_n = n
            secs = self.ocr_secs
            med_s = quantile_exact(self.scores, 0.5)
            med_o = quantile_exact(self.ocr_scores, 0.5)
            p50 = quantile_exact(secs, 0.5)
            p95 = quantile_exact(secs, 0.95)
        else:
            sk = self.sketches
            med_s = sk[0].quantile(0.5)  # type: ignore[index]
            med_o = sk[1].quantile(0.5)  # type: ignore[index]
            p50, p95 = sk[2].quantiles((0.5, 0.95))  # type: ignore[index]
        return FinalAgg(
            n, self.total, self.sum_score / n, self.sum_ocr / n, med_s, med_o, p50, p95,
            dict(self.types), self.late, self.min_et, self.max_et, self.scores is not None,
            self.too_late,
        )  # fmt: skip

    # -- snapshot ---------------------------------------------------------------
    def state(self) -> list[Any]:
        """JSON-serialisable state (value lists packed as base64 float64); shares no mutable
        object with the accumulator, so it may be serialised later (the committer thread)."""
        if self.scores is not None:
            q: dict[str, Any] = {
                "x": [_pack_floats(self.scores), _pack_floats(self.ocr_scores), _pack_floats(self.ocr_secs)],
                "sorted": self.sorted_n,
            }
        else:
            q = {"s": [s.state() for s in self.sketches]}  # type: ignore[union-attr]
        return [
            self.count, self.total, self.sum_score, self.sum_ocr, self.min_et, self.max_et,
            self.late, dict(self.types), 0, q, self.too_late,
        ]  # fmt: skip

    @classmethod
    def from_state(cls, cfg: AggConfig, s: list[Any]) -> WindowAcc:
        acc = cls(cfg)
        acc.count = int(s[0])
        acc.total = float(s[1])
        acc.sum_score = float(s[2])
        acc.sum_ocr = float(s[3])
        acc.min_et = s[4]
        acc.max_et = s[5]
        acc.late = int(s[6])
        acc.types = {str(k): int(v) for k, v in s[7].items()}
        # s[8] is an unused slot (0; older snapshots hold an emission count there): ignored
        acc.too_late = int(s[10]) if len(s) > 10 else 0  # absent in snapshot v1
        q = s[9]
        if "x" in q:
            acc.scores, acc.ocr_scores, acc.ocr_secs = (_unpack_floats(t) for t in q["x"])
            acc.sorted_n = int(q["sorted"])
        else:
            mapping = cfg.mapping()
            acc.scores = None
            acc.sketches = tuple(QuantileSketch.from_state(mapping, st) for st in q["s"])  # type: ignore[assignment]
        return acc


def brute_force_row(
    events: list[dict[str, Any]], late_count: int, business_id: str, granularity: str, start: int, end: int,
    too_late_count: int = 0,
) -> dict[str, Any]:
    """Reference aggregation of a window's counted events (tests).

    Independent of :class:`WindowAcc`: sums with :func:`math.fsum`, sorts copies.
    ``is_final``/``status``/``emitted_at`` are left out.
    """
    n = len(events)
    scores = sorted(float(e["score"]) for e in events)
    ocr = sorted(float(e["ocr_score"]) for e in events)
    secs = sorted(float((e.get("timings") or {}).get("ocr_s", 0.0)) for e in events)
    types: dict[str, int] = {}
    for e in events:
        types[e["doc_type"]] = types.get(e["doc_type"], 0) + 1
    totals = [(e.get("fields") or {}).get("total") for e in events]
    return {
        "business_id": business_id,
        "granularity": granularity,
        "window_start": start,
        "window_end": end,
        "document_count": n,
        "total_amount": math.fsum(0.0 if t is None else float(t) for t in totals),
        "avg_score": math.fsum(scores) / n if n else 0.0,
        "avg_ocr_score": math.fsum(ocr) / n if n else 0.0,
        "median_score": scores[min(int(0.5 * n), n - 1)] if n else 0.0,
        "median_ocr_score": ocr[min(int(0.5 * n), n - 1)] if n else 0.0,
        "ocr_seconds_p50": secs[min(int(0.5 * n), n - 1)] if n else 0.0,
        "ocr_seconds_p95": secs[min(int(0.95 * n), n - 1)] if n else 0.0,
        "type_counts": types,
        "late_events": late_count,
        "too_late_events": too_late_count,
        "min_event_time": min(e["event_time"] for e in events) if n else start,
        "max_event_time": max(e["event_time"] for e in events) if n else start,
    }
