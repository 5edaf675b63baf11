"""ocrstream.kafka's blocking produce: back-pressure while the local queue is full, a bounded wait, a clear error."""

from __future__ import annotations

from typing import Any

import pytest

from ocrstream import kafka


class _FullQueue:
    """A producer whose local queue is full for the first ``full`` calls (or always)."""

    def __init__(self, full: int | None) -> None:
        self.full, self.polls, self.produced = full, 0, []

    def produce(self, topic: str, **kwargs: Any) -> None:
        if self.full is None or self.full > 0:
            if self.full:
                self.full -= 1
            raise BufferError("Local: Queue full")
        self.produced.append((topic, kwargs))

    def poll(self, timeout: float = 0) -> int:
        self.polls += 1
        return 0

    def __len__(self) -> int:
        return 100_000


def test_produce_waits_for_room_then_queues() -> None:
    fake = _FullQueue(full=3)
    kafka.produce(fake, "t.documents", b"v", b"k", headers=[("h", b"1")], timestamp_ms=5)  # type: ignore[arg-type]
    assert fake.polls == 3 and fake.produced == [("t.documents", {"key": b"k", "value": b"v",
                                                                  "headers": [("h", b"1")], "timestamp": 5})]


def test_produce_gives_up_after_its_bounded_wait_with_a_clear_error() -> None:
    fake = _FullQueue(full=None)
    with pytest.raises(kafka.ProduceBlocked, match=r"t\.documents: librdkafka's queue stayed full \(100000"):
        kafka.produce(fake, "t.documents", b"v", max_wait_s=0.2)  # type: ignore[arg-type]
    assert fake.polls >= 2 and not fake.produced
