"""The one error model: every stage's errors are Permanent or Transient, and routing follows the base."""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from confluent_kafka import KafkaError

from ocr_agents.errors import EngineUnavailable, UnknownEngine
from ocrstream.clickhouse import ClickHouseUnavailable
from ocrstream.codec import CodecError
from ocrstream.errors import (
    EmptyInput,
    InvalidRecord,
    ObjectMissing,
    ObjectTooLarge,
    Permanent,
    Transient,
    classify_error,
)
from ocrstream.kafka import BrokerUnavailable, DeliveryFailed, DeliveryRefused, ProduceBlocked, delivery_error
from ocrstream.objectstore import ObjectStore
from ocrstream.settings import Settings
from producers import errors as producer_errors
from producers.importer import BadLine
from producers.s3events import BadEvent
from streams.fetch import FetchRefused, FetchUnavailable
from streams.sink import RefusedByClickHouse


@pytest.mark.parametrize("exc,kind", [
    (EmptyInput(""), "permanent"), (ObjectMissing("s3://b/k"), "permanent"), (InvalidRecord("x"), "permanent"),
    (CodecError("bad"), "permanent"), (FetchRefused("u"), "permanent"), (BadEvent("e"), "permanent"),
    (RefusedByClickHouse("r"), "permanent"), (BadLine("document_id missing"), "permanent"),
    (delivery_error("t", KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)), "permanent"),
    (delivery_error("t", KafkaError(KafkaError._MSG_TIMED_OUT)), "transient"),
    (FetchUnavailable("s3 down"), "transient"), (ClickHouseUnavailable("down"), "transient"),
    (EngineUnavailable("no model"), "transient"), (BrokerUnavailable("no broker"), "transient"),
    (producer_errors.StoreUnavailable("no bucket"), "transient"), (BrokenProcessPool(), "transient"),
    (ProduceBlocked("queue full"), "transient"),
    (ReadTimeoutError(endpoint_url="http://s3"), "transient"), (ConnectionResetError(), "transient"),
    (UnknownEngine("nope"), "unknown"), (producer_errors.ProducerError("bad flag"), "unknown"),
    (KeyError("k"), "unknown"),
])
def test_routing_is_by_base_class(exc: BaseException, kind: str) -> None:
    assert classify_error(exc) == kind
    assert isinstance(exc, Permanent) == (kind == "permanent")


def test_a_refused_delivery_is_a_failed_delivery_that_counts_as_permanent() -> None:
    refused = delivery_error("p.ocr-results", KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
    assert isinstance(refused, DeliveryRefused) and isinstance(refused, DeliveryFailed)
    assert isinstance(refused, Transient) and isinstance(refused, Permanent)  # both: permanent wins
    assert refused.error_class == "DeliveryRefused.MSG_SIZE_TOO_LARGE" and "p.ocr-results" in str(refused)


def test_permanent_reason_is_one_line_and_stage_is_kept() -> None:
    err = InvalidRecord("event_time\n   out of   range", stage="aggregate")
    assert str(err) == err.reason == "event_time out of range"
    assert err.stage == "aggregate" and InvalidRecord("x").stage == "validate" and ObjectMissing("x").stage == "fetch"
    # a document or codec error leaves the stage to whoever caught it (decode, fetch, ocr, aggregate)
    assert EmptyInput("").stage is None and CodecError("bad").stage is None
    assert EmptyInput("").reason == "EmptyInput" and ObjectTooLarge("big").error_class == "ObjectTooLarge"


class _Client:
    """A boto3 client whose object is missing or too large."""

    def __init__(self, code: str | None = None, length: int = 0) -> None:
        self.code, self.length = code, length

    def get_object(self, **_: Any) -> dict[str, Any]:
        if self.code:
            raise ClientError({"Error": {"Code": self.code}}, "GetObject")

        class Body:
            closed = False

            def close(self) -> None:
                Body.closed = True

        return {"Body": Body(), "ContentLength": self.length}


def test_the_object_store_raises_the_one_object_missing_error() -> None:
    store = ObjectStore(Settings())
    store.client = _Client("NoSuchKey")  # type: ignore[misc]
    with pytest.raises(ObjectMissing, match=r"s3://docs/sha256/ab does not exist \(NoSuchKey\)"):
        store.get("docs", "sha256/ab")
    store.client = _Client(length=10)  # type: ignore[misc]
    with pytest.raises(ObjectTooLarge, match="10 bytes > limit 5"):
        store.get("docs", "sha256/ab", max_bytes=5)
