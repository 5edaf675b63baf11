"""SIGHUP (a closed terminal) stops the long-running commands gracefully, like SIGTERM."""

from __future__ import annotations

import signal
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from serving.server import free_port
from tests.support.processes import processes_with_marker, settings_env, wait_gone

pytestmark = pytest.mark.integration


def _env(settings, marker: str) -> dict[str, str]:
    return {**settings_env(settings), "OCRSTREAM_TEST_MARKER": marker}


def test_serve_stops_on_sighup(tmp_path: Path, spawn) -> None:
    from ocrstream.settings import Settings

    s = Settings().with_overrides(state_dir=tmp_path, **{"api.port": free_port()})
    marker = f"ocrstream-serve-{uuid.uuid4().hex[:8]}"
    serve = spawn("serve", env=_env(s, marker))
    out = serve.output
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
    text = serve.stop(signal.SIGHUP, 30)
    assert serve.proc.returncode == 0, text[-2000:]
    assert "Shutting down" in text or "Finished server process" in text, text[-2000:]
    assert wait_gone(processes_with_marker(marker, environ=True), 10) == []


def test_sink_flushes_a_checkpoint_and_exits_on_sighup(settings, tmp_path: Path, spawn) -> None:
    from tests.support.streams import publish, stream_settings

    s = stream_settings(settings, **{"clickhouse.dsn": f"chdb://{tmp_path / 'ch'}"})
    from ocrstream.topics import ensure_topics

    ensure_topics(s)
    delivered, _ = publish(s, 2_000)
    marker = f"ocrstream-sink-{uuid.uuid4().hex[:8]}"
    sink = spawn("--log-level", "INFO", "sink", env=_env(s, marker))
    assert sink.output.wait_for("sink-0: checkpoint ", 120), sink.output.text()
    text = sink.stop(signal.SIGHUP, 60)
    assert sink.proc.returncode == 0, text[-2000:]
    assert "signal 1: stopping after a final flush + checkpoint" in text, text[-2000:]
    assert f'"records": {delivered}' in text, text[-2000:]  # stats printed after the final checkpoint
    assert wait_gone(processes_with_marker(marker, environ=True), 10) == []
