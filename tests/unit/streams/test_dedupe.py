"""Unit tests of streams/dedupe.py: the duplicate rule, the event-time floor, eviction."""

from __future__ import annotations

from streams.dedupe import NO_FLOOR, DedupeIndex

MIN = 60_000


class Stored:
    """The ``documents`` table as the lookup sees it: id -> [(partition, offset)]."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple[int, int]]] = {}
        self.asked: list[list[str]] = []

    def lookup(self, items: list[tuple[str, str, int]]) -> dict[str, list[tuple[int, int]]]:
        self.asked.append([d for d, _, _ in items])
        return {d: self.rows[d] for d, _, _ in items if d in self.rows}


def test_duplicate_rule_in_memory() -> None:
    idx = DedupeIndex(memory_ms=MIN, max_ids=10)
    assert idx.check(0, "a", 5, 1_000) is False
    assert idx.check(0, "a", 5, 1_000) is False  # a replay of the same position is not a duplicate
    assert idx.check(0, "a", 9, 1_000) is True  # a later copy is
    assert idx.check(1, "a", 9, 1_000) is False  # another partition has its own index
    idx.reset(2, [("b", 3, 500)], floor=400)
    assert idx.check(2, "b", 3, 500) is False and idx.check(2, "b", 4, 500) is True


def test_records_below_the_floor_are_looked_up_in_batches() -> None:
    idx = DedupeIndex(memory_ms=MIN, max_ids=10)
    stored = Stored()
    stored.rows = {"old": [(0, 2)], "replayed": [(0, 7)]}
    idx.reset(0, [], floor=10 * MIN)
    pending = []
    for doc_id, off, et in [("old", 20, MIN), ("new", 21, MIN), ("replayed", 7, 2 * MIN), ("new", 22, MIN)]:
        assert idx.check(0, doc_id, off, et) is None  # older than the floor: memory cannot tell
        pending.append((doc_id, "b", et, off))
    assert idx.resolve(0, pending, stored.lookup) == {20, 22}  # a stored copy; a copy within the batch
    assert stored.asked == [["old", "new", "replayed", "new"]]
    assert idx.check(0, "new", 21, MIN) is False and idx.check(0, "new", 30, MIN) is True  # remembered
    assert idx.check(0, "fresh", 31, 11 * MIN) is False and stored.asked[1:] == []  # above the floor: memory


def test_eviction_by_event_time_and_size_raises_the_floor() -> None:
    idx = DedupeIndex(memory_ms=MIN, max_ids=3)
    for i, et in enumerate([0, 10_000, 20_000, 2 * MIN, 2 * MIN + 1]):
        assert idx.check(0, f"d{i}", i, et) is False
    assert idx.floor(0) == NO_FLOOR and idx.size() == 5  # nothing leaves memory before evict()
    assert idx.evict() == 3  # older than newest - 1 min
    assert idx.floor(0) == 20_001 and idx.size() == 2
    assert idx.check(0, "d0", 9, 0) is None  # evicted and below the floor: ask ClickHouse
    assert idx.check(0, "d3", 9, 2 * MIN) is True
    for i in range(5, 9):
        idx.check(0, f"d{i}", i, 2 * MIN + i)
    idx.evict()
    assert idx.size() <= 3 and idx.floor(0) > 2 * MIN  # the size cap evicts the oldest and raises the floor


def test_ids_leave_memory_only_once_their_rows_are_written() -> None:
    idx = DedupeIndex(memory_ms=MIN, max_ids=100)
    idx.check(0, "written", 0, 0)
    idx.seq = 1  # the sink cut flush 0; what comes now is written by flush 1
    idx.check(0, "in-flight", 1, 1_000)
    idx.check(0, "new", 2, 10 * MIN)
    assert idx.evict(written_seq=0) == 1  # flush 1 is not written yet: its old id stays
    assert idx.check(0, "in-flight", 9, 1_000) is True
    assert idx.check(0, "written", 9, 0) is None  # evicted: ClickHouse answers for it now
    assert idx.evict(written_seq=1) == 1
