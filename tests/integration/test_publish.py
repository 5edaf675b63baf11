"""Document producer against the real local stack (Tansu + SeaweedFS)."""

from __future__ import annotations

import hashlib
import shutil
import socket
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ocrstream.codec import make_serde
from ocrstream.objectstore import ObjectStore
from ocrstream.records import TEXT_DOC_TYPES
from ocrstream.settings import Settings
from ocrstream.topics import DOCUMENTS, ensure_topics
from synth.documents import generate_corpus
from tests.support.cli import assert_one_line_error
from tests.support.streams import read_topic

KINDS = TEXT_DOC_TYPES


def _cli(settings: Settings, *args: str):
    from ocrstream.cli import app

    return CliRunner().invoke(app, list(args), env=settings.as_env())


@pytest.fixture
def doc_settings(settings: Settings, tmp_path: Path) -> Settings:
    """Per-test topics, documents bucket and state dir (ledger) on the session stack."""
    s = settings.with_overrides(**{"s3.documents_bucket": f"docs-{uuid.uuid4().hex[:10]}",
                                   "state_dir": tmp_path / "state"})
    ensure_topics(s)
    ObjectStore(s).ensure_bucket(s.s3.documents_bucket)
    return s


def _refs(settings: Settings, expected: int | None = None, idle_s: float = 3.0) -> list[dict]:
    serde = make_serde("DocumentRef")
    msgs = read_topic(settings, DOCUMENTS.short_name, expected, idle_s)
    return [serde.decode(m.value()) for m in msgs]


@pytest.mark.integration
def test_directory_with_duplicates_publishes_once(doc_settings: Settings, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    pngs = generate_corpus(docs, 45, seed=61, kinds=KINDS, noisy_fraction=0.0)
    for i, src in enumerate(pngs[:5]):  # 5 byte-identical copies under other names
        shutil.copy(src, docs / f"copy-{i}.png")
    files = sorted(docs.glob("*.png"))
    assert len(files) == 50
    expected = {hashlib.sha256(p.read_bytes()).hexdigest(): p.stat().st_size for p in files}
    assert len(expected) == 45

    result = _cli(doc_settings, "publish", str(docs), "--business", "acme")
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "published 45, skipped as duplicate 5, failed 0" in out
    assert "ignored (not a document) 45" in out  # the ground-truth JSON files

    store = ObjectStore(doc_settings)
    keys = store.list_keys(doc_settings.s3.documents_bucket)
    assert len(keys) == 45
    assert {k.rsplit("/", 1)[-1].split(".")[0] for k in keys} == set(expected)

    refs = _refs(doc_settings, expected=46, idle_s=3.0)
    assert len(refs) == 45
    assert {r["sha256"]: r["size_bytes"] for r in refs} == expected
    for r in refs:
        assert r["document_id"] == r["sha256"]
        assert r["business_id"] == "acme" and r["media_type"] == "image/png" and r["source"] == "upload"
        bucket, key = r["uri"][len("s3://"):].split("/", 1)
        assert bucket == doc_settings.s3.documents_bucket
        assert hashlib.sha256(store.get(bucket, key)).hexdigest() == r["sha256"]
        assert r["event_time"] > 1_600_000_000_000 and r["filename"].endswith(".png")

    again = _cli(doc_settings, "publish", str(docs), "--business", "acme")
    assert again.exit_code == 0, again.output
    assert "published 0, skipped as duplicate 50, failed 0" in " ".join(again.output.split())
    assert len(_refs(doc_settings, idle_s=2.0)) == 45
    assert len(store.list_keys(doc_settings.s3.documents_bucket)) == 45


@pytest.mark.integration
def test_presigned_url_and_s3_prefix_input(doc_settings: Settings, tmp_path: Path) -> None:
    from producers.publish import DocumentPublisher, discover

    [png] = generate_corpus(tmp_path / "one", 1, seed=62, kinds=("receipt",), noisy_fraction=0.0)
    store = ObjectStore(doc_settings)
    store.put(doc_settings.s3.documents_bucket, "incoming/2024/scan.png", png.read_bytes(), "image/png")
    store.put(doc_settings.s3.documents_bucket, "incoming/2024/notes.txt", b"not a document")
    with DocumentPublisher(doc_settings, "globex", presign=True) as pub:
        cands, ignored = discover([f"s3://{doc_settings.s3.documents_bucket}/incoming/"], pub.store)
        assert ignored == 1 and len(cands) == 1
        summary = pub.publish(cands)
    assert summary.published == 1 and not summary.failed
    [ref] = _refs(doc_settings, expected=1)
    assert ref["uri"] == f"s3://{doc_settings.s3.documents_bucket}/incoming/2024/scan.png"  # referenced in place
    assert ref["sha256"] == hashlib.sha256(png.read_bytes()).hexdigest()
    with urllib.request.urlopen(ref["presigned_url"], timeout=10) as resp:  # no credentials needed
        assert resp.read() == png.read_bytes()


@pytest.mark.integration
def test_watch_publishes_new_files_once_across_restarts(doc_settings: Settings, tmp_path: Path) -> None:
    from producers.publish import DocumentPublisher, watch_directory

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    src = generate_corpus(tmp_path / "src", 4, seed=63, kinds=KINDS, noisy_fraction=0.0)

    def run_watch(expect_published: int) -> int:
        stop = threading.Event()
        result: dict = {}
        with DocumentPublisher(doc_settings, "initech", source="watch") as pub:
            t = threading.Thread(target=lambda: result.setdefault(
                "s", watch_directory(pub, inbox, stop=stop, interval_s=0.2, settle_s=0.3)))
            t.start()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and len(pub.ledger.ids) < expect_published:
                time.sleep(0.1)
            time.sleep(0.8)  # a few more scans: nothing else may be published
            stop.set()
            t.join(10)
        return result["s"].published

    for p in src[:3]:
        shutil.copy(p, inbox / p.name)
    (inbox / "readme.txt").write_text("ignored")
    assert run_watch(3) == 3
    shutil.copy(src[3], inbox / src[3].name)  # one new file while "down"
    assert run_watch(4) == 1  # restart: only the new file
    refs = _refs(doc_settings, expected=5, idle_s=2.0)
    assert len(refs) == 4 and {r["source"] for r in refs} == {"watch"}


@pytest.mark.integration
def test_bad_inputs_fail_with_one_line(doc_settings: Settings, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(_cli(doc_settings, "publish", str(empty), "-b", "x"), "no documents in directory")
    assert_one_line_error(_cli(doc_settings, "publish", str(tmp_path / "missing"), "-b", "x"),
                           "no such file or directory")
    assert_one_line_error(_cli(doc_settings, "publish", "s3://no-such-bucket-xyz/p", "-b", "x"),
                           "bucket no-such-bucket-xyz does not exist")

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "fake.png").write_bytes(b"this is text, not a PNG")
    (bad / "empty.pdf").write_bytes(b"")
    [good] = generate_corpus(bad, 1, seed=64, kinds=("form",), noisy_fraction=0.0)
    result = _cli(doc_settings, "publish", str(bad), "-b", "x")
    assert result.exit_code == 1 and "Traceback" not in result.output
    out = " ".join(result.output.split())
    assert "published 1, skipped as duplicate 0, failed 2" in out
    assert "fake.png: unsupported type" in out and "empty.pdf: empty file" in out

    no_bucket = doc_settings.with_overrides(**{"s3.documents_bucket": "no-such-bucket-abc"})
    assert_one_line_error(_cli(no_bucket, "publish", str(good), "-b", "x"),
                           "documents bucket no-such-bucket-abc does not exist")

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    dead = doc_settings.with_overrides(**{"kafka.bootstrap": f"127.0.0.1:{dead_port}",
                                          "producer.connect_attempts": 2, "producer.connect_timeout_s": 0.5})
    t0 = time.monotonic()
    assert_one_line_error(_cli(dead, "publish", str(good), "-b", "x"),
                           f"cannot reach Kafka at 127.0.0.1:{dead_port} after 2 attempts", "ocrstream stack up")
    assert time.monotonic() - t0 < 15  # bounded retries
