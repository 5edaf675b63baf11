"""Event-time tumbling windows: assignment, closing, allowed lateness (pure Python, no broker).

Why this module is over 500 lines: assignment, closing and the lateness decision are one
state machine over the same window table; clocks (:mod:`streams.clock`), aggregates
(:mod:`streams.aggregates`) and emissions (:mod:`streams.emissions`) are already apart.

The sink (:mod:`streams.sink`) feeds records in with :meth:`WindowOperator.process_fields`
(decoded window fields, the fast path) or :meth:`~WindowOperator.process_batch`
(record dicts), calls :meth:`~WindowOperator.tick` periodically and forwards what
comes back: :class:`WindowResult` rows to the ``windows`` table, :class:`LateEvent`
to the document flags / the late topic, :class:`Rejected` to the dead-letter topic;
:meth:`~WindowOperator.drain_recompute` lists the closed windows whose rows must be
recomputed from the stored documents (:mod:`streams.recompute`).

Semantics
---------
**Event time** is the record's own ``event_time`` (epoch ms), never the Kafka
timestamp or the wall clock. **Windows** are tumbling, epoch-aligned
``[window_start, window_end)`` per ``business_id``, one per granularity (default
minute and hour; sizes must divide each other).

**Clocks and closing** (:mod:`streams.clock`): the closing strategy
(``watermark_scope``: ``"key"`` per business — the default —, ``"partition"`` or
``"operator"``) decides whose watermark closes a window. A window closes when its
clock's watermark passes ``window_end + grace_ms`` and then emits one row with
``status = "final"``; while open, changed windows emit ``status = "current"`` rows
at most every ``emit_interval_ms`` of processing time (or on :meth:`flush`). An
idle clock advances with processing time (``idle_timeout_ms``), so windows close
when traffic stops, per business in ``"key"`` scope.

**Lateness** is a property of the event, decided once at its arrival from its
clock's watermark ``wm`` and its *minute* window (the finest):

* on time: ``wm < minute_end + grace`` — folded into its open windows;
* **late** (a late update): its minute window has closed but
  ``wm < minute_end + grace + allowed_lateness_ms`` — folded into EVERY aggregate
  of its minute and hour windows: an open (coarser) window folds it in memory and
  counts it in ``late_events``; a closed one is queued for recompute
  (:meth:`drain_recompute`), and the sink re-emits its row from the stored raw
  documents with ``status = "late_update"`` — count, sum, means, exact medians and
  OCR-seconds quantiles, ``late_events`` — at its next flush;
* **too late**: beyond allowed lateness — in no aggregate; it only increments
  ``too_late_events`` of its windows (open ones in memory, closed ones through a
  recompute, so a row exists even for a window that never had a counted event).
  The sink stores it with ``documents.is_late = 1`` and sends it to the late topic.

Hence for every row, over the window's raw documents:
``document_count = countIf(NOT is_late)``, ``late_events = countIf(late_update)``,
``too_late_events = countIf(is_late)`` (:data:`ocrstream.tables.window_aggregate_sql`).

Why closed windows are recomputed from ClickHouse instead of kept in memory
---------------------------------------------------------------------------
Exact medians and quantiles after a late event need every value of the window.
Keeping them for 7 days of allowed lateness costs, per business-day at one
document per second, 86,400 x 2 granularities x 3 values = 518,400 floats: ~16 MB
as Python float lists (32 bytes each), ~4 MB as packed float64 arrays — 7 days of
it per business, and, worse, all of it in every checkpoint (written each second).
The raw ``documents`` rows are stored anyway and ordered by ``(business_id,
event_time)``, so one ``GROUP BY`` over the affected windows recomputes them
exactly; the operator keeps only *open* windows plus ~300 bytes of clock per
business (~75 bytes in a checkpoint): a closed business-day costs 0 bytes of
operator memory and checkpoint. The ClickHouse cost is one query per flush that
has late events (all affected windows batched, reading only their key ranges):
on the 2-core development machine, shared and busy, embedded chDB took about
70 ms for 104 late windows (100 minutes + 4 hours) of one business-day of 86,400
documents and about 60 ms for all 1,464 windows of that day; storage is the
``documents`` rows that are kept anyway (``bench/aggregate.py`` reports late
events/s end to end). On-time data never queries ClickHouse.

**State** per input partition: its clocks, open windows keyed by
``(granularity index, business_id, window_start)``, the pending (changed) set,
the recompute queue and the **last processed offset**: a record at or below it
is a redelivery and is skipped (``stats["duplicates"]``), so replays after a
restore are idempotent. :meth:`snapshot` / :meth:`restore` cover all of it as a
JSON-serialisable dict; :meth:`revoke` / :meth:`assign` move partitions. Resume
exactly by restoring the snapshot and seeking each partition to
``last_offsets()[p] + 1``. A snapshot of version 1 (no allowed lateness) or of
another strategy restores into this one (see :func:`_load_partition`).

**Determinism.** Given the same per-partition record sequence and processing
times, output is identical, also across :meth:`snapshot` / :meth:`restore`.
Idle advance depends on processing time: it is the one source of decisions a
replay may take differently (which events of a resumed idle clock are late);
the exactly-once effect does not depend on it (late and on-time paths give the
same aggregate, only ``late_events`` and the row status differ).

**Quantiles** are exact (ClickHouse ``quantileExact``) for windows of up to
``exact_limit`` counted events and DDSketch estimates beyond (relative error
<= ``relative_accuracy``); see :mod:`streams.aggregates`. Recomputed rows are
always exact.

**API**::

    op = WindowOperator(settings.windows, ("minute", "hour"), clock=monotonic_ms,
                        wall_clock=epoch_ms, watermark_scope=None, allowed_lateness_ms=None)
    op.process_fields(partition, [(offset, business, event_time, total, score, ocr_score,
                                   ocr_s, doc_type), ...], now_ms=None) -> list[Emission]
    op.process_batch(partition, [(offset, record_dict), ...], now_ms=None) -> list[Emission]
    op.process(partition, offset, record_dict, now_ms=None) -> list[Emission]
    op.tick(now_ms=None) / op.flush(now_ms=None) -> list[Emission]
    op.drain_recompute() -> list[(business_id, granularity, window_start, window_end)]
    op.snapshot(now_ms=None, partitions=None) -> dict;  op.restore(snapshot, now_ms=None)
    op.revoke(partitions, now_ms=None) -> {p: part};  op.assign(partitions, {p: part}, now_ms=None)
    op.last_offsets() -> {partition: last processed offset}

Why this module is over 500 lines: a fifth of it is the semantics above; the rest is one
state machine (partitions, clocks, heaps of open windows, pending and recompute sets)
whose methods share that private state. Its inputs and outputs live in
:mod:`streams.emissions`, clocks in :mod:`streams.clock`, aggregates in
:mod:`streams.aggregates`.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ocrstream import metrics
from ocrstream.settings import WindowSettings
from ocrstream.tables import GRANULARITY_MS, STATUS_CURRENT, STATUS_FINAL
from streams.aggregates import DEFAULT_EXACT_LIMIT, DEFAULT_RELATIVE_ACCURACY, AggConfig, WindowAcc
from streams.clock import PARTITION_CLOCK, SCOPES, Clock, Scope, min_active_watermark
from streams.emissions import (
    Emission,
    InvalidRecord,
    LateEvent,
    Rejected,
    WindowFields,
    WindowResult,
    window_fields,
)

SNAPSHOT_VERSION = 2

WindowKey = tuple[int, str, int]  # (granularity index, business_id, window_start)

def _default_clock() -> int:
    return time.monotonic_ns() // 1_000_000


def _default_wall_clock() -> int:
    return time.time_ns() // 1_000_000


class _Partition:
    """All state of one input partition."""

    __slots__ = ("pid", "last_offset", "clocks", "floor", "windows", "dirty", "recompute")

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.last_offset = -1
        self.clocks: dict[str, Clock] = {}  # clock key (business or PARTITION_CLOCK) -> clock
        self.floor: int | None = None  # initial watermark of new clocks (strategy change only)
        self.windows: dict[WindowKey, WindowAcc] = {}
        self.dirty: dict[WindowKey, None] = {}  # ordered set of changed open windows
        self.recompute: dict[WindowKey, None] = {}  # closed windows to recompute from ClickHouse


class WindowOperator:
    """Tumbling event-time windows per ``business_id``; see the module docstring.

    ``clock`` returns processing time in ms (monotonic) and is used when a
    ``now_ms`` argument is omitted; ``wall_clock`` (epoch ms) stamps ``emitted_at``.
    ``settings`` is the ``windows`` section; ``watermark_scope`` /
    ``allowed_lateness_ms``: ``None`` = its values.
    """

    def __init__(
        self,
        settings: WindowSettings,
        granularities: Iterable[str] = ("minute", "hour"),
        clock: Callable[[], int] = _default_clock,
        *,
        wall_clock: Callable[[], int] = _default_wall_clock,
        watermark_scope: Scope | None = None,
        allowed_lateness_ms: int | None = None,
        exact_limit: int = DEFAULT_EXACT_LIMIT,
        relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY,
    ) -> None:
        scope = settings.watermark_scope if watermark_scope is None else watermark_scope
        lateness = settings.allowed_lateness_ms if allowed_lateness_ms is None else allowed_lateness_ms
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
        if scope not in SCOPES:
            raise ValueError(f"watermark_scope must be one of {SCOPES}, got {scope!r}")
        if settings.out_of_orderness_ms < 0 or settings.grace_ms < 0 or lateness < 0:
            raise ValueError("out_of_orderness_ms, grace_ms and allowed_lateness_ms must be >= 0")
        self.settings = settings
        self.granularities: tuple[str, ...] = names
        self.sizes: tuple[int, ...] = sizes
        self._gs = tuple(enumerate(sizes))
        self.ooo = settings.out_of_orderness_ms
        self.grace = settings.grace_ms
        self.idle_timeout = settings.idle_timeout_ms
        self.emit_interval = settings.emit_interval_ms
        self.allowed_lateness = lateness
        self.scope: Scope = scope
        self._clock = clock
        self._wall_clock = wall_clock
        self._cfg = AggConfig(exact_limit=exact_limit, relative_accuracy=relative_accuracy)
        self._parts: dict[int, _Partition] = {}
        self._gwm: int | None = None  # operator-scope closing watermark (monotonic)
        self._next_emit: int | None = None
        self.stats: dict[str, int] = {
            "events": 0,
            "late": 0,
            "too_late": 0,
            "duplicates": 0,
            "rejected": 0,
            "windows_closed": 0,
            "rows_emitted": 0,
            "recomputes": 0,
        }

    # -- public API ---------------------------------------------------------------
    def process(self, partition: int, offset: int, record: dict[str, Any], now_ms: int | None = None) -> list[Emission]:
        """Feed one record read at ``offset`` of ``partition``; returns what to forward."""
        return self.process_batch(partition, ((offset, record),), now_ms)

    def process_batch(
        self, partition: int, records: Iterable[tuple[int, Mapping[str, Any]]], now_ms: int | None = None
    ) -> list[Emission]:
        """Feed ``(offset, record dict)`` pairs of one partition, in offset order.

        A record without usable fields comes back as :class:`Rejected` (its offset
        counts as processed, nothing else changes); late ones carry their record.
        """
        out: list[Emission] = []
        items: list[WindowFields] = []
        by_offset: dict[int, Any] = {}
        ps = self._part(partition, self._clock() if now_ms is None else now_ms)
        last = ps.last_offset
        for offset, record in records:
            if offset <= last:
                self.stats["duplicates"] += 1
                continue
            try:
                items.append(window_fields(offset, record))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                if items:  # keep offset order: process what came before first
                    out += self.process_fields(partition, items, now_ms)
                    items = []
                out.append(Rejected(record, partition, offset, f"{type(exc).__name__}: {exc}"))
                ps.last_offset = last = offset
                self.stats["rejected"] += 1
                continue
            by_offset[offset] = record
            last = offset
        if items:
            out += self.process_fields(partition, items, now_ms)
        return [
            LateEvent(e.partition, e.offset, e.business_id, e.event_time, e.watermark, e.too_late, e.recomputed,
                      by_offset.get(e.offset)) if e.__class__ is LateEvent else e
            for e in out
        ]  # fmt: skip

    def process_fields(
        self, partition: int, items: Iterable[WindowFields], now_ms: int | None = None
    ) -> list[Emission]:
        """Feed decoded :data:`WindowFields` of one partition, in offset order (the fast path)."""
        now = self._clock() if now_ms is None else now_ms
        ps = self._part(partition, now)
        out: list[Emission] = []
        key_scope = self.scope == "key"
        operator_scope = self.scope == "operator"
        ooo = self.ooo
        grace = self.grace
        idle = self.idle_timeout
        gs = self._gs
        size0 = self.sizes[0]
        cfg = self._cfg
        windows = ps.windows
        dirty = ps.dirty
        clocks = ps.clocks
        stats = self.stats
        heappush = heapq.heappush
        n_events = 0
        last = ps.last_offset
        for item in items:
            offset, business, et, total, score, ocr_score, ocr_s, doc_type = item
            if offset <= last:
                stats["duplicates"] += 1
                continue
            last = ps.last_offset = offset
            n_events += 1
            ck_key = business if key_scope else PARTITION_CLOCK
            ck = clocks.get(ck_key)
            if ck is None:
                ck = clocks[ck_key] = Clock(now, ps.floor)
            # idle advance (processing time since the clock's last record)
            if ck.base_wm is not None and now - ck.last_seen >= idle:
                adv = ck.base_wm + (now - ck.last_seen)
                if adv > ck.wm:  # type: ignore[operator]
                    ck.wm = adv
            ck.base_wm = ck.wm
            ck.last_seen = now
            heap = ck.heap
            if operator_scope:
                wm = self._operator_wm(now, out)
            else:
                wm = ck.wm
                if wm is not None and heap and heap[0][0] <= wm:
                    self._close(ps, heap, wm, out)
            # lateness: has the event's minute window closed?
            if wm is not None and wm >= et - et % size0 + size0 + grace:
                out.append(self._late(ps, heap, item, wm))
            else:
                for gi, size in gs:
                    start = et - et % size
                    key = (gi, business, start)
                    acc = windows.get(key)
                    if acc is None:
                        acc = windows[key] = WindowAcc(cfg)
                        heappush(heap, (start + size + grace, gi, business, start))
                    acc.add(et, total, score, ocr_score, ocr_s, doc_type)
                    dirty[key] = None
            # watermark advance
            if ck.max_et is None or et > ck.max_et:
                ck.max_et = et
                nw = et - ooo
                if ck.wm is None or nw > ck.wm:
                    ck.wm = ck.base_wm = nw
                    if operator_scope:
                        self._operator_wm(now, out)
                    elif heap and heap[0][0] <= nw:
                        self._close(ps, heap, nw, out)
        stats["events"] += n_events
        self._maybe_emit(now, out)
        return out

    def tick(self, now_ms: int | None = None) -> list[Emission]:
        """Advance idle clocks by processing time, close what that closes, and emit
        pending current rows when ``emit_interval_ms`` has passed."""
        now = self._clock() if now_ms is None else now_ms
        out: list[Emission] = []
        if self.scope == "operator":
            self._operator_wm(now, out)
        else:
            idle = self.idle_timeout
            for pid in sorted(self._parts):
                ps = self._parts[pid]
                for ck in list(ps.clocks.values()):
                    if ck.heap:
                        wm = ck.advance_idle(now, idle)
                        if wm is not None and ck.heap[0][0] <= wm:
                            self._close(ps, ck.heap, wm, out)
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

    def drain_recompute(self) -> list[tuple[str, str, int, int]]:
        """Closed windows changed by late / too-late events since the last call, as
        ``(business_id, granularity, window_start, window_end)``; the caller re-emits
        their rows from the stored documents (:mod:`streams.recompute`)."""
        out: list[tuple[str, str, int, int]] = []
        for pid in sorted(self._parts):
            ps = self._parts[pid]
            for gi, business, start in ps.recompute:
                out.append((business, self.granularities[gi], start, start + self.sizes[gi]))
            ps.recompute.clear()
        self.stats["recomputes"] += len(out)
        return out

    @property
    def partitions(self) -> tuple[int, ...]:
        return tuple(sorted(self._parts))

    def last_offsets(self) -> dict[int, int]:
        """Last processed input offset per partition (-1: none); resume at +1."""
        return {pid: ps.last_offset for pid, ps in sorted(self._parts.items())}

    def key_watermark(self, partition: int, business_id: str, now_ms: int | None = None) -> int | None:
        """The watermark that decides lateness for ``business_id`` (idle advance included)."""
        ps = self._parts.get(partition)
        if ps is None:
            return None
        now = self._clock() if now_ms is None else now_ms
        if self.scope == "operator":
            return self._gwm
        ck = ps.clocks.get(business_id if self.scope == "key" else PARTITION_CLOCK)
        return ps.floor if ck is None else ck.advance_idle(now, self.idle_timeout)

    def partition_watermark(self, partition: int, now_ms: int | None = None) -> int | None:
        """The partition's watermark: its clock's (``"partition"``/``"operator"`` scope), or the
        most advanced business clock (``"key"``), idle advance included."""
        ps = self._parts.get(partition)
        if ps is None:
            return None
        now = self._clock() if now_ms is None else now_ms
        wms = [w for ck in ps.clocks.values() if (w := ck.advance_idle(now, self.idle_timeout)) is not None]
        return max(wms) if wms else None

    @property
    def watermark(self) -> int | None:
        """Flink-style operator watermark: the closing one in ``"operator"`` scope, else the
        minimum over active clocks (all, if all are idle)."""
        if self.scope == "operator":
            return self._gwm
        clocks = [ck for ps in self._parts.values() for ck in ps.clocks.values()]
        return min_active_watermark(clocks, self._clock(), self.idle_timeout)

    def max_event_time(self, partition: int) -> int | None:
        """The newest event time any clock of ``partition`` has seen (None: none yet)."""
        ps = self._parts.get(partition)
        if ps is None:
            return None
        seen = [ck.max_et for ck in ps.clocks.values() if ck.max_et is not None]
        return max(seen) if seen else None

    def open_windows(self) -> int:
        return sum(len(ps.windows) for ps in self._parts.values())

    def clock_count(self) -> int:
        return sum(len(ps.clocks) for ps in self._parts.values())

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
            self._parts[pid] = self._load_partition(pid, part, now) if part else _Partition(pid)
            if self.scope == "operator" and PARTITION_CLOCK not in self._parts[pid].clocks:
                self._parts[pid].clocks[PARTITION_CLOCK] = Clock(now)  # holds the min back until idle

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
        """All operator state as a JSON-serialisable dict (see :meth:`restore`). It shares no
        mutable object with the operator: it may be serialised later, on another thread,
        while the operator goes on (the sink's committer does)."""
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
        if snapshot.get("v") not in (1, SNAPSHOT_VERSION):
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
    def _part(self, partition: int, now: int) -> _Partition:
        ps = self._parts.get(partition)
        if ps is None:
            ps = self._parts[partition] = _Partition(partition)
            if self.scope == "operator":
                ps.clocks[PARTITION_CLOCK] = Clock(now)
        return ps

    def _operator_wm(self, now: int, out: list[Emission]) -> int | None:
        """Recompute the operator-scope watermark (monotonic) and close what it closes."""
        clocks = [ps.clocks[PARTITION_CLOCK] for ps in self._parts.values() if PARTITION_CLOCK in ps.clocks]
        wm = min_active_watermark(clocks, now, self.idle_timeout)
        if wm is not None and (self._gwm is None or wm > self._gwm):
            self._gwm = wm
            for pid in sorted(self._parts):
                ps = self._parts[pid]
                ck = ps.clocks.get(PARTITION_CLOCK)
                if ck is not None and ck.heap and ck.heap[0][0] <= wm:
                    self._close(ps, ck.heap, wm, out)
        return self._gwm

    def _close(self, ps: _Partition, heap: list[Any], wm: int, out: list[Emission]) -> None:
        windows = ps.windows
        emitted_at = self._wall_clock()
        granularities = self.granularities
        sizes = self.sizes
        while heap and heap[0][0] <= wm:
            _, gi, business, start = heapq.heappop(heap)
            key = (gi, business, start)
            acc = windows.pop(key)
            ps.dirty.pop(key, None)
            final = acc.finalize()
            out.append(WindowResult(
                final.row(business, granularities[gi], start, start + sizes[gi], STATUS_FINAL, emitted_at),
                ps.pid, final.exact,
            ))  # fmt: skip
            self.stats["windows_closed"] += 1
            self.stats["rows_emitted"] += 1
            metrics.WINDOW_CLOSE_DELAY.observe(max(0, emitted_at - start - sizes[gi]) / 1000.0,
                                               granularity=granularities[gi])

    def _late(self, ps: _Partition, heap: list[Any], item: WindowFields, wm: int) -> LateEvent:
        offset, business, et, total, score, ocr_score, ocr_s, doc_type = item
        size0 = self.sizes[0]
        too_late = wm >= et - et % size0 + size0 + self.grace + self.allowed_lateness
        self.stats["too_late" if too_late else "late"] += 1
        recomputed: list[tuple[str, int]] = []
        for gi, size in self._gs:
            start = et - et % size
            key = (gi, business, start)
            close_at = start + size + self.grace
            acc = ps.windows.get(key)
            if acc is None and close_at > wm:  # a coarser window not opened yet: open it
                acc = ps.windows[key] = WindowAcc(self._cfg)
                heapq.heappush(heap, (close_at, gi, business, start))
            if acc is not None:
                if too_late:
                    acc.too_late += 1
                else:
                    acc.add(et, total, score, ocr_score, ocr_s, doc_type)
                    acc.late += 1
                ps.dirty[key] = None
            else:
                ps.recompute[key] = None
                recomputed.append((self.granularities[gi], start))
        return LateEvent(ps.pid, offset, business, et, wm, too_late, tuple(recomputed))

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
                acc = ps.windows[key]
                agg = acc.finalize()
                out.append(WindowResult(
                    agg.row(business, granularities[gi], start, start + sizes[gi], STATUS_CURRENT, emitted_at),
                    pid, agg.exact,
                ))  # fmt: skip
                self.stats["rows_emitted"] += 1
            ps.dirty.clear()

    def _dump_partition(self, ps: _Partition, now: int) -> dict[str, Any]:
        return {
            "last_offset": ps.last_offset,
            "floor": ps.floor,
            "clocks": [[k, *ck.state(now)] for k, ck in ps.clocks.items()],
            "open": [[gi, b, s, acc.state()] for (gi, b, s), acc in ps.windows.items()],
            "dirty": [list(k) for k in ps.dirty],
            "recompute": [list(k) for k in ps.recompute],
        }

    def _load_partition(self, pid: int, part: Mapping[str, Any], now: int) -> _Partition:
        """A partition from its snapshot part, converted to this operator's strategy.

        Version 1 parts (one partition watermark, closed finals kept for late counts)
        and parts of another strategy load too: ``"key"`` scope from a partition
        clock gives every business with open windows a copy of it and sets the
        partition's ``floor`` to it (new businesses start there); one clock from
        business clocks takes the most advanced one. Closed windows a v1 part still
        had pending re-emissions for are queued for recompute.
        """
        ps = _Partition(pid)
        ps.last_offset = int(part["last_offset"])
        if "clocks" in part:  # v2
            loaded = {str(k): Clock.from_state(st, now) for k, *st in part["clocks"]}
            ps.floor = part.get("floor")
            for gi, b, s in part.get("recompute", []):
                ps.recompute[(int(gi), str(b), int(s))] = None
        else:  # v1: one clock for the partition
            loaded = {PARTITION_CLOCK: Clock.from_state(
                [part["max_et"], part["base_wm"], part["wm"], part.get("idle_for", 0)], now)}
            for _close_at, gi, b, s, _st in part.get("closed", []):
                if [gi, b, s] in part.get("dirty", []):
                    ps.recompute[(int(gi), str(b), int(s))] = None
        for gi, b, s, st in part["open"]:
            ps.windows[(int(gi), str(b), int(s))] = WindowAcc.from_state(self._cfg, st)
        for gi, b, s in part["dirty"]:
            key = (int(gi), str(b), int(s))
            if key in ps.windows:
                ps.dirty[key] = None
        key_scope = self.scope == "key"
        if key_scope and PARTITION_CLOCK in loaded:
            base = loaded.pop(PARTITION_CLOCK)
            ps.floor = base.wm if ps.floor is None else ps.floor
            for _gi, b, _s in ps.windows:
                loaded.setdefault(b, Clock.from_state(base.state(now), now))
        elif not key_scope and (set(loaded) - {PARTITION_CLOCK}):
            loaded = {PARTITION_CLOCK: Clock.merged(list(loaded.values()), now)}
        ps.clocks = loaded
        sizes = self.sizes
        for key in ps.windows:
            gi, b, s = key
            ck_key = b if key_scope else PARTITION_CLOCK
            ck = ps.clocks.get(ck_key)
            if ck is None:
                ck = ps.clocks[ck_key] = Clock(now, ps.floor)
            ck.heap.append((s + sizes[gi] + self.grace, gi, b, s))
        for ck in ps.clocks.values():
            heapq.heapify(ck.heap)
        return ps


__all__ = [
    "Emission",
    "GRANULARITY_MS",
    "InvalidRecord",
    "LateEvent",
    "Rejected",
    "WindowFields",
    "WindowOperator",
    "WindowResult",
    "window_fields",
]
