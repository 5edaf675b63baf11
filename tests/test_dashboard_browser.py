"""The live dashboard in headless Chromium, against a running API with data.

Chromium is driven over the Chrome DevTools Protocol through
``--remote-debugging-pipe`` (NUL-separated JSON on file descriptors 3 and 4),
so the test needs no Python package beyond the standard library - only the
``chromium`` binary (Debian: ``apt-get install -y chromium``; CI must install
it). Without it the test is skipped, saying so.

Checks: every metric chart drew the number of windows inserted (the page
exposes counts as ``data-*`` attributes), changing the business filter and the
granularity reloads the charts, auto-refresh makes newly inserted windows
appear with no user action, the documents table lists the documents, and a
screenshot is written under the test's tmp dir.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ocrstream.api import create_app, sample
from ocrstream.api.queries import METRICS
from ocrstream.api.server import BackgroundServer
from ocrstream.clickhouse import connect

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chromium() -> str | None:
    explicit = os.environ.get("OCRSTREAM_CHROMIUM")
    if explicit:
        return explicit
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class CdpPipe:
    """Minimal CDP client over ``--remote-debugging-pipe`` (fd 3: commands in, fd 4: messages out)."""

    def __init__(self, binary: str, user_data_dir: Path, width: int = 1400, height: int = 1800) -> None:
        cmd_r, self._cmd_w = os.pipe()
        self._out_r, out_w = os.pipe()

        def child_fds() -> None:  # runs in the child before exec: put the pipe ends on fds 3 and 4
            a = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(out_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--mute-audio",
             "--remote-debugging-pipe", f"--user-data-dir={user_data_dir}", f"--window-size={width},{height}",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=child_fds, pass_fds=(3, 4), close_fds=True,
        )
        os.close(cmd_r)
        os.close(out_w)
        self._buf = b""
        self._next_id = 0
        self.session: str | None = None

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no message from Chromium")
            ready, _, _ = select.select([self._out_r], [], [], remaining)
            if ready:
                chunk = os.read(self._out_r, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium closed the pipe (exit code {self.proc.poll()})")
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30.0,
             session: bool = True) -> dict[str, Any]:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def open_page(self) -> None:
        targets = self.call("Target.getTargets", session=False)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True},
                                 session=False)["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"JS error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        guarded = f"(() => {{ try {{ return ({expression}); }} catch (e) {{ return null; }} }})()"
        while time.monotonic() < deadline:
            last = self.evaluate(guarded)  # null while the page is still loading
            if last:
                return last
            time.sleep(0.1)
        state = self.evaluate("JSON.stringify({state: document.body.dataset.state, "
                              "status: document.getElementById('status').textContent})")
        raise AssertionError(f"timed out waiting for {what or expression} (last={last!r}, page={state})")

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._cmd_w, self._out_r):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[CdpPipe]:
    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium binary found (install Debian's `chromium`, or set OCRSTREAM_CHROMIUM)")
    browser = CdpPipe(binary, tmp_path / "chromium-profile")
    try:
        browser.open_page()
        yield browser
    finally:
        browser.close()


@pytest.fixture
def live_api(stack: Any) -> Iterator[tuple[str, Any]]:
    """The API on a free port (uvicorn in a thread of this process, sharing the session chDB)."""
    client = connect(stack.settings)
    settings = stack.settings.with_overrides(**{
        "api.tokens": {"dash-token": ["*"]}, "api.dashboard_refresh_s": 1.0,  # default cache: TTL 1 s, SWR 3 s
    })
    with BackgroundServer(create_app(settings, client)) as server:
        yield server.url, client


def chart_attr(metric: str, attr: str) -> str:
    return f"(document.querySelector('.chart[data-metric=\"{metric}\"]') || {{dataset: {{}}}}).dataset.{attr}"


def test_dashboard_draws_filters_and_refreshes(chromium: CdpPipe, live_api: tuple[str, Any],
                                                tmp_path: Path) -> None:
    base_url, ch = live_api
    tag = uuid.uuid4().hex[:8]
    a, b = f"dash-a-{tag}", f"dash-b-{tag}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start_a = now - timedelta(minutes=60)  # inside the default range (yesterday 00:00 .. tomorrow 00:00)
    hour0 = now.replace(minute=0) - timedelta(hours=3)
    sample.insert_windows(ch, sample.window_rows(a, start_a, 40))
    sample.insert_windows(ch, sample.window_rows(b, start_a + timedelta(minutes=10), 25))  # overlaps a's x values
    sample.insert_windows(ch, sample.window_rows(a, hour0, 3, "hour"))
    sample.insert_windows(ch, sample.window_rows(b, hour0, 2, "hour"))
    sample.insert_documents(ch, [sample.document_row(f"{a}-doc{i}", a, start_a + timedelta(minutes=i),
                                                     text=f"INVOICE {i}\nTOTAL 12.50") for i in range(7)])

    chromium.call("Page.navigate", {"url": f"{base_url}/dashboard?business_id={a}#token=dash-token"})
    chromium.wait_for("document.body.dataset.state === 'ready' && +document.body.dataset.loads >= 1",
                      what="first load")
    for metric in (*METRICS, "type_counts"):
        assert chromium.evaluate(chart_attr(metric, "points")) == "40", metric
    assert chromium.evaluate(chart_attr("document_count", "series")) == "1"
    assert chromium.evaluate(chart_attr("document_count", "values")) == "40"
    assert chromium.evaluate(chart_attr("type_counts", "series")) == "2"  # receipt, invoice
    # uPlot really drew: one canvas per chart, with a non-zero size
    assert chromium.evaluate("document.querySelectorAll('.chart canvas').length") == len(METRICS) + 1
    assert chromium.evaluate("document.querySelector('.chart canvas').width") > 100
    assert chromium.evaluate("document.getElementById('documents').dataset.rows") == "7"
    assert "INVOICE 6" in chromium.evaluate("document.querySelector('#documents tbody td.text').textContent")
    image_href = chromium.evaluate("document.querySelector('#documents tbody a').getAttribute('href')")
    assert "/image?exp=" in image_href and "&sig=" in image_href

    # filter change: compare two businesses -> charts reload with two series on the union of x values
    loads = int(chromium.evaluate("document.body.dataset.loads"))
    chromium.evaluate(f"""(() => {{
        const sel = document.getElementById('businesses');
        for (const o of sel.options) o.selected = (o.value === '{a}' || o.value === '{b}');
        sel.dispatchEvent(new Event('change'));
    }})()""")
    chromium.wait_for(f"+document.body.dataset.loads > {loads} && document.body.dataset.state === 'ready' && "
                      f"{chart_attr('document_count', 'series')} === '2'", what="reload after business filter")
    assert chromium.evaluate(chart_attr("document_count", "points")) == "40"
    assert chromium.evaluate(chart_attr("document_count", "values")) == "65"
    assert f"business_id={b}" in chromium.evaluate("document.body.dataset.query")

    # granularity change -> hour windows
    chromium.evaluate("""(() => { const g = document.getElementById('granularity');
        g.value = 'hour'; g.dispatchEvent(new Event('change')); })()""")
    chromium.wait_for(f"{chart_attr('document_count', 'points')} === '3'", what="reload after granularity")
    assert chromium.evaluate(chart_attr("document_count", "values")) == "5"
    chromium.screenshot(tmp_path / "dashboard-hour.png")

    # back to minutes, then new windows arrive: auto-refresh (1 s) shows them without any action
    chromium.evaluate("""(() => { const g = document.getElementById('granularity');
        g.value = 'minute'; g.dispatchEvent(new Event('change')); })()""")
    chromium.wait_for(f"{chart_attr('document_count', 'points')} === '40'", what="back to minute")
    sample.insert_windows(ch, sample.window_rows(a, start_a + timedelta(minutes=40), 3))
    chromium.wait_for(f"{chart_attr('document_count', 'points')} === '43'", timeout=20,
                      what="auto-refresh picking up new windows")
    assert chromium.evaluate("document.getElementById('status').classList.contains('error')") is False

    shot = tmp_path / "dashboard.png"
    chromium.screenshot(shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    print(f"screenshot: {shot}")
