"""The main job: `ocrstream demo` end to end on its own local stack."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.backends import local_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_reaches_summary_and_serves(tmp_path) -> None:
    s = local_settings(tmp_path / "demo", ephemeral=False)
    port = _free_port()
    env = {**os.environ, **s.as_env(), "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "ocrstream", "demo", "--exit-after", "20", "--port", str(port),
                             "--timeout", "240"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines: list[str] = []
    dashboard_ok = False
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if "serving until Ctrl-C" in line:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/dashboard", timeout=10) as resp:
                dashboard_ok = resp.status == 200 and b"<html" in resp.read().lower()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/businesses", timeout=10) as resp:
                assert b"demo-cafe" in resp.read()
    rc = proc.wait(timeout=120)
    out = "".join(lines)
    assert rc == 0, out[-4000:]
    assert dashboard_ok, out[-4000:]
    # 11 images + 1 three-page PDF + 3 video pages, each in ClickHouse or the DLQ
    m = re.search(r"documents by type \((\d+) documents, (\d+) windows", out)
    assert m, out[-4000:]
    assert int(m.group(1)) == 15 and int(m.group(2)) > 0, out[-4000:]
    assert "dead letters: none" in out
    # everything it started is gone
    left = subprocess.run(["pgrep", "-f", str(s.state_dir)], capture_output=True, text=True).stdout.split()
    assert not left, left


def _demo_in_flight(tmp_path, name: str) -> tuple[Any, subprocess.Popen, Any, str]:
    """``ocrstream demo`` in its own session, once it is waiting for documents to be OCR'd."""
    from tests.processes import LineReader

    s = local_settings(tmp_path / name, ephemeral=False)
    marker = f"ocrstream-demo-{name}-{os.getpid()}"
    env = {**os.environ, **s.as_env(), "COLUMNS": "200", "OCRSTREAM_TEST_MARKER": marker, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ocrstream", "demo", "--port", str(_free_port()), "--timeout", "240"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # its own session: the signals of the test reach only it
    reader = LineReader(proc.stdout)
    if not reader.wait_for("waiting for", 240):
        proc.kill()
        raise AssertionError(reader.finish(proc, 30))
    return s, proc, reader, marker


def test_sighup_of_the_demo_leaves_no_process_behind(tmp_path) -> None:
    """A closed terminal (SIGHUP) while documents are in flight: everything the demo started is gone."""
    from tests.processes import processes_with_marker, wait_gone

    s, proc, reader, marker = _demo_in_flight(tmp_path, "hup")
    ours = processes_with_marker(marker, environ=True)
    proc.send_signal(signal.SIGHUP)
    out = reader.finish(proc, 120)
    assert len(ours) >= 4, ours  # weed, tansu, the worker (+ its OCR pool once it starts)
    assert proc.returncode == 0, out[-3000:]
    assert "signal SIGHUP: shutting down" in out, out[-3000:]
    assert wait_gone(processes_with_marker(marker, environ=True), 15) == [], out[-3000:]
    assert not subprocess.run(["pgrep", "-f", str(s.state_dir)], capture_output=True, text=True).stdout.split()


def test_the_demo_notices_a_dead_worker(tmp_path) -> None:
    from tests.processes import processes_with_marker, wait_gone

    _, proc, reader, marker = _demo_in_flight(tmp_path, "dead")
    workers = [p for p in processes_with_marker(marker, environ=True)
               if b"ocrstream\x00worker" in Path(f"/proc/{p}/cmdline").read_bytes()]
    if len(workers) == 1:
        os.kill(workers[0], signal.SIGKILL)
    else:
        proc.send_signal(signal.SIGTERM)
    out = reader.finish(proc, 120)
    assert len(workers) == 1, workers
    assert proc.returncode == 1, out[-3000:]
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
