"""Bad input through the Faust OCR worker: every kind lands in the DLQ with its reason,
while good documents keep flowing to ``ocr-results``.

Runs ``ocrstream worker`` as a subprocess (real Faust worker, real OCR pool)
against the session stack's broker and S3.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import time
import uuid

import cv2
import pytest

from ocrstream.codec import make_serde
from ocrstream.kafka import make_producer
from ocrstream.objectstore import ObjectStore
from ocrstream.records import frame_document_id
from ocrstream.topics import DLQ, DOCUMENTS, OCR_RESULTS, ensure_topics
from tests.support.streams import read_topic
from tests.support.media import png_header_bomb
from tests.support.processes import settings_env

pytestmark = pytest.mark.integration

NOW = 1_767_225_600_000




def ref(uri: str, business: str = "biz-good", document_id: str | None = None, event_time: int = NOW,
        media_type: str = "image/png") -> dict:
    return {"document_id": document_id or f"doc-{uuid.uuid4().hex[:10]}", "business_id": business, "uri": uri,
            "sha256": "0" * 64, "size_bytes": 0, "media_type": media_type, "event_time": event_time,
            "source": "upload", "presigned_url": None, "filename": None, "published_at": NOW}


def frame(stream_id: str, number: int, business: str = "biz-good", image_uri: str | None = None,
          image_jpeg: bytes | None = None) -> dict:
    return {"stream_id": stream_id, "frame_number": number, "business_id": business, "event_time": NOW,
            "image_jpeg": image_jpeg, "image_uri": image_uri, "sha256": "0" * 64, "width": 640, "height": 480,
            "phash": "0" * 16, "sharpness": 100.0}


POISON_BYTES = 9_000_000  # above the broker's 8 MiB message limit once wrapped in a dead letter


def test_bad_records_go_to_dlq_and_good_ones_flow(settings, tmp_path, spawn):
    """34 kinds of bad input, each dead-lettered at once with its stage, class and reason (a bounded
    excerpt + the source position, never the payload), while good documents keep flowing - also on
    the partitions behind a FIFO or a 9 MB poison record."""
    from synth.pdf import PdfPageSpec, write_pdf
    from synth.documents import render_document
    from tests.support.media import jpeg_with_size

    root = tmp_path / "files"
    root.mkdir()
    (root / "sub").mkdir()
    outside = tmp_path / "secret.png"
    s = settings.with_overrides(**{
        "worker.app_id": f"ocr-{uuid.uuid4().hex[:6]}",
        "fetch.file_root": str(root),
        "worker.known_businesses": ["biz-good", "biz-other"],
        "fetch.allowed_schemes": ["file", "s3", "http"],
        "fetch.allowed_http_hosts": ["localhost", "2002:7f00:1::1", "2001:0:4136:e378:8000:63bf:80ff:fffe"],
        "worker.ocr_workers": 1,
        "retry.backoff_ms": 50,
        "retry.max_backoff_ms": 500,
        "ocr.max_object_bytes": 2_000_000,
        "ocr.max_pixels": 40_000_000,
        "ocr.max_pages": 2,
        "kafka.message_max_bytes": 10_000_000,  # the poison record must reach the worker
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
    (root / "bomb.jpg").write_bytes(jpeg_with_size(30_000, 30_000))
    (root / "notes.txt").write_bytes(b"just some text, not an image\n" * 20)
    os.mkfifo(root / "pipe.png")  # opening it blocking would hang the worker for good
    (root / "folder.png").mkdir()
    pdf_page = PdfPageSpec(lines=[(72, 72, 12, "TOTAL 1.00")])
    (root / "locked.pdf").write_bytes(write_pdf([pdf_page], password_protected=True))
    (root / "broken.pdf").write_bytes(b"%PDF-1.7\n this is not a pdf body at all")
    (root / "long.pdf").write_bytes(write_pdf([pdf_page] * 3))
    port = s.s3.endpoint.rsplit(":", 1)[1]

    bad = {  # name -> (record or raw bytes, expected stage, expected error class, reason pattern)
        "bad_avro": (b"\xc3\x01not-avro-at-all", "decode", "CodecError", r"fingerprint|decode"),
        "poison_9mb": (b"\xc3\x01" + b"\xab" * POISON_BYTES, "decode", "CodecError", r"fingerprint|decode"),
        "unknown_business": (ref(f"file://{root}/good.png", business="biz-evil"), "validate", "UnknownBusiness",
                             r"unknown business 'biz-evil'"),
        "bad_event_time": (ref(f"file://{root}/good.png", event_time=0), "validate", "InvalidRecord", r"event_time 0"),
        "negative_event_time": (ref(f"file://{root}/good.png", event_time=-5), "validate", "InvalidRecord",
                                r"event_time -5"),
        "empty_document_id": (ref(f"file://{root}/good.png") | {"document_id": ""}, "validate", "InvalidRecord",
                              r"empty document_id"),
        "empty_business_id": (ref(f"file://{root}/good.png", business=""), "validate", "InvalidRecord",
                              r"empty business_id"),
        "path_traversal": (ref(f"file://{root}/sub/../../secret.png"), "fetch", "FetchRefused", r"traversal"),
        "outside_root": (ref("file:///etc/hostname"), "fetch", "FetchRefused", r"outside the file root"),
        "symlink_escape": (ref(f"file://{root}/sub/link.png"), "fetch", "FetchRefused", r"symlink escape"),
        "fifo": (ref(f"file://{root}/pipe.png"), "fetch", "FetchRefused", r"not a regular file \(a FIFO\)"),
        "directory": (ref(f"file://{root}/folder.png"), "fetch", "FetchRefused", r"not a regular file \(a directory\)"),
        "nul_in_uri": (ref(f"file://{root}/good.png%00.txt"), "fetch", "FetchRefused", r"NUL or control character"),
        "malformed_uri": (ref("http://[::1/x.png"), "fetch", "FetchRefused", r"malformed URI"),
        "ssrf_metadata": (ref("http://169.254.169.254/latest/meta-data/"), "fetch", "FetchRefused", r"allow-listed"),
        "ssrf_loopback": (ref(f"http://localhost:{port}/{bucket}/{key}"), "fetch", "FetchRefused", r"SSRF guard"),
        "ssrf_6to4": (ref(f"http://[2002:7f00:1::1]:{port}/{bucket}/{key}"), "fetch", "FetchRefused", r"SSRF guard"),
        "ssrf_teredo": (ref("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/x.png"), "fetch", "FetchRefused",
                        r"SSRF guard"),
        "http_host_not_allowed": (ref("http://example.com/doc.png"), "fetch", "FetchRefused", r"not allow-listed"),
        "scheme": (ref("ftp://example.com/doc.png"), "fetch", "FetchRefused", r"scheme 'ftp' is not allowed"),
        "bucket": (ref(f"s3://not-our-bucket/{key}"), "fetch", "FetchRefused", r"bucket 'not-our-bucket'"),
        "missing_object": (ref(f"s3://{bucket}/sha256/missing.png"), "fetch", "ObjectMissing", r"missing\.png"),
        "missing_file": (ref(f"file://{root}/nope.png"), "fetch", "ObjectMissing", r"does not exist"),
        "oversized": (ref(f"file://{root}/big.png"), "fetch", "ObjectTooLarge", r"> limit 2000000"),
        "bomb": (ref(f"file://{root}/bomb.png"), "fetch", "ImageTooLarge", r"10000000000 pixels"),
        "jpeg_bomb": (ref(f"file://{root}/bomb.jpg", media_type="image/jpeg"), "fetch", "ImageTooLarge",
                      r"900000000 pixels"),
        "corrupt": (ref(f"file://{root}/corrupt.png"), "ocr", "CorruptImage", r"."),
        "empty": (ref(f"file://{root}/empty.png"), "ocr", "EmptyInput", r"."),
        "unsupported": (ref(f"file://{root}/notes.txt", media_type="text/plain"), "ocr", "UnsupportedMedia", r"."),
        "encrypted_pdf": (ref(f"file://{root}/locked.pdf", media_type="application/pdf"), "ocr", "EncryptedPdf",
                          r"password"),
        "broken_pdf": (ref(f"file://{root}/broken.pdf", media_type="application/pdf"), "ocr", "CorruptPdf",
                       r"cannot parse PDF"),
        "too_many_pages": (ref(f"file://{root}/long.pdf", media_type="application/pdf"), "ocr", "TooManyPages",
                           r"3 pages, limit is 2"),
        "frame_without_image": (frame("cam-bad", 1), "validate", "InvalidRecord", r"neither image_jpeg nor image_uri"),
        "frame_bad_jpeg": (frame("cam-bad", 2, image_jpeg=b"\xff\xd8\xff\xe0 not really a jpeg"), "ocr",
                           "CorruptImage|UnsupportedMedia", r"."),
    }
    assert len(bad) >= 25
    good = [ref(f"file://{root}/good.png", document_id="good-file"), ref(f"s3://{bucket}/{key}", document_id="good-s3"),
            ref(f"s3://{bucket}/{key}", document_id="good-last")]

    doc_serde, frame_serde = make_serde("DocumentRef"), make_serde("VideoFrame")
    topic, frames_topic = s.topic(DOCUMENTS.short_name), s.topic("video-frames")
    producer = make_producer(s, **{"message.max.bytes": 10_000_000})
    ids: dict[str, str] = {}  # document id -> name
    markers: list[str] = []  # records without a usable id carry "marker-<name>" in their (excerpted) bytes

    def send(name: str, rec: object) -> None:
        if isinstance(rec, bytes):
            producer.produce(topic, value=rec, key=name.encode())
        elif "stream_id" in rec:  # a VideoFrame
            ids[frame_document_id(rec)] = name
            producer.produce(frames_topic, value=frame_serde.encode(rec), key=rec["stream_id"].encode())
        elif not rec["document_id"]:
            markers.append(name)
            rec = rec | {"filename": f"marker-{name}"}
            producer.produce(topic, value=doc_serde.encode(rec), key=name.encode())
        else:
            ids[rec["document_id"]] = name
            producer.produce(topic, value=doc_serde.encode(rec), key=rec["document_id"].encode())

    for i, (name, (rec, *_)) in enumerate(bad.items()):
        send(name, rec)
        if i == len(bad) // 2:
            producer.produce(topic, value=doc_serde.encode(good[0]), key=b"good-file")
    for r in good[1:]:  # after the FIFO and the poison record
        producer.produce(topic, value=doc_serde.encode(r), key=r["document_id"].encode())
    assert producer.flush(30) == 0

    worker = spawn("worker", env=settings_env(s))
    dl_serde = make_serde("DeadLetter")
    res_serde = make_serde("OcrResult")
    dead_msgs: list = []
    deadline = time.monotonic() + 240
    results: list[dict] = []
    while time.monotonic() < deadline and worker.proc.poll() is None:
        dead_msgs = read_topic(s, DLQ.short_name, idle_s=1)
        results = [res_serde.decode(m.value()) for m in read_topic(s, OCR_RESULTS.short_name, idle_s=1)]
        if len(dead_msgs) >= len(bad) and len({r["document_id"] for r in results}) >= len(good):
            break
        time.sleep(2)
    out = worker.stop(signal.SIGTERM, 30)
    by_name: dict[str, dict] = {}
    for m in dead_msgs:
        assert len(m.value()) < 16_000, "a dead letter must stay small"
        dl = dl_serde.decode(m.value())
        name = ids.get(dl["document_id"] or "")
        if name is None and dl["payload"]:
            name = next((n for n in markers if f"marker-{n}".encode() in dl["payload"]), None)
        if name is None and dl["stage"] == "decode":  # undecodable: known only by its size
            name = "poison_9mb" if dl["payload_size"] == POISON_BYTES + 2 else "bad_avro"
        if name:
            by_name[name] = dl
    missing = sorted(set(bad) - set(by_name))
    assert not missing, f"not in the DLQ: {missing}; worker output:\n{out[-4000:]}"
    for name, (_, stage, error_class, reason) in bad.items():
        dl = by_name[name]
        assert dl["stage"] == stage and re.fullmatch(error_class, dl["error_class"]), (name, dl)
        assert re.search(reason, dl["error_message"]), (name, dl["error_message"])
        assert dl["attempts"] == 1, (name, dl)  # permanent: dead-lettered at once, never retried
        assert dl["last_failure_time"] >= dl["first_failure_time"] > 0
        assert dl["source_topic"] in (topic, frames_topic) and dl["source_offset"] >= 0
        assert dl["payload"] is not None and len(dl["payload"]) <= 1024, name  # an excerpt, never the payload
        assert dl["payload_size"] and dl["payload_size"] >= len(dl["payload"]), name
    assert by_name["poison_9mb"]["payload_size"] == POISON_BYTES + 2
    assert {r["document_id"] for r in results} == {"good-file", "good-s3", "good-last"}, out[-3000:]
    for r in results:
        assert r["business_id"] == "biz-good" and r["event_time"] == NOW
        assert r["doc_type"] and r["text"], r
