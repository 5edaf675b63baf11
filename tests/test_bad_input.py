"""Bad input through the Faust OCR worker: every kind lands in the DLQ with its reason,
while good documents keep flowing to ``ocr-results`` (issue 5).

Runs ``ocrstream worker`` as a subprocess (real Faust worker, real OCR pool)
against the session stack's broker and S3.
"""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess
import sys
import time
import uuid
import zlib
from pathlib import Path

import cv2
import pytest

from ocrstream.codec import make_serde
from ocrstream.kafka import make_producer
from ocrstream.objectstore import ObjectStore
from ocrstream.topics import DLQ, DOCUMENTS, OCR_RESULTS, ensure_topics
from tests.streams_helpers import read_topic
from tests.test_crash import settings_env

pytestmark = pytest.mark.integration

NOW = 1_767_225_600_000


def png_header_bomb(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height pixels (decompression-bomb shape)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    body = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat = zlib.compress(b"\x00" * 1024)
    body += struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    return b"\x89PNG\r\n\x1a\n" + body + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))


def ref(uri: str, business: str = "biz-good", document_id: str | None = None, event_time: int = NOW,
        media_type: str = "image/png") -> dict:
    return {"document_id": document_id or f"doc-{uuid.uuid4().hex[:10]}", "business_id": business, "uri": uri,
            "sha256": "0" * 64, "size_bytes": 0, "media_type": media_type, "event_time": event_time,
            "source": "upload", "presigned_url": None, "filename": None, "published_at": NOW}


def test_bad_records_go_to_dlq_and_good_ones_flow(settings, tmp_path):
    from producers.docgen import render_document

    root = tmp_path / "files"
    root.mkdir()
    (root / "sub").mkdir()
    outside = tmp_path / "secret.png"
    s = settings.with_overrides(**{
        "stream.app_id": f"ocr-{uuid.uuid4().hex[:6]}",
        "stream.file_root": str(root),
        "stream.known_businesses": ["biz-good", "biz-other"],
        "stream.allowed_schemes": ["file", "s3", "http"],
        "stream.allowed_http_hosts": ["localhost"],
        "stream.ocr_workers": 1,
        "stream.retry_backoff_ms": 50,
        "stream.max_retry_backoff_ms": 500,
        "ocr.max_object_bytes": 2_000_000,
        "ocr.max_pixels": 40_000_000,
    })
    ensure_topics(s)
    store = ObjectStore(s)
    bucket = s.s3.documents_bucket
    store.ensure_bucket(bucket)

    good_png = cv2.imencode(".png", render_document("receipt", 3)[0])[1].tobytes()
    (root / "good.png").write_bytes(good_png)
    key = f"sha256/{hashlib.sha256(good_png).hexdigest()}.png"
    store.put(bucket, key, good_png, "image/png")
    outside.write_bytes(good_png)
    os.symlink(outside, root / "sub" / "link.png")
    (root / "corrupt.png").write_bytes(good_png[:200] + b"\x00garbage" * 50)
    (root / "empty.png").write_bytes(b"")
    (root / "big.png").write_bytes(b"\x89PNG" + os.urandom(2_100_000))
    (root / "bomb.png").write_bytes(png_header_bomb(100_000, 100_000))
    (root / "notes.txt").write_bytes(b"just some text, not an image\n" * 20)
    port = s.s3.endpoint.rsplit(":", 1)[1]

    bad = {  # name -> (record or raw bytes, expected stage, expected error class)
        "bad_avro": (b"\xc3\x01not-avro-at-all", "decode", "CodecError"),
        "unknown_business": (ref(f"file://{root}/good.png", business="biz-evil"), "validate", "UnknownBusiness"),
        "bad_event_time": (ref(f"file://{root}/good.png", event_time=0), "validate", "InvalidRecord"),
        "path_traversal": (ref(f"file://{root}/sub/../../secret.png"), "fetch", "FetchRefused"),
        "outside_root": (ref("file:///etc/hostname"), "fetch", "FetchRefused"),
        "symlink_escape": (ref(f"file://{root}/sub/link.png"), "fetch", "FetchRefused"),
        "ssrf_metadata": (ref("http://169.254.169.254/latest/meta-data/"), "fetch", "FetchRefused"),
        "ssrf_loopback": (ref(f"http://localhost:{port}/{bucket}/{key}"), "fetch", "FetchRefused"),
        "scheme": (ref("ftp://example.com/doc.png"), "fetch", "FetchRefused"),
        "bucket": (ref(f"s3://not-our-bucket/{key}"), "fetch", "FetchRefused"),
        "missing_object": (ref(f"s3://{bucket}/sha256/missing.png"), "fetch", "ObjectMissing"),
        "missing_file": (ref(f"file://{root}/nope.png"), "fetch", "ObjectMissing"),
        "oversized": (ref(f"file://{root}/big.png"), "fetch", "ObjectTooLarge"),
        "bomb": (ref(f"file://{root}/bomb.png"), "fetch", "ImageTooLarge"),
        "corrupt": (ref(f"file://{root}/corrupt.png"), "ocr", "CorruptImage"),
        "empty": (ref(f"file://{root}/empty.png"), "ocr", "EmptyInput"),
        "unsupported": (ref(f"file://{root}/notes.txt", media_type="text/plain"), "ocr", "UnsupportedMedia"),
    }
    good = [ref(f"file://{root}/good.png", document_id="good-file"), ref(f"s3://{bucket}/{key}", document_id="good-s3")]

    serde = make_serde("DocumentRef")
    topic = s.topic(DOCUMENTS.short_name)
    producer = make_producer(s)
    ids: dict[str, str] = {}
    for i, (name, (rec, _, _)) in enumerate(bad.items()):
        if isinstance(rec, bytes):
            producer.produce(topic, value=rec, key=name.encode())
        else:
            ids[rec["document_id"]] = name
            producer.produce(topic, value=serde.encode(rec), key=rec["document_id"].encode())
        if i == len(bad) // 2:
            r = good[0]
            producer.produce(topic, value=serde.encode(r), key=r["document_id"].encode())
    producer.produce(topic, value=serde.encode(good[1]), key=good[1]["document_id"].encode())
    assert producer.flush(30) == 0

    proc = subprocess.Popen([sys.executable, "-m", "ocrstream", "worker"], env=settings_env(s),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=Path(__file__).resolve().parent.parent)
    dl_serde = make_serde("DeadLetter")
    res_serde = make_serde("OcrResult")
    try:
        deadline = time.monotonic() + 240
        dead: list[dict] = []
        results: list[dict] = []
        while time.monotonic() < deadline and proc.poll() is None:
            dead = [dl_serde.decode(m.value()) for m in read_topic(s, DLQ.short_name, idle_timeout_s=1)]
            results = [res_serde.decode(m.value()) for m in read_topic(s, OCR_RESULTS.short_name, idle_timeout_s=1)]
            if len(dead) >= len(bad) and len({r["document_id"] for r in results}) >= 2:
                break
            time.sleep(2)
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    by_name: dict[str, dict] = {}
    for dl in dead:
        name = ids.get(dl["document_id"] or "") or ("bad_avro" if dl["stage"] == "decode" else None)
        if name:
            by_name[name] = dl
    missing = sorted(set(bad) - set(by_name))
    assert not missing, f"not in the DLQ: {missing}; worker output:\n{out[-4000:]}"
    for name, (_, stage, error_class) in bad.items():
        dl = by_name[name]
        assert (dl["stage"], dl["error_class"]) == (stage, error_class), (name, dl)
        assert dl["error_message"], name
        assert dl["attempts"] >= 1 and dl["last_failure_time"] >= dl["first_failure_time"] > 0
        assert dl["payload"] is not None or dl["reference"], name
    assert {r["document_id"] for r in results} == {"good-file", "good-s3"}, out[-3000:]
    for r in results:
        assert r["business_id"] == "biz-good" and r["event_time"] == NOW
        assert r["doc_type"] and r["text"], r
