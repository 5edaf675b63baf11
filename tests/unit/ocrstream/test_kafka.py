"""ocrstream.kafka without a broker: back-pressure and a bounded wait in the blocking produce, a fenced
producer rebuilt, a refused record permanent, idempotent producer settings."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from confluent_kafka import KafkaError

from ocrstream import kafka
from ocrstream.kafka import producer_config
from ocrstream.settings import Settings


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


class _FakeProducer:
    """Stands in for confluent_kafka.Producer: the first instance is fenced, later ones deliver."""

    instances: list["_FakeProducer"] = []

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.fenced = not _FakeProducer.instances
        self.pending: list[Any] = []
        self.delivered: list[bytes] = []
        self.purged = False
        _FakeProducer.instances.append(self)

    def produce(self, topic: str, value: bytes, key: bytes | None, on_delivery: Any) -> None:
        self.pending.append((value, on_delivery))

    def poll(self, timeout: float = 0) -> int:
        while self.pending:
            value, cb = self.pending.pop(0)
            if self.fenced:
                cb(KafkaError(KafkaError.PRODUCER_FENCED), None)  # not flagged fatal: as Tansu answers
            else:
                self.delivered.append(value)
                cb(None, None)
        return 0

    def purge(self) -> None:
        self.purged = True

    def flush(self, timeout: float = 0) -> int:
        self.poll()
        return 0

    def __len__(self) -> int:
        return len(self.pending)


def test_fenced_producer_is_rebuilt_and_the_retry_goes_through(monkeypatch: pytest.MonkeyPatch) -> None:
    _FakeProducer.instances = []
    monkeypatch.setattr(kafka, "Producer", _FakeProducer)
    producer = kafka.AsyncProducer(Settings())

    async def send_with_retry() -> int:
        attempts = 0
        while True:
            attempts += 1
            try:
                await producer.send("t.ocr-results", b"result", b"biz")
                return attempts
            except kafka.DeliveryFailed as exc:
                assert not isinstance(exc, kafka.DeliveryRefused)  # transient: retried

    try:
        assert asyncio.run(asyncio.wait_for(send_with_retry(), 10)) == 2
    finally:
        producer.close()
    first, second = _FakeProducer.instances[:2]
    assert producer.rebuilds == 1 and first.purged and second.delivered == [b"result"]
    assert second.config["enable.idempotence"] is True and second.config["acks"] == "all"


def test_blocking_producer_is_rebuilt_after_a_fenced_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sink's producer (late records, dead letters): a fenced delivery fails the record, the next produce
    goes through a new producer."""
    _FakeProducer.instances = []
    monkeypatch.setattr(kafka, "Producer", _FakeProducer)
    producer = kafka.BlockingProducer(Settings())
    reports: list[Any] = []
    producer.produce("t.late-events", b"late", b"biz", lambda err, msg: reports.append(err))
    assert producer.flush(1) == 0 and reports[0].code() == KafkaError.PRODUCER_FENCED
    producer.produce("t.late-events", b"late", b"biz", lambda err, msg: reports.append(err))
    assert producer.flush(1) == 0 and reports[1] is None
    first, second = _FakeProducer.instances[:2]
    assert producer.rebuilds == 1 and first.purged and second.delivered == [b"late"]


def test_refused_record_is_permanent_at_produce_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """librdkafka refuses an oversized record in produce(): DeliveryRefused, not an endless retry."""
    producer = kafka.AsyncProducer(Settings().with_overrides(**{"kafka.bootstrap": "127.0.0.1:1",
                                                                "kafka.message_max_bytes": 100_000}))
    try:
        with pytest.raises(kafka.DeliveryRefused) as err:
            asyncio.run(producer.send("t.dlq", b"x" * 200_000, b"k"))
        assert err.value.error_class == "DeliveryRefused.MSG_SIZE_TOO_LARGE"
    finally:
        producer._running = False


def test_producers_are_idempotent_acks_all() -> None:
    cfg = producer_config(Settings())
    assert cfg["acks"] == "all" and cfg["enable.idempotence"] is True
