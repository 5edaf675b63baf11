"""S3 event notification parsing (``producers.s3events``): AWS, MinIO and SeaweedFS samples.

The samples in ``tests/data/s3events/`` are the AWS user guide's and MinIO's documented
messages verbatim, and events recorded from SeaweedFS 4.48's ``weed filer.meta.tail``
(see that folder's README); variants (other keys, names, times) are derived from them here.
"""

from __future__ import annotations

import copy
import json
import os
import threading
from datetime import UTC, datetime

import pytest

from producers.s3events import (
    BadEvent,
    Ignored,
    NoBusinessPrefix,
    ObjectCreated,
    UnsafeKey,
    document_of_key,
    parse_filer_event,
    parse_notification,
)
from ocrstream.uris import parse_s3_uri, s3_uri
from tests.support import REPO, TEST_DATA

DATA = TEST_DATA / "s3events"


def sample(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def with_object(doc: dict, *, key: str | None = None, event_name: str | None = None,
                event_time: str | None = None, bucket: str | None = None) -> bytes:
    """The sample with its one record's key/eventName/eventTime/bucket replaced."""
    doc = copy.deepcopy(doc)
    rec = doc["Records"][0]
    if key is not None:
        rec["s3"]["object"]["key"] = key
    if event_name is not None:
        rec["eventName"] = event_name
        if "EventName" in doc:
            doc["EventName"] = event_name
    if event_time is not None:
        rec["eventTime"] = event_time
    if bucket is not None:
        rec["s3"]["bucket"]["name"] = bucket
    return json.dumps(doc).encode()


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).astimezone(UTC).timestamp() * 1000)


# ---------------------------------------------------------------- AWS

def test_aws_user_guide_sample() -> None:
    (event,) = parse_notification((DATA / "aws-put.json").read_bytes())
    assert event == ObjectCreated(bucket="mybucket", key="HappyFace.jpg", event_name="ObjectCreated:Put",
                                  event_time_ms=None,  # 1970-01-01T00:00:00.000Z: the object's mtime is used
                                  size=1024, etag="d41d8cd98f00b204e9800998ecf8427e")
    with pytest.raises(NoBusinessPrefix, match="has no business prefix"):
        document_of_key(event.key)


def test_aws_keys_are_url_decoded_and_times_parsed() -> None:
    doc = sample("aws-put.json")
    (event,) = parse_notification(with_object(doc, key="acme/2024/red+flower%281%29+%C3%A9t%C3%A9.jpg",
                                              event_time="2024-05-01T10:00:00.123Z"))
    assert isinstance(event, ObjectCreated)
    assert event.key == "acme/2024/red flower(1) été.jpg"
    assert event.event_time_ms == ms("2024-05-01T10:00:00.123+00:00")
    assert document_of_key(event.key) == ("acme", "red flower(1) été.jpg")
    (copied,) = parse_notification(with_object(doc, key="acme/x.png", event_name="ObjectCreated:Copy"))
    assert isinstance(copied, ObjectCreated) and copied.event_name == "ObjectCreated:Copy"
    (removed,) = parse_notification(with_object(doc, key="acme/x.png", event_name="ObjectRemoved:Delete"))
    assert isinstance(removed, Ignored) and "not an ObjectCreated event" in removed.reason


def test_aws_in_an_sns_envelope_and_the_test_event() -> None:
    inner = with_object(sample("aws-put.json"), key="acme/a.png", event_time="2024-05-01T10:00:00Z").decode()
    envelope = json.dumps({"Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:us-west-2:1:t",
                           "Subject": "Amazon S3 Notification", "Message": inner}).encode()
    (event,) = parse_notification(envelope)
    assert isinstance(event, ObjectCreated) and event.key == "acme/a.png"
    (test_event,) = parse_notification((DATA / "aws-test-event.json").read_bytes())
    assert isinstance(test_event, Ignored) and "s3:TestEvent" in test_event.reason


# ---------------------------------------------------------------- MinIO

def test_minio_documented_notification() -> None:
    (event,) = parse_notification((DATA / "minio-put.json").read_bytes())
    assert event == ObjectCreated(bucket="images", key="gopher.jpg", event_name="ObjectCreated:Put",
                                  event_time_ms=ms("2018-10-31T09:31:11+00:00"), size=162023,
                                  etag="5337769ffa594e742408ad3f30713cd7")


def test_minio_encodes_the_slash_too() -> None:
    doc = sample("minio-put.json")
    (event,) = parse_notification(with_object(doc, key="acme%2Fscans%2Fgopher+1.jpg"))
    assert isinstance(event, ObjectCreated) and event.key == "acme/scans/gopher 1.jpg"
    assert document_of_key(event.key) == ("acme", "gopher 1.jpg")
    (removed,) = parse_notification(with_object(doc, event_name="s3:ObjectRemoved:Delete"))
    assert isinstance(removed, Ignored)
    (multipart,) = parse_notification(with_object(doc, event_name="s3:ObjectCreated:CompleteMultipartUpload"))
    assert isinstance(multipart, ObjectCreated) and multipart.event_name == "ObjectCreated:CompleteMultipartUpload"


@pytest.mark.parametrize("payload, message", [
    (b"not json", "not JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"Records": "x"}', "no Records"),
    (b'{"Hello": 1}', "no Records"),
    (b'{"Records": [5]}', "not a JSON object"),
    (b'{"Records": [{"s3": {}}]}', "without eventName"),
])
def test_malformed_notifications_are_bad_events(payload: bytes, message: str) -> None:
    with pytest.raises(BadEvent, match=message):
        parse_notification(payload)


def test_records_missing_what_a_document_needs_are_bad_events() -> None:
    doc = sample("minio-put.json")
    no_key = copy.deepcopy(doc)
    del no_key["Records"][0]["s3"]["object"]["key"]
    with pytest.raises(BadEvent, match="without s3.object.key"):
        parse_notification(json.dumps(no_key))
    no_bucket = copy.deepcopy(doc)
    no_bucket["Records"][0]["s3"]["bucket"] = {}
    with pytest.raises(BadEvent, match="without s3.bucket.name"):
        parse_notification(json.dumps(no_bucket))
    with pytest.raises(BadEvent, match="not ISO 8601"):
        parse_notification(with_object(doc, event_time="yesterday"))


# ---------------------------------------------------------------- keys

@pytest.mark.parametrize("key, expected", [
    ("acme/receipt.jpg", ("acme", "receipt.jpg")),
    ("acme-2.eu_west/2024/05/scan 1.pdf", ("acme-2.eu_west", "scan 1.pdf")),
    ("sha256/ab/abcdef.png", "written by ocrstream itself"),
    ("acme/", "folder marker"),
    ("acme/.DS_Store", "hidden name"),
    (".uploads/abc/0001_x.part", "hidden name"),
])
def test_keys_that_name_a_document_or_are_ignored(key: str, expected: object) -> None:
    got = document_of_key(key, ("sha256/",))
    if isinstance(expected, tuple):
        assert got == expected
    else:
        assert isinstance(got, Ignored) and str(expected) in got.reason


@pytest.mark.parametrize("key, error, message", [
    ("receipt.jpg", NoBusinessPrefix, "no business prefix"),
    ("", UnsafeKey, "empty object key"),
    ("acme/../other/x.png", UnsafeKey, "'..'"),
    ("acme/./x.png", UnsafeKey, "'.'"),
    ("/acme/x.png", UnsafeKey, "empty segment"),
    ("acme//x.png", UnsafeKey, "empty segment"),
    ("acme/x\x00.png", UnsafeKey, "control character"),
    ("acme/x\n.png", UnsafeKey, "control character"),
    ("acme\\..\\x.png", UnsafeKey, "backslash"),
    ("acme/" + "x" * 1100, UnsafeKey, "longer than 1024"),
    ("Acme Corp/x.png", UnsafeKey, "not a business id"),
    ("-acme/x.png", UnsafeKey, "not a business id"),
    ("a" * 65 + "/x.png", UnsafeKey, "not a business id"),
])
def test_unsafe_keys_and_keys_without_a_business(key: str, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        document_of_key(key, ("sha256/",))


def test_object_uris_round_trip_through_the_fetch_policy() -> None:
    from ocrstream.settings import Settings
    from streams.fetch import Fetcher

    settings = Settings()
    fetcher = Fetcher.from_settings(settings)
    bucket = settings.s3.documents_bucket
    for key in ("acme/receipt 1.jpg", "acme/100%.png", "acme/#1?.png", "acme/été/reçu.pdf", "acme/a+b.png"):
        uri = s3_uri(bucket, key)
        assert fetcher.check(uri) == ("s3", (bucket, key)), key
        assert parse_s3_uri(uri) == (bucket, key), key


# ---------------------------------------------------------------- SeaweedFS

def test_seaweedfs_filer_events_recorded_from_4_48() -> None:
    events = [json.loads(line) for line in (DATA / "seaweedfs-4.48-filer-events.jsonl").read_text().splitlines()]
    parsed = [parse_filer_event(e) for e in events]
    created = [p for p in parsed if isinstance(p, ObjectCreated)]
    documents = [(p, document_of_key(p.key, ("sha256/",))) for p in created]
    bridged = [(p.key, place) for p, place in documents if not isinstance(place, Ignored)]
    # put, overwrite (new content), copy, the completed multipart upload; not the tag
    # update, the multipart parts, the folder marker, directories or deletes
    assert bridged == [("acme/receipt 1.png", ("acme", "receipt 1.png")),
                       ("acme/receipt 1.png", ("acme", "receipt 1.png")),
                       ("globex/copy.png", ("globex", "copy.png")),
                       ("acme/scan.pdf", ("acme", "scan.pdf"))]
    by_key = {p.key: p for p in created}
    assert by_key["acme/scan.pdf"].size == 8 + 100 + 6 * 1024 * 1024
    assert by_key["acme/scan.pdf"].etag and by_key["acme/scan.pdf"].etag.endswith("-2")  # 2 parts
    first = created[0]
    assert first.event_time_ms == int(events[1]["tsNs"]) // 1_000_000 and first.size == 108
    reasons = [p.reason for p in parsed if isinstance(p, Ignored)]
    assert "metadata update (content unchanged)" in reasons
    assert reasons.count("delete (not an ObjectCreated event)") == 4
    hidden = [place for _, place in documents if isinstance(place, Ignored)]
    assert len(hidden) == 2 and all("hidden name" in h.reason for h in hidden)  # the two .part files


def test_malformed_filer_events() -> None:
    good = json.loads((DATA / "seaweedfs-4.48-filer-events.jsonl").read_text().splitlines()[1])
    for broken, message in ((None, "not a JSON object"), ({"directory": "/x"}, "eventNotification"),
                            ({**good, "tsNs": "0"}, "tsNs")):
        with pytest.raises(BadEvent, match=message):
            parse_filer_event(broken)
    outside = copy.deepcopy(good)
    outside["directory"] = outside["eventNotification"]["newParentPath"] = "/etc"
    result = parse_filer_event(outside)
    assert isinstance(result, Ignored) and "not in a bucket" in result.reason


def test_filer_tail_output_is_split_into_events() -> None:
    from producers.bridge_sources import _json_objects

    events = [json.loads(line) for line in (DATA / "seaweedfs-4.48-filer-events.jsonl").read_text().splitlines()]
    text = "".join(json.dumps(e, indent=2) + "\n" for e in events[:3])
    text += "tail 127.0.0.1:8336: subscribing filer meta change: connection refused\n"
    data = text.encode()
    read_fd, write_fd = os.pipe()

    def writer() -> None:
        for i in range(0, len(data), 777):  # chunks cut objects (and UTF-8) anywhere
            os.write(write_fd, data[i:i + 777])
        os.close(write_fd)

    thread = threading.Thread(target=writer)
    thread.start()
    out = list(_json_objects(read_fd, threading.Event()))
    thread.join()
    os.close(read_fd)
    assert out[:3] == events[:3]
    assert out[3:] == ["tail 127.0.0.1:8336: subscribing filer meta change: connection refused"]


# ---------------------------------------------------------------- docker-compose wiring

def test_compose_wires_minio_notifications_to_the_bridge() -> None:
    import re

    import yaml

    from ocrstream.settings import Settings
    from ocrstream.topics import ALL_TOPICS, S3_EVENTS

    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    env = services["minio"]["environment"]
    targets = {k.rsplit("_", 1)[1] for k in env if k.startswith("MINIO_NOTIFY_KAFKA_ENABLE_") and env[k] == "on"}
    assert targets, "no MinIO Kafka notification target"
    init = " ".join(services["minio-init"]["command"])
    subscribed = re.findall(r"mc event add \S* ?(\S+) arn:minio:sqs::(\w+):kafka --event (\S+)", init)
    assert subscribed, init
    bucket_path, target, events = subscribed[0]
    settings = Settings()
    assert target in targets and bucket_path == f"local/{settings.s3.documents_bucket}" and "put" in events
    assert env[f"MINIO_NOTIFY_KAFKA_BROKERS_{target}"] == services["bridge"]["environment"]["OCRSTREAM_KAFKA__BOOTSTRAP"]
    assert env[f"MINIO_NOTIFY_KAFKA_TOPIC_{target}"] == settings.topic(S3_EVENTS.short_name)
    assert env.get(f"MINIO_NOTIFY_KAFKA_QUEUE_DIR_{target}", "").startswith("/data/")  # survives restarts
    assert S3_EVENTS in ALL_TOPICS  # `ocrstream topics` (the init service) creates it
    bridge = services["bridge"]
    assert bridge["command"] == ["ocrstream", "bridge", "--source", "kafka"]
    assert bridge["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert services["minio"]["depends_on"]["kafka"]["condition"] == "service_healthy"
