"""SIGHUP (a closed terminal) stops the long-running commands gracefully, like SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from serving.server import free_port
from tests.support import REPO
from tests.support.processes import OutputReader, processes_with_marker, wait_gone

pytestmark = pytest.mark.integration



def _env(settings, marker: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCRSTREAM_")}
    env.update(settings.as_env())
    env.update({"PYTHONUNBUFFERED": "1", "OCRSTREAM_TEST_MARKER": marker})
    return env


def test_serve_stops_on_sighup(tmp_path: Path) -> None:
    from ocrstream.settings import Settings

    s = Settings().with_overrides(state_dir=tmp_path, **{"api.port": free_port()})
    marker = f"ocrstream-serve-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen([sys.executable, "-m", "ocrstream", "serve"], env=_env(s, marker), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = OutputReader(proc.stdout)
    try:
        assert out.wait_for("serving", 120), out.text()
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{s.api.port}/healthz", timeout=2) as resp:
                    assert resp.status == 200
                break
            except OSError:
                assert time.monotonic() < deadline, out.text()
                time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGHUP)
        text = out.finish(proc, 30)
    assert proc.returncode == 0, text[-2000:]
    assert "Shutting down" in text or "Finished server process" in text, text[-2000:]
    assert wait_gone(processes_with_marker(marker, environ=True), 10) == []


def test_sink_flushes_a_checkpoint_and_exits_on_sighup(settings, tmp_path: Path) -> None:
    from tests.support.streams import publish, stream_settings

    s = stream_settings(settings, **{"clickhouse.dsn": f"chdb://{tmp_path / 'ch'}"})
    from ocrstream.topics import ensure_topics

    ensure_topics(s)
    delivered, _ = publish(s, 2_000)
    marker = f"ocrstream-sink-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen([sys.executable, "-m", "ocrstream", "--log-level", "INFO", "sink"], env=_env(s, marker),
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = OutputReader(proc.stdout)
    try:
        assert out.wait_for("sink-0: checkpoint ", 120), out.text()
    finally:
        proc.send_signal(signal.SIGHUP)
        text = out.finish(proc, 60)
    assert proc.returncode == 0, text[-2000:]
    assert "signal 1: stopping after a final flush + checkpoint" in text, text[-2000:]
    assert f'"records": {delivered}' in text, text[-2000:]  # stats printed after the final checkpoint
    assert wait_gone(processes_with_marker(marker, environ=True), 10) == []
