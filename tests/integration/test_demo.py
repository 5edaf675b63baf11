"""The main job: `ocrstream demo` end to end on its own local stack — history, samples, live traffic."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from serving.server import free_port
from tests.conftest import Child
from tests.support.backends import local_settings
from tests.support.processes import pipeline_processes, wait_gone

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
TEXTLESS_TYPES = {"photo", "blank"}  # the live trickle renders photos, most of them without any text


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _series(base: str, business: str, granularity: str, start_ms: int, end_ms: int) -> dict[str, Any]:
    q = urllib.parse.urlencode({"business_id": business, "granularity": granularity, "start": start_ms,
                                "end": end_ms})
    return _get(f"{base}/api/aggregates?{q}")["series"][0]


def check_history(base: str, history: dict[str, Any]) -> None:
    """The backfill, read back through the API: every generated event counted once, in windows over 24 h."""
    from synth.history import BusinessProfile, expected_counts

    profiles = [BusinessProfile(p["business_id"], p["peak_per_minute"], tuple(map(tuple, p["peaks"])), p["night"])
                for p in history["profiles"]]
    start, end = history["start_ms"], history["end_ms"]
    assert end - start == 24 * HOUR_MS
    cut = end // MINUTE_MS * MINUTE_MS  # the last minute is shared with the live documents
    expected = expected_counts(profiles, start, end, seed=history["seed"], scale=history["scale"], before_ms=cut)
    assert sum(history["counts"].values()) >= sum(expected.values()) > 2_000
    sizes = []
    for p in profiles:
        minute = _series(base, p.business_id, "minute", start - MINUTE_MS, cut)
        counts = [c or 0 for c in minute["document_count"]]
        # nothing lost, nothing counted twice, nothing late: the backfill ran in event-time order
        assert sum(counts) == expected[p.business_id], (p.business_id, sum(counts), expected[p.business_id])
        assert sum(c or 0 for c in minute["late_events"]) == 0 and sum(c or 0 for c in minute["too_late_events"]) == 0
        starts = [s for s, c in zip(minute["window_start"], counts) if c]
        assert len(starts) >= 100, (p.business_id, len(starts))  # a curve, not a dot
        assert max(starts) - min(starts) > 6 * HOUR_MS  # spread over the day, not one burst
        # the daily pattern: quiet where the profile is quiet, busy around its peaks
        hour = _series(base, p.business_id, "hour", start - HOUR_MS, cut // HOUR_MS * HOUR_MS)
        stored = dict(zip(hour["window_start"], (c or 0 for c in hour["document_count"])))
        first_hour = -(-start // HOUR_MS) * HOUR_MS  # the whole hours of the span; no window = no documents
        per_hour = {h: stored.get(h, 0) for h in range(first_hour, cut // HOUR_MS * HOUR_MS, HOUR_MS)}
        quiet = [n for h, n in per_hour.items() if p.shape(h + HOUR_MS // 2) <= 0.05]
        busy = [n for h, n in per_hour.items() if p.shape(h + HOUR_MS // 2) >= 0.7]
        assert quiet and busy and sum(quiet) / len(quiet) < 0.2 * sum(busy) / len(busy), (p.business_id, per_hour)
        sizes.append(sum(counts))
    assert len(set(sizes)) == len(sizes)  # businesses of different sizes


def wait_live(base: str, businesses: list[str], after_ms: int, timeout_s: float) -> dict[str, dict[str, Any]]:
    """The first live text document and live video page OCR'd after ``after_ms``, with its minute window stored."""
    q = urllib.parse.urlencode([("business_id", b) for b in businesses] + [("start", after_ms), ("limit", 100)])
    found: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and len(found) < 2:
        for row in _get(f"{base}/api/documents?{q}")["documents"]:
            kind = "video" if row["source"] == "video" else "document" if row["source"] == "upload" else None
            if kind is None or kind in found or _ms(row["event_time"]) < after_ms:
                continue
            detail = _get(f"{base}/api/documents/{urllib.parse.quote(row['document_id'], safe='')}")
            if kind == "document" and detail["doc_type"] in TEXTLESS_TYPES:
                continue  # a live photo without a sign has no text to check; wait for the next document
            minute = next(w for w in detail["windows"] if w["granularity"] == "minute")
            if minute["stored"] and minute["document_count"]:
                found[kind] = detail
        time.sleep(0.5)
    return found


def test_demo_backfills_history_then_keeps_documents_flowing(tmp_path: Path, spawn) -> None:
    s = local_settings(tmp_path / "demo", ephemeral=False, **{
        "demo.live_document_interval_s": 3.0, "demo.live_video_interval_s": 4.0,
        "sink.flush_interval_ms": 500})
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, **s.as_env(), "COLUMNS": "200"}
    demo = spawn("demo", "--exit-after", "240", "--port", str(port), "--timeout", "240", env=env)
    demo.output.wait_for("serving until Ctrl-C", timeout_s=300)
    served_ms = int(time.time() * 1000)
    with urllib.request.urlopen(f"{base}/dashboard", timeout=10) as resp:
        assert resp.status == 200 and b"<html" in resp.read().lower()
    businesses = [b["business_id"] for b in _get(f"{base}/api/businesses")["businesses"]]
    assert {"demo-cafe", "demo-hardware", "demo-bakery", "demo-office"} <= set(businesses)
    check_history(base, json.loads((s.state_dir / "demo" / "history.json").read_text()))
    live = wait_live(base, businesses, served_ms, timeout_s=120)
    demo.proc.send_signal(signal.SIGINT)  # Ctrl-C
    rc = demo.proc.wait(timeout=120)
    out = demo.output.text(wait_end_s=10)
    assert rc == 0, out[-4000:]
    # 11 images + 1 three-page PDF + 3 video pages, each in ClickHouse or the DLQ
    m = re.search(r"documents by type \((\d+) documents, (\d+) windows", out)
    assert m, out[-4000:]
    assert int(m.group(1)) == 15 and int(m.group(2)) > 0, out[-4000:]
    assert "dead letters: none" in out
    # the summary says what was backfilled and what is live
    assert re.search(r"history: backfilled [\d,]+ generated OcrResult events", out), out[-4000:]
    assert "late: 0" in out and "live: a rendered document every 3s" in out, out[-4000:]
    # after the summary: a rendered document and a video page, OCR'd, in a minute window
    assert set(live) == {"document", "video"}, (sorted(live), out[-3000:])
    assert live["document"]["text"].strip() and live["video"]["text"].strip()
    assert live["video"]["document_id"].startswith("demo-camera-live-")
    assert "signal SIGINT: shutting down" in out
    # everything it started is gone
    left = wait_gone(pipeline_processes(s), 10)
    assert not left, left


def test_history_span_continues_after_earlier_runs(stack: Any) -> None:
    """A rerun on the same state backfills only what is newer than its stored documents and checkpoints."""
    import uuid

    from ocrstream.clickhouse import connect, migrate
    from ocrstream.cli.demo import HISTORY_MARGIN_MS, history_span

    s = stack.settings.with_overrides(**{"clickhouse.database": f"t_{uuid.uuid4().hex[:10]}",
                                         "sink.group": f"sink-{uuid.uuid4().hex[:6]}"})
    client = connect(s)
    migrate(client)
    now = 1_800_000_000_000
    assert history_span(s, client, now) == (now - 24 * HOUR_MS, now, None)  # a first run: the whole day

    def doc(document_id: str, business: str, at_ms: int, source: str = "generator") -> None:
        client.command(f"INSERT INTO documents (document_id, business_id, event_time, source) VALUES "
                       f"('{document_id}', '{business}', fromUnixTimestamp64Milli({at_ms}), '{source}')")

    doc("old", "demo-cafe", now - 30 * HOUR_MS)  # older than the span: ignored
    doc("other", "someone-else", now - HOUR_MS)  # not a demo business: ignored
    assert history_span(s, client, now) == (now - 24 * HOUR_MS, now, None)
    doc("gen", "demo-office", now - 20 * HOUR_MS)
    doc("live", "demo-bakery", now - 3 * HOUR_MS, source="upload")
    assert history_span(s, client, now) == (now - 3 * HOUR_MS + 1, now, now - 20 * HOUR_MS)
    client.command("INSERT INTO stream_checkpoints (consumer_group, topic, partition, written_at) VALUES "
                   f"('{s.sink.group}', 't', 0, fromUnixTimestamp64Milli({now - 2 * HOUR_MS}))")
    client.command("INSERT INTO stream_checkpoints (consumer_group, topic, partition, written_at) VALUES "
                   f"('another-group', 't', 0, fromUnixTimestamp64Milli({now - 60_000}))")
    assert history_span(s, client, now) == (now - 2 * HOUR_MS + HISTORY_MARGIN_MS, now, now - 20 * HOUR_MS)


def _demo_in_flight(spawn: Callable[..., Child], tmp_path: Path, name: str) -> tuple[Any, Child, str]:
    """``ocrstream demo`` in its own session, once it is waiting for documents to be OCR'd."""
    s = local_settings(tmp_path / name, ephemeral=False)
    marker = f"ocrstream-demo-{name}-{os.getpid()}"
    env = {**os.environ, **s.as_env(), "COLUMNS": "200", "OCRSTREAM_TEST_MARKER": marker, "PYTHONUNBUFFERED": "1"}
    demo = spawn("demo", "--port", str(free_port()), "--timeout", "240", env=env,
                 start_new_session=True)  # its own session: the signals of the test reach only it
    demo.output.wait_for("waiting for", 240)
    return s, demo, marker


def test_sighup_of_the_demo_leaves_no_process_behind(tmp_path: Path, spawn) -> None:
    """A closed terminal (SIGHUP) while documents are in flight: everything the demo started is gone."""
    from tests.support.processes import processes_with_marker

    s, demo, marker = _demo_in_flight(spawn, tmp_path, "hup")
    ours = processes_with_marker(marker, environ=True)
    out = demo.stop(signal.SIGHUP, 120)
    assert len(ours) >= 4, ours  # weed, tansu, the worker (+ its OCR pool once it starts)
    assert demo.proc.returncode == 0, out[-3000:]
    assert "signal SIGHUP: shutting down" in out, out[-3000:]
    assert wait_gone(processes_with_marker(marker, environ=True), 15) == [], out[-3000:]
    assert wait_gone(pipeline_processes(s), 15) == [], out[-3000:]


def test_the_demo_notices_a_dead_worker(tmp_path: Path, spawn) -> None:
    from tests.support.processes import processes_with_marker

    _, demo, marker = _demo_in_flight(spawn, tmp_path, "dead")
    workers = [p for p in processes_with_marker(marker, environ=True)
               if b"ocrstream\x00worker" in Path(f"/proc/{p}/cmdline").read_bytes()]
    if len(workers) == 1:
        os.kill(workers[0], signal.SIGKILL)
    else:
        demo.proc.send_signal(signal.SIGTERM)
    out = demo.finish(120)
    assert len(workers) == 1, workers
    assert demo.proc.returncode == 1, out[-3000:]
    assert "error: the worker process was killed by signal 9; see" in out, out[-3000:]
    assert wait_gone(processes_with_marker(marker, environ=True), 15) == [], out[-3000:]  # its OCR pool too


def test_demo_with_its_port_busy_stops_nothing(stack_factory) -> None:
    """A running stack and a busy port: the demo refuses in one line and the stack keeps running."""
    handle = stack_factory("busyport")
    s = handle.settings
    status = handle.up(ephemeral=True)
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    try:
        env = {**os.environ, **s.as_env()}
        res = subprocess.run([sys.executable, "-m", "ocrstream", "demo", "--port", str(port)], env=env,
                             capture_output=True, text=True, timeout=60)
    finally:
        blocker.close()
    out = (res.stdout + res.stderr).strip()
    assert res.returncode == 1 and out.splitlines() == [out], out
    assert f"port {port} on 127.0.0.1 is already in use" in out and "nothing was started" in out
    again = handle.stack.status()  # type: ignore[union-attr]
    assert again["ok"] and again["parts"]["kafka"]["pid"] == status["parts"]["kafka"]["pid"]
