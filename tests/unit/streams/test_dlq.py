"""Dead letters: error classification, record shape, Avro round trip, retry policy."""

from __future__ import annotations

import asyncio

import pytest

from ocr_agents.errors import EngineUnavailable
from ocrstream.clickhouse import ClickHouseUnavailable
from ocrstream.codec import CodecError, make_serde
from ocrstream.deadletter import (
    DEAD_LETTER_COLUMNS,
    Failure,
    GaveUp,
    RetryPolicy,
    dead_letter,
    dead_letter_key,
    dead_letter_row,
    retry_async,
)
from ocrstream.errors import CorruptImage, Transient, UnknownBusiness, classify_error
from streams.fetch import FetchRefused, FetchUnavailable


@pytest.mark.parametrize("exc,kind", [
    (CodecError("bad"), "permanent"), (CorruptImage("x"), "permanent"), (UnknownBusiness("b"), "permanent"),
    (FetchRefused("u"), "permanent"), (FetchUnavailable("s3 down"), "transient"),
    (ClickHouseUnavailable("down"), "transient"), (TimeoutError(), "transient"),
    (EngineUnavailable("no model"), "transient"), (ZeroDivisionError(), "unknown"),
])
def test_classify(exc, kind):
    assert classify_error(exc) == kind


def test_dead_letter_round_trip():
    failure = Failure.start()
    failure.record(CorruptImage("truncated PNG\n  data"))
    dl = dead_letter(source_topic="p.documents", source_partition=2, source_offset=41, stage="ocr",
                     exc=failure.last_error, failure=failure, document_id="d1", business_id="b1",
                     reference="s3://bucket/key", payload=None)
    assert dl["error_class"] == "CorruptImage" and dl["error_message"] == "truncated PNG data"
    assert dl["attempts"] == 1 and dl["last_failure_time"] >= dl["first_failure_time"]
    serde = make_serde("DeadLetter")
    assert serde.decode(serde.encode(dl)) == dl
    assert dead_letter_key(dl) == b"d1"
    assert len(dead_letter_row(dl)) == len(DEAD_LETTER_COLUMNS)
    anon = dead_letter(source_topic="t", source_partition=0, source_offset=7, stage="decode",
                       exc=CodecError("x"), payload=b"\x00")
    assert dead_letter_key(anon) == b"t/0/7"


def test_retry_policy():
    p = RetryPolicy(base_ms=100, max_ms=1000, max_attempts=3)
    assert p.gives_up("permanent", 1) and not p.gives_up("transient", 10**6)
    assert not p.gives_up("unknown", 2) and p.gives_up("unknown", 3)
    assert all(0.05 <= p.delay_s(1) <= 0.1 for _ in range(20)) and p.delay_s(30) <= 1.0


def test_retry_async_transient_then_success_and_unknown_gives_up():
    calls = {"n": 0}

    async def flaky():
        calls["n"] += 1
        if calls["n"] < 3:
            raise Transient("down")
        return "ok"

    policy = RetryPolicy(base_ms=1, max_ms=2, max_attempts=2)
    assert asyncio.run(retry_async(flaky, policy, "fetch", "t[0]@1")) == "ok" and calls["n"] == 3

    async def buggy():
        raise ZeroDivisionError("bug")

    with pytest.raises(GaveUp) as err:
        asyncio.run(retry_async(buggy, policy, "ocr", "t[0]@2"))
    assert err.value.failure.attempts == 2 and err.value.stage == "ocr"


def test_dead_letter_is_bounded_whatever_the_payload():
    """A 9 MB poison record gives a dead letter of a few KB: excerpt + size, never the payload."""
    huge = b"\xc3\x01" + b"x" * 9_000_000
    dl = dead_letter(source_topic="p.documents", source_partition=1, source_offset=5, stage="decode",
                     exc=CodecError("bad " * 10_000), document_id="d" * 100_000, business_id="b",
                     reference="s3://bucket/" + "k" * 50_000, payload=huge)
    assert dl["payload"] == huge[:1024] and dl["payload_size"] == len(huge)
    assert len(dl["document_id"]) < 1100 and dl["document_id"].endswith("[100000 chars]")
    assert len(dl["reference"]) < 1100 and len(dl["error_message"]) <= 500
    encoded = make_serde("DeadLetter").encode(dl)
    assert len(encoded) < 8_000
    assert (dl["source_topic"], dl["source_partition"], dl["source_offset"]) == ("p.documents", 1, 5)


def _writer(excerpt: int = 1024, producer=None):
    from ocrstream.settings import Settings
    from ocrstream.deadletter import DeadLetterWriter

    s = Settings().with_overrides(**{"retry.dead_letter_excerpt_bytes": excerpt})
    return DeadLetterWriter(s, producer=producer or object())


def _dl(**extra):
    return dead_letter(source_topic="t", source_partition=0, source_offset=9, stage="fetch",
                       exc=CodecError("x"), document_id="doc-1", payload=b"p" * 5000, **extra)


def test_writer_async_refused_record_falls_back_to_minimal_then_moves_on():
    from confluent_kafka import KafkaError

    from ocrstream import metrics
    from ocrstream.kafka import delivery_error

    w = _writer(excerpt=100)
    sent: list[bytes] = []

    async def refuse_with_payload(topic, value, key):
        if b"p" * 50 in value:
            raise delivery_error(topic, KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
        sent.append(value)

    policy = RetryPolicy(base_ms=1, max_ms=2, max_attempts=2)
    assert asyncio.run(w.write(_dl(), refuse_with_payload, policy)) is True
    got = make_serde("DeadLetter").decode(sent[0])
    assert got["payload"] is None and got["document_id"] == "doc-1" and got["source_offset"] == 9

    before = metrics.DEAD_LETTER_WRITE_FAILURES.value(stage="fetch")

    async def refuse_all(topic, value, key):
        raise delivery_error(topic, KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))

    assert asyncio.run(w.write(_dl(), refuse_all, policy)) is False  # reported, not retried forever
    assert metrics.DEAD_LETTER_WRITE_FAILURES.value(stage="fetch") == before + 1 and w.dropped == 1

    calls = {"n": 0}

    async def down_then_up(topic, value, key):
        calls["n"] += 1
        if calls["n"] < 4:
            raise delivery_error(topic, KafkaError(KafkaError._MSG_TIMED_OUT))

    assert asyncio.run(w.write(_dl(), down_then_up, policy)) is True and calls["n"] == 4  # transient: retried


class _FakeProducer:
    """Delivers synchronously on flush/poll; refuses values containing ``refuse``; ``transient``: every
    delivery times out (True) or the first ``transient`` ones do (a number)."""

    def __init__(self, refuse: bytes | None = None, transient: bool | int = False) -> None:
        self.refuse, self.transient = refuse, transient
        self.queue: list = []
        self.delivered: list[bytes] = []
        self.headers: list = []

    def produce(self, topic, value, key, on_delivery, headers=None):
        self.headers.append(headers)
        self.queue.append((value, on_delivery))

    def _times_out(self) -> bool:
        if self.transient is True:
            return True
        if self.transient:
            self.transient -= 1
            return True
        return False

    def poll(self, timeout=0):
        from confluent_kafka import KafkaError

        while self.queue:
            value, cb = self.queue.pop(0)
            if self._times_out():
                cb(KafkaError(KafkaError._MSG_TIMED_OUT), None)
            elif self.refuse is not None and self.refuse in value:
                cb(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), None)
            else:
                self.delivered.append(value)
                cb(None, None)
        return 0

    def flush(self, timeout=0):
        self.poll()
        return 0

    def __len__(self):
        return len(self.queue)

    def __bool__(self):  # a producer with nothing queued is still a producer
        return True


def test_writer_sync_path_refused_minimal_and_transient():
    fake = _FakeProducer(refuse=b"p" * 50)
    w = _writer(producer=fake)
    w.publish(_dl())
    w.flush()
    assert len(fake.delivered) == 1 and make_serde("DeadLetter").decode(fake.delivered[0])["payload"] is None
    everything = _FakeProducer(refuse=b"doc-1")
    w2 = _writer(producer=everything)
    w2.publish(_dl())
    w2.flush()  # refused in both forms: reported and dropped, the stage moves on (no raise)
    assert w2.dropped == 1 and not everything.delivered
    w3 = _writer(producer=_FakeProducer(transient=True))
    w3.publish(_dl())
    with pytest.raises(Transient):
        w3.flush()  # broker unreachable: the caller retries


def test_delivery_errors_are_classified():
    from confluent_kafka import KafkaError

    from ocrstream.kafka import DeliveryRefused, delivery_error

    refused = delivery_error("t", KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
    assert isinstance(refused, DeliveryRefused) and classify_error(refused) == "permanent"
    assert refused.error_class == "DeliveryRefused.MSG_SIZE_TOO_LARGE"
    for code in (KafkaError._MSG_TIMED_OUT, KafkaError._TRANSPORT, KafkaError.PRODUCER_FENCED):
        assert classify_error(delivery_error("t", KafkaError(code))) == "transient"


def test_a_transient_dlq_failure_is_retried_and_does_not_fail_later_flushes():
    producer = _FakeProducer(transient=1)
    w = _writer(producer=producer)
    w.publish(_dl())
    with pytest.raises(Transient, match="1 queued again"):
        w.flush()
    assert w.errors == [] and not producer.delivered
    w.flush()  # the caller's retry: the queued-again dead letter is delivered
    assert len(producer.delivered) == 1 and w.sent == 1
    w.publish(_dl())
    w.flush()  # an old failure never fails a later flush
    assert len(producer.delivered) == 2


def _committer(producer, dlq):
    from types import SimpleNamespace

    from streams.commit import Committer

    stats = SimpleNamespace(documents=0, late_update_rows=0, window_rows=0, flushes=0, checkpoints=0,
                            visible_latency_ms=[])
    return Committer(documents=None, windows=None, late_updates=None, checkpoints=None, producer=producer,
                     dlq=dlq, late_topic="t.late-events", policy=RetryPolicy(1, 2, 3), parse=None, stats=stats,
                     name="sink-test", pipelined=False)


def _job(seq, late=()):
    from streams.commit import FlushJob

    return FlushJob(seq=seq, documents=None, window_rows=[], recompute=[], late=list(late), publish_times=[])


def test_sink_commit_retries_dead_letters_and_moves_on_after_one_transient_failure():
    producer = _FakeProducer(transient=1)
    w = _writer(producer=producer)
    committer = _committer(producer, w)
    w.publish(_dl())
    first = _job(1)
    committer.submit(first)
    assert first.error is None and committer.committed_seq == 1 and len(producer.delivered) == 1
    second = _job(2)
    committer.submit(second)
    assert second.error is None and committer.committed_seq == 2


def test_sink_commit_resends_unacknowledged_late_records_and_drops_refused_ones():
    producer = _FakeProducer(refuse=b"huge", transient=1)
    committer = _committer(producer, _writer(producer=producer))
    late = [(b"biz", b"late-1", "too late"), (b"biz", b"late-2", "too late"), (b"biz", b"huge", "too late")]
    job = _job(1, late)
    committer.submit(job)
    assert job.error is None and committer.committed_seq == 1
    assert sorted(producer.delivered) == [b"late-1", b"late-2"]  # the failed one once more, the refused never
    assert producer.headers[0] == [("ocrstream-reason", b"too late")]
