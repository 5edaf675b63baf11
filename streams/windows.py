"""Event-time tumbling-window operator (pure Python, no broker, no Faust).

The Faust agent feeds records in with :meth:`WindowOperator.process` /
:meth:`~WindowOperator.process_batch`, calls :meth:`~WindowOperator.tick`
periodically (say every ``emit_interval_ms / 2``) and forwards what comes back:
:class:`WindowResult` rows to the ``windows`` topic / table, :class:`LateEvent`
records to the late topic. Faust's own window expiry (``on_window_close``,
wall-clock based) is deliberately not used.

Semantics
---------
**Event time** is the record's own ``event_time`` field (epoch ms; a
``datetime`` as fastavro decodes ``timestamp-millis`` is accepted too), never
the Kafka timestamp or the wall clock.

**Windows.** Tumbling, epoch-aligned, ``[window_start, window_end)`` (start
inclusive, end exclusive) per ``business_id``, one per granularity (default
``minute`` = 60 000 ms and ``hour`` = 3 600 000 ms, both from the same
stream; sizes must divide each other).

**Watermarks.** Per input partition: ``watermark = max event time seen on the
partition - out_of_orderness_ms``; it never goes back. Records are keyed by
``business_id``, so every window's events live on one partition and that
partition's watermark is authoritative for them. Hence, by default
(``watermark_scope="partition"``), **each partition's windows close on that
partition's own watermark**: partitions close independently, a slow or
stalled partition never holds back the others, and the output of a partition
is a function of its own record sequence only (so a replay after a crash
reproduces it). ``watermark_scope="operator"`` gives Flink's rule instead: the
closing watermark is the minimum over the *active* (non-idle) partitions this
operator owns, kept monotonic (a partition that has not sent a record since it
was assigned holds it back until it becomes idle). :attr:`WindowOperator.watermark`
reports that Flink-style minimum in both modes.

**Idle partitions.** A partition that has had no record for
``idle_timeout_ms`` of processing time is idle: it is excluded from the
operator-wide minimum, and its own watermark advances with processing time as
if event time kept flowing at wall-clock speed since its last record
(``watermark = watermark_at_last_record + (now - last_record_processing_time)``);
if all partitions are idle the operator-wide watermark is the minimum of
those advanced watermarks. So windows close when traffic stops. Processing
time comes from the injected ``clock`` (ms, monotonic) or the ``now_ms``
arguments; only elapsed times are used, never its absolute value.

**Closing.** A window closes when the closing watermark passes ``end + grace``
(``watermark >= window_end + grace_ms``). It then emits one FINAL row
(``is_final = True``) - exactly once per close - and its accumulator is
dropped; a compact copy of the final aggregate is kept for
``closed_retention_ms`` of watermark progress after the close, to account for
late events. When it is dropped while a late event's re-emission is still
pending (one batch can move the watermark past the retention before the next
emission), that FINAL row is emitted first, so no ``late_events`` update is lost.

**Current results.** While open, a window that changed emits CURRENT rows
(``is_final = False``); all changed windows are emitted together at most once
every ``emit_interval_ms`` of processing time (from ``process*``/``tick``), or
on :meth:`~WindowOperator.flush`. A window that closes before its next current
emission only emits its final row.

**Late events** are never dropped. An event is late when its *finest* window
(the minute) has already closed, i.e. ``watermark >= minute_end + grace_ms``
at its arrival. Lateness is a property of the event, not of each window, so
the ``documents`` table's one ``is_late`` flag agrees with every granularity:
a late event is folded into NO window's count/sum/averages/quantiles/min/max;
it only increments ``late_events`` of each window containing it (minute and
hour alike, whether the hour window is still open or not). Therefore, for
every window row: ``document_count = count() WHERE NOT is_late`` and
``late_events = count() WHERE is_late`` over the raw documents of the window.
The event comes back as a :class:`LateEvent` (the stream layer sends it to the
late topic and writes it with ``is_late = 1``); each affected window is marked
changed, and closed ones re-emit their FINAL row with the new ``late_events``
at the next emission (coalesced like current rows: a burst of late events
gives one re-emission per window per ``emit_interval_ms``). A late event for
a window that saw no on-time event creates a late-only window
(``document_count = 0``). If the window closed more than
``closed_retention_ms`` (of watermark) ago its final aggregate is gone: the
event is still returned (``LateWindow.tracked = False``) and counted in
``stats["late_untracked"]``, but no row is emitted for that window (emitting
one would overwrite the real final row).

**State** is per input partition: open windows keyed by
``(granularity, business_id, window_start)``, closed finals within retention,
the watermark, the pending (changed) set and the **last processed offset**.
A record whose offset is ``<=`` the partition's last processed offset is a
redelivery and is skipped (``stats["duplicates"]``), which makes replays after
a restore idempotent. :meth:`~WindowOperator.snapshot` /
:meth:`~WindowOperator.restore` cover all of it as a JSON-serialisable dict
(value lists packed as base64 float64); :meth:`~WindowOperator.revoke` /
:meth:`~WindowOperator.assign` move single partitions between workers. Resume
exactly by restoring the snapshot and seeking each partition to
``last_offsets()[p] + 1``.

**Invalid records** (no ``event_time``/``business_id``, non-numeric values)
come back as :class:`Rejected` (for the dead-letter topic); they change no
state except that their offset counts as processed.

**Determinism.** Given the same per-partition record sequence and the same
processing times, output is identical, also across :meth:`snapshot` /
:meth:`restore` (tested). Idle advancement depends on processing time, so it
is the one source of non-replayable decisions (which events of a resumed,
previously idle partition are late); in ``"operator"`` scope the interleaving
of partitions matters as well, and partitions should be :meth:`assign`-ed up
front (a partition first seen later cannot lower the already advanced
operator watermark, exactly like a late-joining source in Flink).

**Quantiles** are exact (ClickHouse ``quantileExact`` definition) for windows
of up to ``exact_limit`` on-time events and DDSketch estimates (relative error
<= ``relative_accuracy``) beyond; see :mod:`streams.aggregates`.

**API**::

    op = WindowOperator(settings.stream, ("minute", "hour"), clock=monotonic_ms,
                        wall_clock=epoch_ms, watermark_scope=None, closed_retention_ms=None,
                        exact_limit=8192, relative_accuracy=0.005)
    # watermark_scope / closed_retention_ms: None = StreamSettings' values
    # (defaults "partition" / 3 600 000 when the settings lack them)
    op.process(partition, offset, record, now_ms=None) -> list[Emission]
    op.process_batch(partition, [(offset, record), ...], now_ms=None) -> list[Emission]
    op.tick(now_ms=None) -> list[Emission]      # idle advancement + due current rows
    op.flush(now_ms=None) -> list[Emission]     # all pending rows now
    op.snapshot(now_ms=None, partitions=None) -> dict   # JSON-serialisable
    op.restore(snapshot, now_ms=None)
    op.revoke(partitions, now_ms=None) -> {partition: part_snapshot}
    op.assign(partitions, {partition: part_snapshot}, now_ms=None)
    op.last_offsets() -> {partition: last processed offset}
    Emission = WindowResult | LateEvent | Rejected

**Rows** (:attr:`WindowResult.row`) have exactly the ``WindowAggregate`` field
names (see :mod:`streams.aggregates` for the aggregate and median definitions);
``emitted_at`` is the injected ``wall_clock`` (epoch ms). The ClickHouse
``windows.version`` column is the sink's: :attr:`WindowResult.revision`
(per-window emission counter, deterministic under replay, final > current)
is a suitable version.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from ocrstream import metrics
from ocrstream.settings import StreamSettings
from streams.aggregates import (
    DEFAULT_EXACT_LIMIT,
    DEFAULT_RELATIVE_ACCURACY,
    AggConfig,
    FinalAgg,
    WindowAcc,
)

GRANULARITY_MS: dict[str, int] = {
    "second": 1_000,
    "minute": 60_000,
    "hour": 3_600_000,
    "day": 86_400_000,
}

SNAPSHOT_VERSION = 1

WindowKey = tuple[int, str, int]  # (granularity index, business_id, window_start)


class InvalidRecord(ValueError):
    """Raised internally for an unusable field; surfaces as a :class:`Rejected` emission."""


@dataclass(frozen=True, slots=True)
class WindowResult:
    """One ``WindowAggregate`` row (current or final) of one window."""

    row: dict[str, Any]
    partition: int
    revision: int
    quantiles_exact: bool

    @property
    def is_final(self) -> bool:
        return bool(self.row["is_final"])

    @property
    def key(self) -> str:
        """Topic key of the compacted ``windows`` topic: ``business_id|granularity|window_start``."""
        r = self.row
        return f"{r['business_id']}|{r['granularity']}|{r['window_start']}"


@dataclass(frozen=True, slots=True)
class LateWindow:
    granularity: str
    window_start: int
    window_end: int
    #: False when the window's final aggregate is past retention: no row update.
    tracked: bool


@dataclass(frozen=True, slots=True)
class LateEvent:
    """An event that arrived after its (minute) window closed; for the late topic."""

    record: dict[str, Any]
    partition: int
    offset: int
    business_id: str
    event_time: int
    watermark: int
    windows: tuple[LateWindow, ...]


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record without a usable ``business_id``/``event_time``/numeric values (for the
    dead-letter topic). It changes no state except that its offset counts as processed."""

    record: Any
    partition: int
    offset: int
    reason: str


Emission = WindowResult | LateEvent | Rejected


def _default_clock() -> int:
    return time.monotonic_ns() // 1_000_000


def _default_wall_clock() -> int:
    return time.time_ns() // 1_000_000


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MS = timedelta(milliseconds=1)


def _as_ms(value: Any) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return (value - _EPOCH) // _ONE_MS
    if isinstance(value, bool) or value is None:
        raise InvalidRecord(f"event_time must be epoch ms, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(f"event_time must be epoch ms, got {value!r}") from exc


class _Partition:
    """All state of one input partition."""

    __slots__ = (
        "pid", "last_offset", "max_et", "base_wm", "wm", "last_seen",
        "windows", "heap", "closed", "closed_q", "dirty",
    )  # fmt: skip

    def __init__(self, pid: int, now: int) -> None:
        self.pid = pid
        self.last_offset = -1
        self.max_et: int | None = None
        self.base_wm: int | None = None  # watermark right after the last record
        self.wm: int | None = None  # current watermark (idle-advanced), monotonic
        self.last_seen = now  # processing time of the last record (or of assignment)
        self.windows: dict[WindowKey, WindowAcc] = {}
        self.heap: list[tuple[int, int, str, int]] = []  # (close_at, gi, business, start)
        self.closed: dict[WindowKey, FinalAgg] = {}
        self.closed_q: deque[tuple[int, WindowKey]] = deque()  # (close_at, key), close order
        self.dirty: dict[WindowKey, None] = {}  # ordered set of changed windows


class WindowOperator:
    """Tumbling event-time windows per ``business_id``; see the module docstring.

    ``clock`` returns processing time in ms (monotonic) and is used when a
    ``now_ms`` argument is omitted; ``wall_clock`` (epoch ms) stamps
    ``emitted_at``.
    """

    def __init__(
        self,
        settings: StreamSettings,
        granularities: Iterable[str] = ("minute", "hour"),
        clock: Callable[[], int] = _default_clock,
        *,
        wall_clock: Callable[[], int] = _default_wall_clock,
        watermark_scope: Literal["partition", "operator"] | None = None,
        closed_retention_ms: int | None = None,
        exact_limit: int = DEFAULT_EXACT_LIMIT,
        relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY,
    ) -> None:
        # None: from settings (StreamSettings.watermark_scope / closed_retention_ms when present)
        if watermark_scope is None:
            watermark_scope = getattr(settings, "watermark_scope", "partition")
        if closed_retention_ms is None:
            closed_retention_ms = int(getattr(settings, "closed_retention_ms", 3_600_000))
        names = tuple(granularities)
        if not names:
            raise ValueError("at least one granularity")
        unknown = [g for g in names if g not in GRANULARITY_MS]
        if unknown:
            raise ValueError(f"unknown granularities {unknown}; known: {sorted(GRANULARITY_MS)}")
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate granularities {names}")
        names = tuple(sorted(names, key=GRANULARITY_MS.__getitem__))
        sizes = tuple(GRANULARITY_MS[g] for g in names)
        for small, big in zip(sizes, sizes[1:]):
            if big % small:
                raise ValueError("window sizes must divide each other")
        if watermark_scope not in ("partition", "operator"):
            raise ValueError(f"watermark_scope must be 'partition' or 'operator', got {watermark_scope!r}")
        if settings.out_of_orderness_ms < 0 or settings.grace_ms < 0 or closed_retention_ms < 0:
            raise ValueError("out_of_orderness_ms, grace_ms and closed_retention_ms must be >= 0")
        self.settings = settings
        self.granularities: tuple[str, ...] = names
        self.sizes: tuple[int, ...] = sizes
        self._gs = tuple(enumerate(sizes))
        self.ooo = settings.out_of_orderness_ms
        self.grace = settings.grace_ms
        self.idle_timeout = settings.idle_timeout_ms
        self.emit_interval = settings.emit_interval_ms
        self.retention = closed_retention_ms
        self.scope = watermark_scope
        self._clock = clock
        self._wall_clock = wall_clock
        self._cfg = AggConfig(exact_limit=exact_limit, relative_accuracy=relative_accuracy)
        self._parts: dict[int, _Partition] = {}
        self._gwm: int | None = None  # operator-scope closing watermark (monotonic)
        self._next_emit: int | None = None
        self.stats: dict[str, int] = {
            "events": 0,
            "late": 0,
            "late_untracked": 0,
            "duplicates": 0,
            "rejected": 0,
            "windows_closed": 0,
            "rows_emitted": 0,
        }

    # -- public API ---------------------------------------------------------------
    def process(self, partition: int, offset: int, record: dict[str, Any], now_ms: int | None = None) -> list[Emission]:
        """Feed one record read at ``offset`` of ``partition``; returns what to forward."""
        return self.process_batch(partition, ((offset, record),), now_ms)

    def process_batch(
        self, partition: int, records: Iterable[tuple[int, dict[str, Any]]], now_ms: int | None = None
    ) -> list[Emission]:
        """Feed ``(offset, record)`` pairs of one partition, in offset order (the fast path)."""
        now = self._clock() if now_ms is None else now_ms
        ps = self._parts.get(partition)
        if ps is None:
            ps = self._parts[partition] = _Partition(partition, now)
        out: list[Emission] = []
        operator_scope = self.scope == "operator"
        ooo = self.ooo
        grace = self.grace
        idle = self.idle_timeout
        gs = self._gs
        size0 = self.sizes[0]
        cfg = self._cfg
        windows = ps.windows
        heap = ps.heap
        dirty = ps.dirty
        stats = self.stats
        n_events = 0
        for offset, record in records:
            if offset <= ps.last_offset:
                stats["duplicates"] += 1
                continue
            try:  # validate and extract everything first: a bad record changes no state
                et = record["event_time"]
                if et.__class__ is not int:
                    et = _as_ms(et)
                business = record["business_id"]
                if business.__class__ is not str or not business:
                    raise InvalidRecord("business_id must be a non-empty string")
                fields = record.get("fields")
                total = fields.get("total") if fields else None
                total = 0.0 if total is None else float(total)
                score = float(record.get("score", 0.0))
                ocr_score = float(record.get("ocr_score", 0.0))
                timings = record.get("timings")
                ocr_s = float(timings.get("ocr_s", 0.0)) if timings else 0.0
                doc_type = record.get("doc_type") or ""
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                out.append(Rejected(record, partition, offset, f"{type(exc).__name__}: {exc}"))
                ps.last_offset = offset
                stats["rejected"] += 1
                continue
            # idle advancement (processing time since the last record)
            if ps.base_wm is not None and now - ps.last_seen >= idle:
                adv = ps.base_wm + (now - ps.last_seen)
                if adv > ps.wm:  # type: ignore[operator]
                    ps.wm = adv
            ps.base_wm = ps.wm
            ps.last_seen = now
            ps.last_offset = offset
            n_events += 1
            if operator_scope:
                wm = self._operator_wm(now, out)
            else:
                wm = ps.wm
                if wm is not None and heap and heap[0][0] <= wm:
                    self._close(ps, wm, out)
            # lateness: is the event's finest window closed?
            if wm is not None and wm >= et - et % size0 + size0 + grace:
                out.append(self._late(ps, offset, record, business, et, wm))
            else:
                for gi, size in gs:
                    start = et - et % size
                    key = (gi, business, start)
                    acc = windows.get(key)
                    if acc is None:
                        acc = windows[key] = WindowAcc(cfg)
                        heapq.heappush(heap, (start + size + grace, gi, business, start))
                    acc.add(et, total, score, ocr_score, ocr_s, doc_type)
                    dirty[key] = None
            # watermark advance
            if ps.max_et is None or et > ps.max_et:
                ps.max_et = et
                nw = et - ooo
                if ps.wm is None or nw > ps.wm:
                    ps.wm = ps.base_wm = nw
                    if operator_scope:
                        self._operator_wm(now, out)
                    elif heap and heap[0][0] <= nw:
                        self._close(ps, nw, out)
        stats["events"] += n_events
        self._maybe_emit(now, out)
        return out

    def tick(self, now_ms: int | None = None) -> list[Emission]:
        """Advance idle partitions' watermarks by processing time, close what that
        closes, and emit pending current rows when ``emit_interval_ms`` has passed."""
        now = self._clock() if now_ms is None else now_ms
        out: list[Emission] = []
        if self.scope == "operator":
            self._operator_wm(now, out)
        else:
            for pid in sorted(self._parts):
                ps = self._parts[pid]
                wm = self._advance_idle(ps, now)
                if wm is not None and ps.heap and ps.heap[0][0] <= wm:
                    self._close(ps, wm, out)
                elif wm is not None and ps.closed_q:
                    self._purge(ps, wm, out)
        self._maybe_emit(now, out)
        return out

    def flush(self, now_ms: int | None = None) -> list[Emission]:
        """Emit every pending (changed) window now, ignoring the rate limit."""
        now = self._clock() if now_ms is None else now_ms
        out: list[Emission] = []
        self._emit_dirty(out)
        if self._next_emit is None or self._next_emit < now + self.emit_interval:
            self._next_emit = now + self.emit_interval
        return out

    @property
    def partitions(self) -> tuple[int, ...]:
        return tuple(sorted(self._parts))

    def last_offsets(self) -> dict[int, int]:
        """Last processed input offset per partition (-1: none); resume at +1."""
        return {pid: ps.last_offset for pid, ps in sorted(self._parts.items())}

    def partition_watermark(self, partition: int, now_ms: int | None = None) -> int | None:
        """The partition's current watermark (idle advancement included)."""
        ps = self._parts.get(partition)
        if ps is None:
            return None
        now = self._clock() if now_ms is None else now_ms
        return self._advance_idle(ps, now)

    @property
    def watermark(self) -> int | None:
        """Flink-style operator watermark: min over active partitions (all, if all idle)."""
        if self.scope == "operator":
            return self._gwm
        return self._min_wm(self._clock())

    def open_windows(self) -> int:
        return sum(len(ps.windows) for ps in self._parts.values())

    # -- rebalance / checkpoint ---------------------------------------------------
    def assign(
        self,
        partitions: Iterable[int],
        snapshots: Mapping[int, Mapping[str, Any] | None] | None = None,
        now_ms: int | None = None,
    ) -> None:
        """Take ownership of ``partitions``, from their snapshot parts when given
        (``snapshot()["partitions"][str(p)]`` or a :meth:`revoke` value)."""
        now = self._clock() if now_ms is None else now_ms
        snapshots = snapshots or {}
        for pid in partitions:
            part = snapshots.get(pid)
            if part is None:
                part = snapshots.get(str(pid))  # type: ignore[call-overload]
            self._parts[pid] = self._load_partition(pid, part, now) if part else _Partition(pid, now)

    def revoke(self, partitions: Iterable[int], now_ms: int | None = None) -> dict[int, dict[str, Any]]:
        """Give up ``partitions``; returns their snapshot parts (for the new owner)."""
        now = self._clock() if now_ms is None else now_ms
        out: dict[int, dict[str, Any]] = {}
        for pid in partitions:
            ps = self._parts.pop(pid, None)
            if ps is not None:
                out[pid] = self._dump_partition(ps, now)
        return out

    def snapshot(self, now_ms: int | None = None, partitions: Iterable[int] | None = None) -> dict[str, Any]:
        """All operator state as a JSON-serialisable dict (see :meth:`restore`)."""
        now = self._clock() if now_ms is None else now_ms
        pids = sorted(self._parts) if partitions is None else sorted(partitions)
        return {
            "v": SNAPSHOT_VERSION,
            "granularities": list(self.granularities),
            "scope": self.scope,
            "operator_wm": self._gwm,
            "emit_due_in": None if self._next_emit is None else self._next_emit - now,
            "stats": dict(self.stats),
            "partitions": {str(pid): self._dump_partition(self._parts[pid], now) for pid in pids},
        }

    def restore(self, snapshot: Mapping[str, Any], now_ms: int | None = None) -> None:
        """Replace all state with ``snapshot`` (from :meth:`snapshot`, maybe JSON round-tripped)."""
        if snapshot.get("v") != SNAPSHOT_VERSION:
            raise ValueError(f"unsupported snapshot version {snapshot.get('v')!r}")
        if list(snapshot["granularities"]) != list(self.granularities):
            raise ValueError(f"snapshot granularities {snapshot['granularities']} != {list(self.granularities)}")
        now = self._clock() if now_ms is None else now_ms
        self._parts = {
            int(pid): self._load_partition(int(pid), part, now) for pid, part in snapshot["partitions"].items()
        }
        self._gwm = snapshot.get("operator_wm")
        due = snapshot.get("emit_due_in")
        self._next_emit = None if due is None else now + int(due)
        self.stats.update(snapshot.get("stats", {}))

    # -- internals ----------------------------------------------------------------
    def _advance_idle(self, ps: _Partition, now: int) -> int | None:
        if ps.base_wm is not None and now - ps.last_seen >= self.idle_timeout:
            adv = ps.base_wm + (now - ps.last_seen)
            if adv > ps.wm:  # type: ignore[operator]
                ps.wm = adv
        return ps.wm

    def _min_wm(self, now: int) -> int | None:
        """Min over non-idle partitions; when all are idle, min of their advanced watermarks."""
        active: list[int] = []
        blocked = False
        idle_wms: list[int] = []
        for ps in self._parts.values():
            wm = self._advance_idle(ps, now)
            if now - ps.last_seen < self.idle_timeout:
                if wm is None:
                    blocked = True
                else:
                    active.append(wm)
            elif wm is not None:
                idle_wms.append(wm)
        if blocked:
            return None
        if active:
            return min(active)
        return min(idle_wms) if idle_wms else None

    def _operator_wm(self, now: int, out: list[Emission]) -> int | None:
        """Recompute the operator-scope watermark (monotonic) and close what it closes."""
        wm = self._min_wm(now)
        if wm is not None and (self._gwm is None or wm > self._gwm):
            self._gwm = wm
            for pid in sorted(self._parts):
                ps = self._parts[pid]
                if ps.heap and ps.heap[0][0] <= wm:
                    self._close(ps, wm, out)
                elif ps.closed_q:
                    self._purge(ps, wm, out)
        return self._gwm

    def _close(self, ps: _Partition, wm: int, out: list[Emission]) -> None:
        heap = ps.heap
        windows = ps.windows
        emitted_at = self._wall_clock()
        granularities = self.granularities
        sizes = self.sizes
        while heap and heap[0][0] <= wm:
            close_at, gi, business, start = heapq.heappop(heap)
            key = (gi, business, start)
            acc = windows.pop(key)
            ps.dirty.pop(key, None)
            acc.revision += 1
            final = acc.finalize()
            ps.closed[key] = final
            ps.closed_q.append((close_at, key))
            out.append(
                WindowResult(
                    final.row(business, granularities[gi], start, start + sizes[gi], True, emitted_at),
                    ps.pid,
                    final.revision,
                    final.exact,
                )
            )
            self.stats["windows_closed"] += 1
            self.stats["rows_emitted"] += 1
            metrics.WINDOW_CLOSE_DELAY.observe(max(0, emitted_at - start - sizes[gi]) / 1000.0,
                                               granularity=granularities[gi])
        self._purge(ps, wm, out)

    def _purge(self, ps: _Partition, wm: int, out: list[Emission]) -> None:
        """Forget closed finals ``closed_retention_ms`` of watermark after their close.

        A final that is still pending a re-emission (a late event changed it since
        its last row) emits that FINAL row first: one batch of a fast replay can move
        the watermark past the retention before the next ``emit_interval_ms``, and
        the ``late_events`` update must not be lost with the aggregate.
        """
        q = ps.closed_q
        limit = wm - self.retention
        if not q or q[0][0] > limit:
            return
        closed = ps.closed
        dirty = ps.dirty
        emitted_at: int | None = None
        while q and q[0][0] <= limit:
            _, key = q.popleft()
            final = closed.pop(key, None)
            if key in dirty:
                del dirty[key]
                if final is not None and key not in ps.windows:
                    if emitted_at is None:
                        emitted_at = self._wall_clock()
                    gi, business, start = key
                    final.revision += 1
                    out.append(
                        WindowResult(
                            final.row(business, self.granularities[gi], start, start + self.sizes[gi], True,
                                      emitted_at),
                            ps.pid,
                            final.revision,
                            final.exact,
                        )
                    )
                    self.stats["rows_emitted"] += 1

    def _late(
        self, ps: _Partition, offset: int, record: dict[str, Any], business: str, et: int, wm: int
    ) -> LateEvent:
        self.stats["late"] += 1
        lws: list[LateWindow] = []
        untracked = False
        for gi, size in self._gs:
            start = et - et % size
            key = (gi, business, start)
            close_at = start + size + self.grace
            tracked = True
            acc = ps.windows.get(key)
            if acc is not None:  # still open (a coarser window)
                acc.late += 1
            else:
                final = ps.closed.get(key)
                if final is not None:
                    final.late += 1
                elif close_at > wm:  # open but not created yet: late-only so far
                    acc = ps.windows[key] = WindowAcc(self._cfg)
                    acc.late = 1
                    heapq.heappush(ps.heap, (close_at, gi, business, start))
                elif close_at + self.retention > wm:  # closed, never had an on-time event
                    ps.closed[key] = FinalAgg.empty(late=1)
                    ps.closed_q.append((close_at, key))
                else:
                    tracked = False
            if tracked:
                ps.dirty[key] = None
            else:
                untracked = True
            lws.append(LateWindow(self.granularities[gi], start, start + size, tracked))
        if untracked:
            self.stats["late_untracked"] += 1
        return LateEvent(record, ps.pid, offset, business, et, wm, tuple(lws))

    def _maybe_emit(self, now: int, out: list[Emission]) -> None:
        if self._next_emit is None:
            self._next_emit = now + self.emit_interval
        elif now >= self._next_emit:
            self._emit_dirty(out)
            self._next_emit = now + self.emit_interval

    def _emit_dirty(self, out: list[Emission]) -> None:
        emitted_at: int | None = None
        granularities = self.granularities
        sizes = self.sizes
        for pid in sorted(self._parts):
            ps = self._parts[pid]
            if not ps.dirty:
                continue
            if emitted_at is None:
                emitted_at = self._wall_clock()
            for key in ps.dirty:
                gi, business, start = key
                acc = ps.windows.get(key)
                if acc is not None:
                    acc.revision += 1
                    agg = acc.finalize()
                    is_final = False
                else:
                    agg = ps.closed[key]
                    agg.revision += 1
                    is_final = True
                out.append(
                    WindowResult(
                        agg.row(business, granularities[gi], start, start + sizes[gi], is_final, emitted_at),
                        pid,
                        agg.revision,
                        agg.exact,
                    )
                )
                self.stats["rows_emitted"] += 1
            ps.dirty.clear()

    def _dump_partition(self, ps: _Partition, now: int) -> dict[str, Any]:
        return {
            "last_offset": ps.last_offset,
            "max_et": ps.max_et,
            "base_wm": ps.base_wm,
            "wm": ps.wm,
            "idle_for": now - ps.last_seen,
            "open": [[gi, b, s, acc.state()] for (gi, b, s), acc in ps.windows.items()],
            "closed": [[close_at, gi, b, s, ps.closed[(gi, b, s)].state()] for close_at, (gi, b, s) in ps.closed_q],
            "dirty": [list(k) for k in ps.dirty],
        }

    def _load_partition(self, pid: int, part: Mapping[str, Any], now: int) -> _Partition:
        ps = _Partition(pid, now - int(part.get("idle_for", 0)))
        ps.last_offset = int(part["last_offset"])
        ps.max_et = part["max_et"]
        ps.base_wm = part["base_wm"]
        ps.wm = part["wm"]
        sizes = self.sizes
        for gi, b, s, st in part["open"]:
            key = (int(gi), str(b), int(s))
            ps.windows[key] = WindowAcc.from_state(self._cfg, st)
            ps.heap.append((key[2] + sizes[key[0]] + self.grace, key[0], key[1], key[2]))
        heapq.heapify(ps.heap)
        for close_at, gi, b, s, st in part["closed"]:
            key = (int(gi), str(b), int(s))
            ps.closed[key] = FinalAgg.from_state(st)
            ps.closed_q.append((int(close_at), key))
        for gi, b, s in part["dirty"]:
            ps.dirty[(int(gi), str(b), int(s))] = None
        return ps


__all__ = [
    "Emission",
    "GRANULARITY_MS",
    "InvalidRecord",
    "LateEvent",
    "LateWindow",
    "Rejected",
    "WindowOperator",
    "WindowResult",
]
