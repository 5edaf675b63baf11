"""Duplicate ``document_id``s: dropped whatever their age, in bounded memory.

A record is a **duplicate** when the same ``document_id`` was already handled at
another source position: earlier on the same partition, or on another partition
(a replay of the *same* ``(partition, offset)`` after a crash is not a duplicate:
it rewrites its own row). Duplicates come from OCR workers re-publishing after a
crash, from re-imports (``ocrstream import`` of the same file) and from producers
retrying; they are dropped before the window operator, so nothing is counted twice.

Memory is bounded by **event time**: a document's event time is a property of
the document (a re-sent copy carries the same one), so per partition the index
keeps the ids of documents whose event time is within ``sink.dedupe_memory_ms``
of the newest event time seen there (at most ``sink.dedupe_max_ids``), and a
``floor``: every document handled with ``event_time >= floor`` is in the index.
A record at or above the floor is decided in memory; an older one (a late
duplicate, a backfill) is decided by a batched lookup of its id in the
``documents`` table (:meth:`DedupeIndex.resolve`). So the horizon is unbounded
(``documents`` keeps every id) while live traffic never queries ClickHouse.

Ids are evicted only once the ``documents`` rows that carry them are written:
every id is tagged with the sink's flush sequence number (:attr:`DedupeIndex.seq`)
and :meth:`evict` takes the newest written one, so an id leaves memory only once
ClickHouse can answer for it. On assignment the index is warmed from ``documents`` rows of the
partition with ``event_time >= floor``, the floor being the newest event time
of the partition's checkpointed clocks minus ``dedupe_memory_ms`` (no
checkpoint: nothing was handled, the floor is -inf).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

NO_FLOOR = -(2**63)

#: ``[(document_id, business_id, event_time)] -> {document_id: [(source_partition, source_offset), ...]}``
Lookup = Callable[[list[tuple[str, str, int]]], dict[str, list[tuple[int, int]]]]


class _PartitionIndex:
    __slots__ = ("ids", "order", "floor", "max_et")

    def __init__(self, floor: int) -> None:
        self.ids: dict[str, int] = {}  # document_id -> first offset on this partition
        self.order: deque[tuple[int, str, int]] = deque()  # (event_time, id, flush seq) in arrival order
        self.floor = floor
        self.max_et = NO_FLOOR


class DedupeIndex:
    """Per-partition ``document_id`` index with an event-time floor; see the module docstring."""

    def __init__(self, memory_ms: int, max_ids: int) -> None:
        self.memory_ms = memory_ms
        self.max_ids = max_ids
        self.parts: dict[int, _PartitionIndex] = {}
        self.lookups = 0  # ids looked up in ClickHouse
        self.found = 0  # of which duplicates
        self.seq = 0  # flush that the ids remembered now are written by

    # -- assignment ------------------------------------------------------------------
    def reset(self, partition: int, known: Iterable[tuple[str, int, int]], floor: int = NO_FLOOR) -> None:
        """Start ``partition`` with ``(document_id, first offset, event_time)`` rows, all
        documents of the partition with ``event_time >= floor``."""
        part = self.parts[partition] = _PartitionIndex(floor)
        for doc_id, offset, et in known:
            first = part.ids.get(doc_id)
            if first is None:
                self._remember(part, doc_id, offset, et)
            elif offset < first:
                part.ids[doc_id] = offset

    def drop(self, partition: int) -> None:
        self.parts.pop(partition, None)

    # -- the decision ------------------------------------------------------------------
    def check(self, partition: int, document_id: str, offset: int, event_time: int) -> bool | None:
        """True: a duplicate (drop it); False: new or a replay of its own position (keep it,
        remembered); None: older than the floor and not in memory — ask :meth:`resolve`."""
        part = self.parts.get(partition)
        if part is None:
            part = self.parts[partition] = _PartitionIndex(NO_FLOOR)
        first = part.ids.get(document_id)
        if first is not None:
            return first != offset
        if event_time < part.floor:
            return None
        self._remember(part, document_id, offset, event_time)
        return False

    def resolve(self, partition: int, pending: list[tuple[str, str, int, int]], lookup: Lookup) -> set[int]:
        """Decide ``(document_id, business_id, event_time, offset)`` records that :meth:`check`
        left open (in offset order) with one ClickHouse lookup; returns the offsets of the
        duplicates: a copy of a stored row at another position, or of an earlier record of
        this batch. The kept ones are remembered until the next :meth:`evict`."""
        if not pending:
            return set()
        part = self.parts[partition]
        stored = lookup([(d, b, et) for d, b, et, _ in pending])
        self.lookups += len(pending)
        dups: set[int] = set()
        for doc_id, _b, et, offset in pending:
            first = part.ids.get(doc_id)
            if first is not None:  # an earlier record of this batch
                if first != offset:
                    dups.add(offset)
                continue
            if any((p, o) != (partition, offset) for p, o in stored.get(doc_id, ())):
                dups.add(offset)
                continue
            self._remember(part, doc_id, offset, et)
        self.found += len(dups)
        return dups

    def _remember(self, part: _PartitionIndex, doc_id: str, offset: int, et: int) -> None:
        part.ids[doc_id] = offset
        part.order.append((et, doc_id, self.seq))
        if et > part.max_et:
            part.max_et = et

    # -- memory bound ------------------------------------------------------------------
    def evict(self, written_seq: int | None = None) -> int:
        """Forget ids older than ``memory_ms`` of event time (and beyond ``max_ids``), raising
        the floor accordingly — only ids of flushes up to ``written_seq`` (default: all),
        whose rows ClickHouse holds."""
        evicted = 0
        upto = self.seq if written_seq is None else written_seq
        for part in self.parts.values():
            limit = part.max_et - self.memory_ms
            order = part.order
            cap = self.max_ids
            while order and order[0][2] <= upto and (order[0][0] < limit or len(part.ids) > cap):
                et, doc_id, _ = order.popleft()
                part.ids.pop(doc_id, None)
                evicted += 1
                if et + 1 > part.floor:
                    part.floor = et + 1
            if limit > part.floor and not order:
                part.floor = limit
        return evicted

    def size(self) -> int:
        return sum(len(p.ids) for p in self.parts.values())

    def floor(self, partition: int) -> int:
        part = self.parts.get(partition)
        return NO_FLOOR if part is None else part.floor

    def stats(self) -> dict[str, Any]:
        return {"ids": self.size(), "lookups": self.lookups, "found_in_clickhouse": self.found}


__all__ = ["DedupeIndex", "Lookup", "NO_FLOOR"]
