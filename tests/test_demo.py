"""The main job: `ocrstream demo` end to end on its own local stack."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import urllib.request

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
