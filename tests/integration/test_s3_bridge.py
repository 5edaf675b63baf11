"""The S3 upload bridge against the real local stack (SeaweedFS + Tansu).

* uploads with plain boto3 become ``DocumentRef``s (business from the key prefix,
  content-addressed id, event time of the upload), bad ones dead letters with the reason;
* a bridge killed with SIGKILL and restarted neither loses nor repeats an upload, and
  leaves no ``weed filer.meta.tail`` behind;
* the production path: MinIO-format notifications on the ``s3-events`` topic;
* a file put into the documents bucket of the running local
  stack with boto3 ``put_object`` appears in the API with the business of its key prefix.
"""

from __future__ import annotations

import hashlib
import json
import logging
import signal
import subprocess
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import cv2
import numpy as np
import pytest
from botocore.config import Config

from ocrstream.codec import make_serde
from ocrstream.settings import Settings
from ocrstream.topics import DLQ, DOCUMENTS, S3_EVENTS
from tests.support import TEST_DATA
from tests.support.backends import BACKEND
from tests.support.processes import settings_env
from tests.support.streams import read_topic, stream_settings

pytestmark = pytest.mark.integration

DATA = TEST_DATA / "s3events"


def s3_client(settings: Settings) -> Any:
    """A plain boto3 client (no ocrstream code), as any user would configure one."""
    s3 = settings.s3
    return boto3.client("s3", endpoint_url=s3.endpoint, aws_access_key_id=s3.access_key,
                        aws_secret_access_key=s3.secret_key, region_name=s3.region,
                        config=Config(s3={"addressing_style": "path"}))


def png(seed: int, size: int = 48) -> bytes:
    """A small real PNG, different bytes per seed."""
    rng = np.random.default_rng(seed)
    ok, buf = cv2.imencode(".png", rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    assert ok
    return buf.tobytes()


def bridge_settings(settings: Settings, state_dir: Path, **extra: Any) -> Settings:
    """The test's topics, its own checkpoint folder, only uploads from now on."""
    return settings.with_overrides(**{"state_dir": state_dir, "bridge.start_at": "now",
                                      "retry.backoff_ms": 50, **extra})


def refs_of(settings: Settings, business: str | None) -> list[dict[str, Any]]:
    """DocumentRefs on the test's documents topic (of one business, or all)."""
    serde = make_serde("DocumentRef")
    return [r for r in (serde.decode(m.value()) for m in read_topic(settings, DOCUMENTS.short_name, idle_s=1.0))
            if business is None or r["business_id"] == business]


def dead_letters_of(settings: Settings, marker: str) -> list[dict[str, Any]]:
    serde = make_serde("DeadLetter")
    out = []
    for m in read_topic(settings, DLQ.short_name, idle_s=1.0):
        dl = serde.decode(m.value())
        if marker in (dl["reference"] or "") or marker in (dl["business_id"] or "") \
                or marker.encode() in (dl["payload"] or b""):
            out.append(dl)
    return out


def wait_for(what: str, check: Any, timeout_s: float = 60.0, every_s: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every_s)


def checkpoint(settings: Settings) -> dict[str, Any] | None:
    path = settings.state_dir / "bridge" / f"seaweedfs-{settings.s3.documents_bucket}.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


# ---------------------------------------------------------------- the bridge itself

def test_uploads_become_document_refs_and_bad_ones_dead_letters(settings: Settings, tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    from ocrstream.objectstore import content_key
    from producers.bridge import run_bridge
    from producers.publish import DocumentPublisher, discover

    caplog.set_level(logging.INFO, logger="producers.bridge")
    s = bridge_settings(settings, tmp_path)
    stop = threading.Event()
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(stats=run_bridge(s, stop=stop)), daemon=True)
    thread.start()
    try:
        start = wait_for("the bridge's first checkpoint", lambda: checkpoint(s))
        biz = f"acme-{uuid.uuid4().hex[:8]}"
        bucket = s.s3.documents_bucket
        client = s3_client(s)
        image = png(1)
        pdf = b"%PDF-1.4\n" + b"0" * 200 + b"\n%%EOF\n"
        t0 = int(time.time() * 1000)
        uploads = {
            f"{biz}/receipt 1.png": image,
            f"{biz}/copy of receipt.png": image,  # same bytes, same business: a duplicate
            f"{biz}/2024/05/scan.pdf": pdf,
            f"{biz}.png": image,  # no business prefix
            f"{biz}/notes.txt": b"not a document",
            f"{biz}/empty.png": b"",
            f"Bad Name {biz}/x.png": image,  # prefix is not a business id
            f"sha256/{biz}/x.png": image,  # ocrstream's own content-addressed area: ignored
            f"{biz}/": b"",  # folder marker: ignored
        }
        for key, body in uploads.items():
            client.put_object(Bucket=bucket, Key=key, Body=body)
        t1 = int(time.time() * 1000)
        # `ocrstream publish` uploads into the same bucket (sha256/...) and publishes the document itself
        published = tmp_path / "published.png"
        published.write_bytes(png(2))
        with DocumentPublisher(s, f"{biz}-pub") as publisher:
            assert publisher.publish(discover([str(published)])[0]).published == 1
        publisher_key = content_key(hashlib.sha256(png(2)).hexdigest(), ".png")
        wait_for("2 refs and 4 dead letters",
                 lambda: len(refs_of(s, biz)) >= 2 and len(dead_letters_of(s, biz)) >= 4)
        wait_for("the bridge to pass the publisher's upload", lambda: any(
            f"ignored s3://{bucket}/{publisher_key}:" in r.getMessage() for r in caplog.records))
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()

    refs = {r["filename"]: r for r in refs_of(s, biz)}
    assert sorted(refs) == ["receipt 1.png", "scan.pdf"], refs  # the copy was skipped, nothing twice
    for key, media_type in ((f"{biz}/receipt 1.png", "image/png"), (f"{biz}/2024/05/scan.pdf", "application/pdf")):
        ref = refs[key.rsplit("/", 1)[1]]
        sha = hashlib.sha256(uploads[key]).hexdigest()
        assert ref["document_id"] == ref["sha256"] == sha
        assert ref["business_id"] == biz and ref["uri"] == f"s3://{bucket}/{key}"
        assert ref["media_type"] == media_type and ref["size_bytes"] == len(uploads[key])
        assert ref["source"] == "s3-event"
        assert t0 - 2000 <= ref["event_time"] <= t1 + 2000  # the upload time, from the filer event
    dead = {dl["error_class"]: dl for dl in dead_letters_of(s, biz)}
    assert sorted(dead) == ["EmptyInput", "NoBusinessPrefix", "UnsafeKey", "UnsupportedMedia"], dead
    assert all(dl["stage"] == "bridge" and dl["source_topic"] == f"seaweedfs:{bucket}" for dl in dead.values())
    assert dead["NoBusinessPrefix"]["reference"] == f"s3://{bucket}/{biz}.png"
    assert "no business prefix" in dead["NoBusinessPrefix"]["error_message"]
    assert dead["UnsupportedMedia"]["business_id"] == biz
    assert "not a business id" in dead["UnsafeKey"]["error_message"]
    (own,) = refs_of(s, f"{biz}-pub")  # the publisher's DocumentRef only: not bridged a second time
    assert own["source"] == "upload" and own["uri"] == f"s3://{bucket}/{publisher_key}"
    assert [r for r in refs_of(s, None) if r["document_id"] == own["document_id"]] == [own]
    stats = result["stats"]
    assert (stats.published, stats.duplicates, stats.dead_letters) == (2, 1, 4)
    assert stats.ignored >= 2  # the sha256/ key, the folder marker (plus directory events)
    end = checkpoint(s)
    assert end is not None and end["ts_ns"] > start["ts_ns"] and end["ts_ns"] >= (t0 - 1000) * 1_000_000


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return status.rsplit(")", 1)[1].split()[0] == "Z"


def test_restart_after_kill_neither_loses_nor_repeats(settings: Settings, tmp_path: Path, spawn) -> None:
    s = bridge_settings(settings, tmp_path)
    bucket = s.s3.documents_bucket
    client = s3_client(s)
    biz = f"restart-{uuid.uuid4().hex[:8]}"
    args = ("bridge", "--source", "seaweedfs", "--from", "now")

    first = spawn(*args, env=settings_env(s))
    wait_for("the first checkpoint", lambda: checkpoint(s))
    for i in range(3):
        client.put_object(Bucket=bucket, Key=f"{biz}/before-{i}.png", Body=png(100 + i))
    last_put_ns = time.time_ns()
    wait_for("3 refs", lambda: len(refs_of(s, biz)) == 3)
    wait_for("the checkpoint past them",
             lambda: (checkpoint(s) or {}).get("ts_ns", 0) >= last_put_ns - 2_000_000_000)
    tails = wait_for("the filer tail child", lambda: _children(first.pid))
    first.proc.kill()
    first.proc.wait(timeout=10)
    wait_for("the tail to die with the bridge", lambda: all(_gone(p) for p in tails), timeout_s=10)

    for i in range(2):  # uploaded while no bridge runs
        client.put_object(Bucket=bucket, Key=f"{biz}/while-down-{i}.png", Body=png(200 + i))
    second = spawn(*args, env=settings_env(s))
    wait_for("5 refs", lambda: len(refs_of(s, biz)) >= 5)
    # events are bridged in order: once a later upload is out, any repeat would be too
    client.put_object(Bucket=bucket, Key=f"{biz}/sentinel.png", Body=png(300))
    refs = wait_for("the sentinel", lambda: (r := refs_of(s, biz)) and any(
        x["filename"] == "sentinel.png" for x in r) and r)
    out = second.stop(signal.SIGTERM, 30)
    assert second.proc.returncode == 0, out[-3000:]
    names = sorted(r["filename"] for r in refs)
    assert names == sorted([f"before-{i}.png" for i in range(3)] + [f"while-down-{i}.png" for i in range(2)]
                           + ["sentinel.png"]), names
    assert len({r["document_id"] for r in refs}) == 6
    assert "bridged 3 uploads" in out, out[-3000:]  # the second run: 2 + the sentinel


def test_kafka_source_bridges_minio_notifications(settings: Settings) -> None:
    from confluent_kafka import Producer

    from ocrstream.kafka import producer_config
    from ocrstream.topics import ensure_topics
    from producers.bridge import run_bridge
    from producers.bridge_sources import KafkaSource

    s = settings.with_overrides(**{"bridge.group": f"bridge-{uuid.uuid4().hex[:6]}"})
    bucket = s.s3.documents_bucket
    biz = f"minio-{uuid.uuid4().hex[:8]}"
    key = f"{biz}/gopher 1.png"
    body = png(7)
    s3_client(s).put_object(Bucket=bucket, Key=key, Body=body)
    sample = json.loads((DATA / "minio-put.json").read_text())

    def minio_event(bucket_name: str, object_key: str, event_name: str = "s3:ObjectCreated:Put") -> bytes:
        doc = json.loads(json.dumps(sample))
        rec = doc["Records"][0]
        rec["eventName"] = doc["EventName"] = event_name
        rec["s3"]["bucket"]["name"] = bucket_name
        rec["s3"]["object"]["key"] = quote_plus(object_key, safe="")  # MinIO: url.QueryEscape, '/' too
        doc["Key"] = f"{bucket_name}/{object_key}"
        return json.dumps(doc).encode()

    ensure_topics(s, (S3_EVENTS,))
    topic = s.topic(S3_EVENTS.short_name)
    producer = Producer(producer_config(s))
    for value in (minio_event(bucket, key), minio_event(bucket, key, "s3:ObjectRemoved:Delete"),
                  minio_event("images", f"{biz}/gopher.jpg"), minio_event(bucket, f"{biz}/deleted-since.png"),
                  f'{{"Records": [{{"eventName": "s3:ObjectCreated:Put", "note": "{biz}"'.encode()):
        producer.produce(topic, value=value, key=f"{bucket}/{key}".encode())
    assert producer.flush(30) == 0

    stats = run_bridge(s, stop=threading.Event(), source=KafkaSource(s), idle_exit_s=3.0)
    assert (stats.notifications, stats.published, stats.dead_letters) == (5, 1, 2), stats
    assert stats.ignored == 2  # the delete, the object that no longer exists
    (ref,) = refs_of(s, biz)
    assert ref["uri"] == f"s3://{bucket}/{key}" and ref["filename"] == "gopher 1.png"
    assert ref["document_id"] == hashlib.sha256(body).hexdigest()
    assert ref["event_time"] == 1_540_978_271_000  # the event's eventTime, 2018-10-31T09:31:11Z
    dead = {dl["error_class"]: dl for dl in dead_letters_of(s, biz)}
    assert sorted(dead) == ["BadEvent", "UnknownBucket"], dead
    assert dead["UnknownBucket"]["reference"] == f"s3://images/{biz}/gopher.jpg"
    bad = dead["BadEvent"]
    assert bad["source_topic"] == topic and bad["payload"].startswith(b'{"Records"') and bad["payload_size"] > 0
    # offsets were committed: the same group finds nothing left
    again = run_bridge(s, stop=threading.Event(), source=KafkaSource(s), idle_exit_s=2.0)
    assert again.notifications == 0


# ---------------------------------------------------------------- plain S3 client into the running stack

@pytest.mark.slow
@pytest.mark.skipif(BACKEND != "local", reason="the bridge of the embedded local stack (SeaweedFS); "
                    "MinIO's notifications reach the bridge through Kafka (test above)")
def test_put_object_into_the_running_stack_appears_in_the_api(stack: Any, spawn) -> None:
    """boto3 put_object into the stack's documents bucket -> the stack's bridge -> worker -> sink -> API."""
    from fastapi.testclient import TestClient

    from serving import create_app
    from ocrstream.clickhouse import connect
    from synth.documents import render_document
    from streams.sink import AggregationSink

    status = stack.stack.status()
    assert status["parts"]["bridge"]["up"], status["parts"]  # `stack up` started it
    biz = f"acme-{uuid.uuid4().hex[:8]}"
    s = stream_settings(stack.settings, **{"worker.app_id": f"ocr-{uuid.uuid4().hex[:6]}",
                                           "worker.known_businesses": [biz], "worker.ocr_workers": 1,
                                           "api.cache_ttl_s": 0.0})
    image, truth = render_document("receipt", 4242)
    ok, buf = cv2.imencode(".png", image)
    assert ok
    body = buf.tobytes()

    worker = spawn("worker", env=settings_env(s))
    client = connect(s)
    sink = AggregationSink(s, client=client)
    sink_thread = threading.Thread(target=sink.run, name="sink", daemon=True)
    sink_thread.start()
    try:
        with TestClient(create_app(s, client)) as api:
            t0 = int(time.time() * 1000)
            s3_client(s).put_object(Bucket=s.s3.documents_bucket, Key=f"{biz}/receipt.png", Body=body,
                                    ContentType="image/png")

            def listed() -> list[dict[str, Any]]:
                if worker.proc.poll() is not None:
                    raise AssertionError(f"worker exited:\n{worker.output.text(wait_end_s=10)[-3000:]}")
                resp = api.get("/api/documents", params={"business_id": biz})
                assert resp.status_code == 200, resp.text
                return resp.json()["documents"]

            (row,) = wait_for("the upload in /api/documents", listed, timeout_s=240, every_s=1.0)
            detail = api.get(f"/api/documents/{row['document_id']}").json()
    finally:
        sink.stop()
        sink_thread.join(timeout=30)
    assert row["business_id"] == biz and detail["business_id"] == biz
    assert detail["document_id"] == hashlib.sha256(body).hexdigest()
    assert detail["uri"] == f"s3://{s.s3.documents_bucket}/{biz}/receipt.png"
    assert detail["source"] == "s3-event"
    event_ms = int(datetime.fromisoformat(detail["event_time"].replace("Z", "+00:00")).timestamp() * 1000)
    assert abs(event_ms - t0) < 60_000  # the upload's time
    assert truth["fields"]["vendor"] in detail["text"]
    assert detail["fields"]["total"] == pytest.approx(truth["fields"]["total"])
