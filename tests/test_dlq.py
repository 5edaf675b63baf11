"""Dead letters: error classification, record shape, Avro round trip, retry policy."""

from __future__ import annotations

import asyncio

import pytest

from ocr_agents.errors import CorruptImage, EngineUnavailable
from ocrstream.clickhouse import ClickHouseUnavailable
from ocrstream.codec import CodecError, make_serde
from streams.dlq import (
    DEAD_LETTER_COLUMNS,
    Failure,
    GaveUp,
    RetryPolicy,
    TransientError,
    UnknownBusiness,
    classify_error,
    dead_letter,
    dead_letter_key,
    dead_letter_row,
    retry_async,
)
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
            raise TransientError("down")
        return "ok"

    policy = RetryPolicy(base_ms=1, max_ms=2, max_attempts=2)
    assert asyncio.run(retry_async(flaky, policy, "fetch", "t[0]@1")) == "ok" and calls["n"] == 3

    async def buggy():
        raise ZeroDivisionError("bug")

    with pytest.raises(GaveUp) as err:
        asyncio.run(retry_async(buggy, policy, "ocr", "t[0]@2"))
    assert err.value.failure.attempts == 2 and err.value.stage == "ocr"
