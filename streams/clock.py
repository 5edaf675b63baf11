"""Event-time clocks of the window operator: watermarks, idle advance, closing strategies.

A :class:`Clock` is the watermark of one *closing group* — the set of windows
that close together — plus the windows it still has to close (a heap ordered
by close time). Which group a record belongs to is the **closing strategy**
(``windows.watermark_scope``):

* ``"key"`` (default): one clock per business (the record key). A business's
  windows close on its own watermark, so one business's fresh documents never
  make another business's documents late, and a business that backfills last
  week has its own clock at last week.
* ``"partition"``: one clock per input partition (all businesses of the
  partition share it).
* ``"operator"``: Flink's rule — one clock per partition, and windows close on
  the minimum over the *active* (non-idle) partitions of the operator.

Watermark of a clock: ``max event time seen - out_of_orderness_ms``; it never
goes back. **Idle advance**: a clock that has seen no record for
``idle_timeout_ms`` of processing time advances as if event time kept flowing
at wall-clock speed since its last record
(``watermark = watermark_at_last_record + (now - last_record_processing_time)``),
so windows close when a business (or partition) stops sending. Processing time
comes from the operator's injected clock; only elapsed times are used.

A new clock starts without a watermark (its first record sets it), unless its
partition has a ``floor`` (set when a snapshot of another strategy was restored
into ``"key"`` mode): then it starts at the floor, so events that were already
late under the old strategy stay late (and are recomputed from the stored
documents) instead of opening a window that already has a final row.
"""

from __future__ import annotations

from typing import Any, Literal

Scope = Literal["key", "partition", "operator"]
SCOPES: tuple[str, ...] = ("key", "partition", "operator")

#: Clock key of the single clock of a partition in "partition" and "operator" scope.
PARTITION_CLOCK = ""

#: Heap entry of an open window: (close_at, granularity index, business_id, window_start).
HeapEntry = tuple[int, int, str, int]


class Clock:
    """Watermark of one closing group and the heap of its open windows."""

    __slots__ = ("max_et", "base_wm", "wm", "last_seen", "heap")

    def __init__(self, now: int, floor: int | None = None) -> None:
        self.max_et: int | None = None
        self.base_wm: int | None = floor  # watermark right after the last record
        self.wm: int | None = floor  # current watermark (idle-advanced), monotonic
        self.last_seen = now  # processing time of the last record (or of creation)
        self.heap: list[HeapEntry] = []

    def advance_idle(self, now: int, idle_timeout: int) -> int | None:
        """The watermark at processing time ``now`` (idle advance applied, monotonic)."""
        if self.base_wm is not None and now - self.last_seen >= idle_timeout:
            adv = self.base_wm + (now - self.last_seen)
            if adv > self.wm:  # type: ignore[operator]
                self.wm = adv
        return self.wm

    def is_idle(self, now: int, idle_timeout: int) -> bool:
        return now - self.last_seen >= idle_timeout

    def state(self, now: int) -> list[Any]:
        return [self.max_et, self.base_wm, self.wm, now - self.last_seen]

    @classmethod
    def from_state(cls, state: list[Any], now: int) -> Clock:
        ck = cls(now - int(state[3]))
        ck.max_et, ck.base_wm, ck.wm = state[0], state[1], state[2]
        return ck

    @classmethod
    def merged(cls, clocks: list[Clock], now: int) -> Clock:
        """One clock for several (strategy change key -> partition): the most advanced one."""
        out = cls(now)
        for ck in clocks:
            if ck.wm is not None and (out.wm is None or ck.wm > out.wm):
                out.wm, out.base_wm = ck.wm, ck.base_wm
            if ck.max_et is not None and (out.max_et is None or ck.max_et > out.max_et):
                out.max_et = ck.max_et
        if clocks:
            out.last_seen = max(ck.last_seen for ck in clocks)
        return out


def min_active_watermark(clocks: list[Clock], now: int, idle_timeout: int) -> int | None:
    """Flink's operator watermark: the minimum over non-idle clocks; when all are idle,
    the minimum of their idle-advanced watermarks. ``None`` while an active clock has none."""
    active: list[int] = []
    idle: list[int] = []
    for ck in clocks:
        wm = ck.advance_idle(now, idle_timeout)
        if not ck.is_idle(now, idle_timeout):
            if wm is None:
                return None
            active.append(wm)
        elif wm is not None:
            idle.append(wm)
    if active:
        return min(active)
    return min(idle) if idle else None


__all__ = ["Clock", "HeapEntry", "PARTITION_CLOCK", "SCOPES", "Scope", "min_active_watermark"]
