"""ocrstream.kafka: quiet broker-down errors, delivery error classes, a fenced producer rebuilt."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError

from ocrstream import kafka
from ocrstream.settings import Settings


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


def test_broker_down_is_one_line_without_librdkafka_noise(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCRSTREAM_")}
    env.update({"OCRSTREAM_STATE_DIR": str(tmp_path), "OCRSTREAM_KAFKA__BOOTSTRAP": "127.0.0.1:9",
                "OCRSTREAM_PRODUCER__CONNECT_ATTEMPTS": "1", "OCRSTREAM_PRODUCER__CONNECT_TIMEOUT_S": "2"})
    for command in (["topics"], ["sink"], ["worker"]):
        res = subprocess.run([sys.executable, "-m", "ocrstream", *command], env=env, capture_output=True,
                             text=True, timeout=120)
        out = (res.stdout + res.stderr).strip()
        assert res.returncode == 1, (command, out)
        assert out.splitlines() == [out] and "%3|" not in out, (command, out)  # one line, no librdkafka lines
        assert out.startswith("error: cannot reach Kafka at 127.0.0.1:9") and "ocrstream stack up" in out, out
