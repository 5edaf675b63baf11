"""``ocrstream up``: the whole embedded pipeline on your own files, and stopping exactly what it started."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from serving.server import free_port
from tests.conftest import Child
from tests.support import REPO
from tests.support.backends import local_settings
from tests.support.processes import pipeline_processes, processes_with_marker, wait_gone

# One small real receipt (SROIE dev-100, ../shared); a rendered one where that folder is absent.
SROIE_RECEIPT = REPO.parent / "shared" / "data" / "receipts-sroie" / "001.jpg"


def _receipt(dest: Path) -> tuple[Path, list[str]]:
    """A receipt file at ``dest`` (suffix chosen here) and words its OCR text must contain."""
    if SROIE_RECEIPT.is_file():
        target = dest.with_suffix(".jpg")
        shutil.copy(SROIE_RECEIPT, target)
        truth = json.loads(SROIE_RECEIPT.with_suffix(".json").read_text())
        return target, [w for w in truth["company"].split() if len(w) > 3]
    import cv2

    from synth.documents import render_document

    image, truth = render_document("receipt", 5)
    target = dest.with_suffix(".png")
    cv2.imwrite(str(target), image)
    return target, [w for w in str(truth["fields"]["vendor"]).split() if len(w) > 3]


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _first_seen(base: str, business: str, timeout_s: float) -> tuple[dict[str, Any], int]:
    """Poll the document list as the dashboard does; the first row of ``business`` and when it was first answered."""
    start = int(time.time() * 1000) - 86_400_000  # the watched files' event time is when they were picked up
    query = urllib.parse.urlencode({"business_id": business, "start": start, "limit": 5})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = _get(f"{base}/api/documents?{query}")["documents"]
        if rows:
            return rows[0], int(time.time() * 1000)
        time.sleep(0.2)
    raise AssertionError(f"no document of {business} in the API after {timeout_s:.0f}s")


def start_up(spawn: Callable[..., Child], settings: Any, port: int, *args: str) -> Child:
    """``ocrstream up --port PORT ARGS`` as a child of the test (``spawn`` stops it if the test leaves it running)."""
    return spawn("up", "--port", str(port), *args, env={**os.environ, **settings.as_env(), "COLUMNS": "200"})


def stop_up(up: Child, sig: int) -> str:
    """Send ``sig``, wait for the exit; all output. The exit must be clean (code 0)."""
    up.proc.send_signal(sig)
    up.proc.wait(timeout=90)
    text = up.output.text(wait_end_s=10)
    assert up.proc.returncode == 0, text[-4000:]
    return text


@pytest.mark.integration
@pytest.mark.slow
def test_up_watches_an_inbox_and_ctrl_c_stops_everything(tmp_path: Path, spawn) -> None:
    s = local_settings(tmp_path / "state", **{"sink.flush_interval_ms": 500})
    inbox = tmp_path / "inbox"  # created by `up`
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    up = start_up(spawn, s, port, "--watch", str(inbox), "--business", "acme")
    out = up.output
    out.wait_for("Ctrl-C stops everything")
    assert inbox.is_dir()
    receipt, words = _receipt(inbox / "receipt-001")
    row, seen_ms = _first_seen(base, "acme", timeout_s=120)
    latency_s = (seen_ms - _ms(row["processed_at"])) / 1000
    print(f"OCR finished (processed_at) -> first API answer: {latency_s:.2f}s")
    assert latency_s < 10, f"{latency_s:.1f}s from the end of OCR to the API"
    assert row["business_id"] == "acme" and row["source"] == "watch"
    detail = _get(f"{base}/api/documents/{row['document_id']}")
    assert any(w.lower() in detail["text"].lower() for w in words), (words, detail["text"][:300])
    out.wait_for(f"✓ {receipt.name}")  # the per-file result line

    # `ocrstream publish` from another terminal goes into the same running pipeline
    other = tmp_path / "elsewhere"
    other.mkdir()
    second, _ = _receipt(other / "second")
    second.write_bytes(second.read_bytes() + b"\0")  # other bytes: a new document
    pub = subprocess.run([sys.executable, "-m", "ocrstream", "publish", str(second), "--business", "beta"],
                         env={**os.environ, **s.as_env()}, capture_output=True, text=True, cwd=REPO,
                         timeout=120)
    assert pub.returncode == 0, pub.stdout + pub.stderr
    row2, _ = _first_seen(base, "beta", timeout_s=60)
    assert row2["source"] == "upload"
    # and a plain S3 upload (no ocrstream code) through the bridge that `up` started with the stack
    import boto3

    s3 = boto3.client("s3", endpoint_url=s.s3.endpoint, aws_access_key_id=s.s3.access_key,
                      aws_secret_access_key=s.s3.secret_key, region_name=s.s3.region)
    s3.put_object(Bucket=s.s3.documents_bucket, Key=f"gamma/{second.name}", Body=second.read_bytes() + b"\0")
    row3, _ = _first_seen(base, "gamma", timeout_s=60)
    assert row3["source"] == "s3-event"

    assert pipeline_processes(s), "the pipeline's processes should be running"
    text = stop_up(up, signal.SIGINT)  # Ctrl-C
    assert f"• {receipt.name}: published for acme" in text
    assert "signal SIGINT: shutting down" in text
    left = wait_gone(pipeline_processes(s), 10)
    assert not left, (left, text[-2000:])


@pytest.mark.integration
def test_up_with_a_video_on_a_running_stack_stops_only_what_it_started(stack: Any, tmp_path: Path,
                                                                     spawn) -> None:
    """``--video FILE``: its pages are OCR'd, the file's end is no failure; SIGHUP (terminal closed) stops
    `up` and its worker while the stack that ran before keeps running."""
    if stack.stack is None:
        pytest.skip("`up` drives the embedded local stack")
    from ocrstream.stack import LocalStack

    s = stack.settings.with_overrides(**{"kafka.topic_prefix": f"up{uuid.uuid4().hex[:6]}.",
                                         "clickhouse.dsn": f"chdb://{tmp_path / 'clickhouse'}"})
    def running() -> dict[str, Any]:  # the stack's processes (its chDB path is this test's, not yet created)
        parts = LocalStack(s).status()["parts"]
        return {name: parts[name]["pid"] if parts[name]["up"] else None
                for name in ("kafka", "s3", "bridge") if name in parts}

    from ocrstream.cli.demo import render_video

    clip = render_video(tmp_path / "desk.mp4", pages=2, seed=5)
    before = running()
    assert all(before.values()), before
    port = free_port()
    up = start_up(spawn, s, port, "--video", str(clip), "--business", "cam")
    out = up.output
    out.wait_for("Ctrl-C stops everything")
    out.wait_for(f"video {clip} ended", timeout_s=60)
    row, _ = _first_seen(f"http://127.0.0.1:{port}", "cam", timeout_s=90)
    assert "pages out 2," in " ".join(out.text().split())  # the console wraps long lines
    assert row["source"] == "video" and row["document_id"].startswith("desk-")
    assert "PAGE" in _get(f"http://127.0.0.1:{port}/api/documents/{row['document_id']}")["text"].upper()
    workers = processes_with_marker(f"OCRSTREAM_CLICKHOUSE__DSN=chdb://{tmp_path / 'clickhouse'}",
                                    environ=True)
    workers = [p for p in workers if p != up.pid]
    assert workers, "the OCR worker (and its pool) should run"
    text = stop_up(up, signal.SIGHUP)  # the terminal was closed
    assert "stack already running" in text and "left as it was" in text, text[-2000:]
    assert not wait_gone(workers, 10)
    assert running() == before
