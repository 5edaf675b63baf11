"""The dashboard and the document view in headless Chromium, against a running pipeline.

Chromium is driven over the Chrome DevTools Protocol through
``--remote-debugging-pipe`` (NUL-separated JSON on file descriptors 3 and 4),
so the tests need no Python package beyond the standard library - only the
``chromium`` binary (Debian: ``apt-get install -y chromium``; CI must install
it). Without it the tests are skipped, saying so.

The module's pipeline (fixture ``pipeline``): the session stack's broker and S3,
an aggregation sink running in a thread of this process (it owns the chDB
handle) and the API + dashboard served from the same process, as in
``ocrstream demo``. Into it go 24 hours of generated ``OcrResult`` events for
four businesses with a daily pattern (``synth/history.py``), published to the
real ``ocr-results`` topic, and one real document: a rendered receipt in the
documents bucket, read by the OCR pipeline the workers run
(``streams.ocr_stage.run_job``) and published the same way as the newest event.

Checks: the x range of every chart equals the selected range (default days,
a preset, and local days under an emulated time zone); at least 100 points per
business per chart at minute granularity; tooltips say final / late update;
clicking a point (real mouse events) lists that window's documents; the
document view draws one box per OCR line over the page image; uploaded HTML or
SVG never runs on the API origin and the token never reaches script-readable
storage. With ``OCRSTREAM_SCREENSHOTS=<dir>`` the screenshots of a run are
written there (``docs/`` holds the committed ones).
"""

from __future__ import annotations

import base64
import fcntl
import itertools
import json
import os
import select
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ocrstream.clickhouse import connect
from serving import create_app, sample
from serving.queries import METRICS
from serving.server import BackgroundServer
from synth.history import BusinessProfile, Disorder, daily_history
from tests.conftest import Child
from tests.support.streams import stream_settings

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

    def __init__(self, binary: str, user_data_dir: Path, spawn: Callable[..., Child], width: int = 1400,
                 height: int = 1800) -> None:
        cmd_r, self._cmd_w = os.pipe()
        self._out_r, out_w = os.pipe()

        def child_fds() -> None:  # runs in the child before exec: put the pipe ends on fds 3 and 4
            a = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(out_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = spawn(
            argv=[binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--mute-audio",
                  "--remote-debugging-pipe", f"--user-data-dir={user_data_dir}", f"--window-size={width},{height}",
                  "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=child_fds, pass_fds=(3, 4), close_fds=True,
        ).proc
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

    def screenshot(self, path: Path, full: bool = True) -> None:
        """PNG of the whole page (``full``) or of the viewport."""
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": full})["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass  # stopped by the spawn fixture's teardown
        for fd in (self._cmd_w, self._out_r):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def chromium(tmp_path: Path, spawn: Callable[..., Child]) -> Iterator[CdpPipe]:
    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium binary found (install Debian's `chromium`, or set OCRSTREAM_CHROMIUM)")
    browser = CdpPipe(binary, tmp_path / "chromium-profile", spawn)
    try:
        browser.open_page()
        yield browser
    finally:
        browser.close()


# ---------------------------------------------------------------- the running pipeline

TOKEN = "ops-token"  # scope "*"
BUSINESSES = ("acme-market", "blue-cafe", "northwind", "globex")
# The history: busy and quiet businesses, quiet at night (gappy minute windows), a peak at 13:00 UTC,
# a few events out of order and 1% late (2-8 minutes behind: late updates of final minute windows).
HISTORY_PROFILES = tuple(BusinessProfile(b, peak, ((13.0, 1.0, 4.0),), night=0.12)
                         for b, peak in zip(BUSINESSES, (10.8, 7.6, 6.2, 5.4)))
HISTORY_DISORDER = Disorder(out_of_order=0.05, max_disorder_ms=2_000, late=0.01, late_delay_ms=(120_000, 480_000))
SHOTS_ENV = "OCRSTREAM_SCREENSHOTS"  # directory to write the screenshots of this run into (e.g. docs/)
DOCUMENT_ENV = "OCRSTREAM_SCREENSHOT_DOCUMENT"  # optional image for the real document (default: a rendered receipt)


@dataclass
class Pipeline:
    settings: Any
    client: Any
    url: str
    real: dict[str, Any]  # the OcrResult of the real document, as the sink received it
    events: int  # generated history events published
    end_ms: int  # event time of the newest event (the real document)


def real_document(settings: Any, business: str, event_time_ms: int) -> dict[str, Any]:
    """A document in the documents bucket, read by the workers' OCR pipeline -> its OcrResult."""
    import hashlib

    import cv2

    from ocrstream.objectstore import ObjectStore
    from synth.documents import render_document
    from streams.ocr_stage import OcrJob, run_job

    explicit = os.environ.get(DOCUMENT_ENV)
    if explicit:
        data, name = Path(explicit).read_bytes(), Path(explicit).name
    else:
        # a noisy scan (rotated, blurred, shaded): its boxes only line up if drawn in the right frame
        data, name = cv2.imencode(".png", render_document("receipt", 11, noisy=True)[0])[1].tobytes(), "receipt.png"
    digest = hashlib.sha256(data).hexdigest()
    store = ObjectStore(settings)
    bucket = settings.s3.documents_bucket
    store.ensure_bucket(bucket)
    key = f"sha256/{digest}{Path(name).suffix}"
    store.put(bucket, key, data)
    return run_job(OcrJob(data=data, document_id=f"doc-{digest[:20]}", business_id=business,
                          uri=f"s3://{bucket}/{key}", source="upload", event_time_ms=event_time_ms, filename=name))


def count_documents(client: Any) -> int:
    return int(client.query("SELECT count() FROM documents FINAL").result_rows[0][0])


@pytest.fixture(scope="module")
def pipeline(stack: Any) -> Iterator[Pipeline]:
    """Sink (thread) + API in this process; 24 h of history and one real document published (module doc)."""
    from producers.events import publish_events
    from ocrstream.topics import ensure_topics
    from streams.sink import AggregationSink

    s = stream_settings(stack.settings, **{
        "kafka.topic_prefix": f"dash{uuid.uuid4().hex[:6]}.",
        "api.tokens": {TOKEN: ["*"], "scoped-token": [BUSINESSES[1]]},
        "api.dashboard_refresh_s": 1.0,
    })
    ensure_topics(s)
    client = connect(s)
    sink = AggregationSink(s, client=client)
    worker = threading.Thread(target=sink.run, kwargs={"max_runtime_s": 1800}, name="dash-sink", daemon=True)
    worker.start()
    server = None
    try:
        end_ms = int(time.time() * 1000) - 5_000
        real = real_document(s, BUSINESSES[0], end_ms)
        history = daily_history(HISTORY_PROFILES, end_ms - 30_000 - 86_400_000, end_ms - 30_000, seed=3,
                                disorder=HISTORY_DISORDER)
        stats = publish_events(s, itertools.chain(history, [real]))
        assert stats.failed == 0, stats.errors
        n = history.total
        deadline = time.monotonic() + 180
        while count_documents(client) < n + 1:
            assert worker.is_alive(), "the sink thread died"
            assert time.monotonic() < deadline, f"sink stored {count_documents(client)} of {n + 1} documents"
            time.sleep(0.5)
        server = BackgroundServer(create_app(s, client)).start()
        yield Pipeline(s, client, server.url, real, n, end_ms)
    finally:
        if server is not None:
            server.stop()
        sink.stop()
        worker.join(timeout=60)


def ms_of(iso: str) -> int:
    """Epoch ms of an ISO date/time (naive = UTC)."""
    value = datetime.fromisoformat(iso)
    return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp() * 1000)


def chart_attr(metric: str, attr: str) -> str:
    return f"(document.querySelector('.chart[data-metric=\"{metric}\"]') || {{dataset: {{}}}}).dataset.{attr}"


def keep_screenshot(browser: CdpPipe, tmp_path: Path, name: str, full: bool = False) -> Path:
    """Screenshot into the test's tmp dir, and into $OCRSTREAM_SCREENSHOTS when set."""
    path = tmp_path / name
    browser.screenshot(path, full=full)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000
    target = os.environ.get(SHOTS_ENV)
    if target:  # 256 colours: a UI screenshot stays legible at a fraction of the bytes
        from PIL import Image

        Path(target).mkdir(parents=True, exist_ok=True)
        with Image.open(path) as image:
            image.convert("RGB").quantize(256, dither=Image.Dither.NONE).save(Path(target) / name, optimize=True)
    return path


def click(browser: CdpPipe, x: float, y: float) -> None:
    """A real left click (move, press, release) at viewport CSS pixels."""
    browser.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
    for kind in ("mousePressed", "mouseReleased"):
        browser.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})


def wait_loaded(browser: CdpPipe, after: int = 0, what: str = "load") -> int:
    browser.wait_for(f"document.body.dataset.state === 'ready' && +document.body.dataset.loads > {after}", what=what)
    return int(browser.evaluate("+document.body.dataset.loads"))


# ---------------------------------------------------------------- tests


def chart_ranges(browser: CdpPipe) -> dict[str, list[int]]:
    return json.loads(browser.evaluate("JSON.stringify(Object.fromEntries([...document.querySelectorAll('.chart')]"
                                       ".map(c => [c.dataset.metric, [+c.dataset.xMin, +c.dataset.xMax]])))"))


def test_dashboard_on_backfilled_history(chromium: CdpPipe, pipeline: Pipeline, tmp_path: Path) -> None:
    """Issue 12's check: x range = selected range, >= 100 points per business, tooltips, click -> documents."""
    url = f"{pipeline.url}/dashboard?" + "&".join(f"business_id={b}" for b in BUSINESSES) + f"&auto=0#token={TOKEN}"
    chromium.call("Page.navigate", {"url": url})
    loads = wait_loaded(chromium, what="dashboard on the history")
    now = datetime.now(UTC)
    day0 = now.replace(hour=0, minute=0, second=0, microsecond=0)
    default = [int((day0 - timedelta(days=1)).timestamp() * 1000), int((day0 + timedelta(days=1)).timestamp() * 1000)]
    ranges = chart_ranges(chromium)
    assert set(ranges) == {*METRICS, "type_counts"}
    assert all(r == default for r in ranges.values()), ranges  # yesterday 00:00 .. tomorrow 00:00 UTC, not the data's span
    assert not chromium.evaluate("document.getElementById('token').value")  # the token went into a cookie only
    for metric in METRICS:
        per_series = json.loads(chromium.evaluate(chart_attr(metric, "perSeries")))
        assert set(per_series) == set(BUSINESSES), metric
        assert min(per_series.values()) >= 100, (metric, per_series)
    # the x values include markers where a business has no window: its line breaks there (null)
    gaps = chromium.evaluate("""(() => { const c = ocrstreamDashboard.charts().document_count.plot;
        return c.data.slice(1, 5).reduce((n, y) => n + y.filter((v) => v === null).length, 0); })()""")
    assert gaps > 0
    keep_screenshot(chromium, tmp_path, "dashboard.png")

    # drag across a chart (real mouse events) zooms the selected range to the dragged span, like Grafana
    agg = json.loads(chromium.evaluate("JSON.stringify(ocrstreamDashboard.state.agg.series.map(s => ({b: s.business_id, "
                                       "ws: s.window_start, n: s.document_count, late: s.late_events, "
                                       "too_late: s.too_late_events, fin: s.is_final})))"))
    late = next((s["b"], s["ws"][i], s["late"][i]) for s in agg for i in range(len(s["ws"]))
                if s["late"][i] > 0 and s["fin"][i] and s["ws"][i] < pipeline.end_ms - 3_600_000)
    over = json.loads(chromium.evaluate("JSON.stringify((() => { const r = ocrstreamDashboard.charts().document_count"
                                        ".plot.over.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })())"))
    x0, x1, y = over[0] + over[2] * 0.25, over[0] + over[2] * 0.5, over[1] + over[3] / 2
    chromium.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x0, "y": y})
    chromium.call("Input.dispatchMouseEvent", {"type": "mousePressed", "x": x0, "y": y, "button": "left", "clickCount": 1})
    for step in range(1, 11):
        chromium.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x0 + (x1 - x0) * step / 10, "y": y,
                                                   "button": "left", "buttons": 1})
    chromium.call("Input.dispatchMouseEvent", {"type": "mouseReleased", "x": x1, "y": y, "button": "left", "clickCount": 1})
    loads = wait_loaded(chromium, loads, what="zoomed by dragging")
    q = dict(x.split("=", 1) for x in chromium.evaluate("document.body.dataset.query").split("&"))
    span = default[1] - default[0]
    assert abs(int(q["start"]) - (default[0] + span * 0.25)) < span * 0.02
    assert abs(int(q["end"]) - (default[0] + span * 0.5)) < span * 0.02
    assert int(q["start"]) % 60_000 == 0 and int(q["end"]) % 60_000 == 0  # whole windows
    assert all(r == [int(q["start"]), int(q["end"])] for r in chart_ranges(chromium).values())

    # one hour around a final window that late events updated: its tooltip says so
    hour = f"{pipeline.url}/dashboard?" + "&".join(f"business_id={b}" for b in BUSINESSES) + "&auto=0"
    chromium.call("Page.navigate", {"url": f"{hour}&start={late[1] - 1_800_000}&end={late[1] + 1_800_000}"})
    loads = wait_loaded(chromium, what="one hour")
    assert all(r == [late[1] - 1_800_000, late[1] + 1_800_000] for r in chart_ranges(chromium).values())
    chromium.evaluate("ocrstreamDashboard.charts().late_events.plot.over.scrollIntoView({block: 'center'})")
    pos = json.loads(chromium.evaluate(f"JSON.stringify(ocrstreamDashboard.pointPosition('late_events', '{late[0]}', {late[1]}))"))
    chromium.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": pos["x"], "y": pos["y"]})
    tip = chromium.wait_for("!document.getElementById('tooltip').hidden && document.getElementById('tooltip').innerText",
                            what="tooltip")
    assert f"late update ({late[2]} late)" in tip and late[0] in tip, tip
    assert "minute window" in tip and "UTC" in tip
    keep_screenshot(chromium, tmp_path, "dashboard-tooltip.png")

    # click a point whose value is that business's alone -> the documents of exactly that window
    chromium.evaluate("window.scrollTo(0, 0)")
    # a window's documents: the counted ones (late updates included) plus the too-late ones
    in_view = [(s["b"], s["ws"][i], s["n"][i] + s["too_late"][i]) for s in agg for i in range(len(s["ws"]))
               if abs(s["ws"][i] - late[1]) < 1_700_000 and s["n"][i] >= 2
               and sum(1 for t in agg if s["ws"][i] in t["ws"] and t["n"][t["ws"].index(s["ws"][i])] == s["n"][i]) == 1]
    business, window_start, expected = max(in_view, key=lambda t: t[2])
    pos = json.loads(chromium.evaluate(
        f"JSON.stringify(ocrstreamDashboard.pointPosition('document_count', '{business}', {window_start}))"))
    click(chromium, pos["x"], pos["y"])
    chromium.wait_for(f"document.getElementById('documents-section').dataset.loadedWindow === '{window_start}'",
                      what="documents of the clicked window")
    section = json.loads(chromium.evaluate("JSON.stringify(document.getElementById('documents-section').dataset)"))
    assert section["windowBusinesses"] == business and int(section["windowEnd"]) == window_start + 60_000
    rows = json.loads(chromium.evaluate("JSON.stringify([...document.querySelectorAll('#documents tbody tr')].map(tr => "
                                        "[tr.dataset.documentId, tr.children[1].textContent]))"))
    assert len(rows) == expected and {r[1] for r in rows} == {business}
    stored = pipeline.client.query(
        "SELECT document_id FROM documents FINAL WHERE business_id = {b:String} AND event_time >= {s:DateTime64(3, 'UTC')} "
        "AND event_time < {e:DateTime64(3, 'UTC')}",
        parameters={"b": business, "s": datetime.fromtimestamp(window_start / 1000, UTC),
                    "e": datetime.fromtimestamp(window_start / 1000 + 60, UTC)}).result_rows
    assert sorted(r[0] for r in rows) == sorted(r[0] for r in stored)
    assert f"window={window_start}" in chromium.evaluate("location.search")  # the view is linkable

    # a preset range: the axis follows it exactly
    chromium.evaluate("(() => { const p = document.getElementById('preset'); p.value = '6h'; p.dispatchEvent(new Event('change')); })()")
    loads = wait_loaded(chromium, loads, what="last 6 hours")
    q = dict(x.split("=", 1) for x in chromium.evaluate("document.body.dataset.query").split("&"))
    assert int(q["end"]) - int(q["start"]) == 6 * 3_600_000
    assert all(r == [int(q["start"]), int(q["end"])] for r in chart_ranges(chromium).values())

    # local time: in an emulated zone (UTC+05:30) the default days are local days, labelled so
    chromium.call("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Kolkata"})
    chromium.call("Page.navigate", {"url": url.split("#")[0] + "&tz=local"})
    wait_loaded(chromium, what="local time")
    ist = timedelta(hours=5, minutes=30)
    local_day0 = (now + ist).replace(hour=0, minute=0, second=0, microsecond=0) - ist
    local = [int((local_day0 - timedelta(days=1)).timestamp() * 1000), int((local_day0 + timedelta(days=1)).timestamp() * 1000)]
    assert all(r == local for r in chart_ranges(chromium).values())
    assert chromium.evaluate("document.querySelector('.tz-label').textContent") in ("Asia/Kolkata", "Asia/Calcutta")
    assert chromium.evaluate("document.getElementById('start').value").endswith("T00:00")


def test_document_view_draws_ocr_boxes(chromium: CdpPipe, pipeline: Pipeline, tmp_path: Path) -> None:
    """The real document: one box per OCR line over its page image, fields, windows; same scopes as the data."""
    real = pipeline.real
    lines = [line for line in real["lines"] if len(line["box"]) == 4]
    assert len(lines) >= 8 and len(lines) == len(real["lines"])
    # from the dashboard's documents table to the document view
    chromium.call("Page.navigate", {"url": f"{pipeline.url}/dashboard?business_id={real['business_id']}&auto=0#token={TOKEN}"})
    wait_loaded(chromium, what="dashboard")
    link = chromium.evaluate(f"document.querySelector('#documents tr[data-document-id=\"{real['document_id']}\"] a').href")
    chromium.call("Page.navigate", {"url": link})
    chromium.wait_for("document.body.dataset.state === 'ready'", what="document view")
    data = json.loads(chromium.evaluate("JSON.stringify(document.body.dataset)"))
    assert int(data["lines"]) == len(real["lines"])
    assert int(data["boxesDrawn"]) == len(lines)  # as many boxes as the document has OCR lines
    assert chromium.evaluate("document.querySelectorAll('figure.page svg rect.line').length") == len(lines)
    # drawn over the image in the boxes' frame (the source page size stored with the result)
    frame = real["page_sizes"][0]
    assert chromium.evaluate("document.querySelector('figure.page').dataset.width") == str(frame["width"])
    geo = json.loads(chromium.evaluate("""JSON.stringify((() => {
        const img = document.querySelector('figure.page img'), r = img.getBoundingClientRect();
        const boxes = [...document.querySelectorAll('figure.page svg rect.line')].map(b => b.getBoundingClientRect());
        return {img: [r.left, r.top, r.right, r.bottom], boxes: boxes.map(b => [b.left, b.top, b.right, b.bottom])}; })())"""))
    left, top, right, bottom = geo["img"]
    assert all(left - 1 <= b[0] < b[2] <= right + 1 and top - 1 <= b[1] < b[3] <= bottom + 1 for b in geo["boxes"])
    assert max(b[3] for b in geo["boxes"]) - min(b[1] for b in geo["boxes"]) > 0.4 * (bottom - top)
    scale = (right - left) / frame["width"]
    first = lines[0]["box"]
    assert abs(geo["boxes"][0][0] - (left + first[0] * scale)) < 2 and abs(geo["boxes"][0][1] - (top + first[1] * scale)) < 2
    # ... and on the text: the page's pixels under the boxes are ink, around them paper
    ink = json.loads(chromium.evaluate("""JSON.stringify((() => {
        const img = document.querySelector('figure.page img'), svg = document.querySelector('figure.page svg');
        const [, , fw, fh] = svg.getAttribute('viewBox').split(' ').map(Number);
        const c = document.createElement('canvas');
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext('2d');
        g.drawImage(img, 0, 0);
        const px = g.getImageData(0, 0, c.width, c.height).data, sx = c.width / fw, sy = c.height / fh;
        const inside = new Uint8Array(c.width * c.height);
        const dark = (i) => px[4 * i] + px[4 * i + 1] + px[4 * i + 2] < 3 * 110;
        const perBox = [...svg.querySelectorAll('rect.line')].map((r) => {
          const x0 = Math.floor(+r.getAttribute('x') * sx), y0 = Math.floor(+r.getAttribute('y') * sy);
          const x1 = Math.ceil((+r.getAttribute('x') + +r.getAttribute('width')) * sx);
          const y1 = Math.ceil((+r.getAttribute('y') + +r.getAttribute('height')) * sy);
          let n = 0, d = 0;
          for (let y = Math.max(0, y0); y < Math.min(c.height, y1); y++)
            for (let x = Math.max(0, x0); x < Math.min(c.width, x1); x++) { const i = y * c.width + x; inside[i] = 1; n++; d += dark(i); }
          return n ? d / n : 0; });
        let n = 0, d = 0;
        for (let i = 0; i < inside.length; i++) if (!inside[i]) { n++; d += dark(i); }
        return {perBox, outside: d / n}; })())"""))
    threshold = max(0.008, 4 * ink["outside"])  # several times the paper's rate of dark pixels
    assert sum(1 for f in ink["perBox"] if f > threshold) >= 0.9 * len(lines), ink
    assert sum(ink["perBox"]) / len(lines) > 10 * ink["outside"], ink
    # fields: every extracted value is listed with its confidence, and highlighted where it was found
    fields = json.loads(chromium.evaluate("JSON.stringify([...document.querySelectorAll('#fields tbody tr')].map(tr => "
                                          "[tr.dataset.field, tr.children[1].textContent, tr.classList.contains('low')]))"))
    read = {k: v for k, v in real["fields"].items() if k != "confidences" and v is not None}
    assert read and {f[0] for f in fields} >= set(read)
    located = {name: box for name, ev in real["field_evidence"].items() if len(ev["box"]) == 4 for box in [ev["box"]]}
    assert located and int(data["fieldBoxes"]) == len({tuple(b) for b in located.values()})
    for name, value, low in fields:
        if name in read:
            assert low == (real["fields"]["confidences"].get(name, 0.0) < pipeline.settings.api.low_confidence), name
    # the windows it counts in: on time in its minute and hour window
    windows = chromium.evaluate("[...document.querySelectorAll('#windows tbody tr')].map(tr => tr.textContent).join('|')")
    assert windows.count("on time") == 2 and "minute" in windows and "hour" in windows
    assert real["engine"] in chromium.evaluate("document.getElementById('summary-list').textContent")
    keep_screenshot(chromium, tmp_path, "document-view.png", full=True)

    # a token scoped to another business reads this document as missing
    chromium.call("Page.navigate", {"url": f"{pipeline.url}/document?id={real['document_id']}#token=scoped-token"})
    chromium.wait_for("document.body.dataset.state === 'error'", what="out-of-scope document")
    assert "no such document" in chromium.evaluate("document.getElementById('status').textContent")


XSS = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>"
CSP_PROBE = ("window.__csp = []; document.addEventListener('securitypolicyviolation', "
             "(e) => window.__csp.push(e.violatedDirective));")


def test_uploaded_html_and_svg_never_run(chromium: CdpPipe, pipeline: Pipeline, tmp_path: Path) -> None:
    """Issue 13: stored HTML/SVG is never served as such, stored text stays text, the CSP makes markup inert,
    and the token never reaches script-readable storage."""
    import httpx

    from ocrstream.objectstore import ObjectStore

    s, ch = pipeline.settings, pipeline.client
    biz = f"xss-{uuid.uuid4().hex[:6]}"
    bucket = s.s3.documents_bucket
    store = ObjectStore(s)
    html = f"<!doctype html><html><body>{XSS}<script>localStorage.setItem('pwned', '1')</script></body></html>".encode()
    svg = (b'<svg xmlns="http://www.w3.org/2000/svg" onload="document.title=\'pwned\'">'
           b"<script>document.title='pwned'</script></svg>")
    uploads = {"html": (f"x/{biz}.html", html, "text/html"), "svg": (f"x/{biz}.svg", svg, "image/svg+xml"),
               "html-named-png": (f"x/{biz}.png", html, "image/png")}
    for key, data, content_type in uploads.values():
        store.put(bucket, key, data, content_type)
    root = s.file_root
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{biz}.html").write_bytes(html)
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    rows = [sample.document_row(f"{biz}-{name}", biz, t0, uri=f"s3://{bucket}/{key}")
            for name, (key, _, _) in uploads.items()]
    rows.append(sample.document_row(f"{biz}-file", biz, t0, uri=(root / f"{biz}.html").as_uri()))
    text_doc = sample.document_row(f"{biz}-text", biz, t0 + timedelta(seconds=1), text=f"{XSS}\nTOTAL 12.50")
    text_doc[11] = XSS  # vendor
    rows.append(text_doc)
    sample.insert_documents(ch, rows)
    sample.insert_windows(ch, sample.window_rows(biz, t0, 1) + sample.window_rows(biz, t0.replace(minute=0), 1, "hour"))
    listed = httpx.get(f"{pipeline.url}/api/documents", params={"business_id": biz},
                       headers={"Authorization": f"Bearer {TOKEN}"}).json()["documents"]
    links = {d["document_id"]: d["image_url"] for d in listed}
    assert len(links) == len(rows)

    chromium.call("Page.addScriptToEvaluateOnNewDocument", {"source": CSP_PROBE})
    chromium.call("Page.navigate", {"url": f"{pipeline.url}/dashboard?business_id={biz}&auto=0"})
    chromium.wait_for("document.body.dataset.state === 'signin' && !document.getElementById('signin').hidden",
                      what="the sign-in prompt")
    assert "Sign in" in chromium.evaluate("document.getElementById('empty').textContent")
    # sign in through the form, typing like a user
    chromium.evaluate("document.getElementById('token').focus()")
    chromium.call("Input.insertText", {"text": TOKEN})
    chromium.evaluate("document.querySelector('#signin-form button').click()")
    wait_loaded(chromium, what="dashboard after signing in")
    assert chromium.evaluate("document.getElementById('token').value") == ""
    # the token: in an HttpOnly cookie, in no script-readable place
    assert "token" not in chromium.evaluate("location.href")
    assert chromium.evaluate("localStorage.length + sessionStorage.length") == 0
    assert chromium.evaluate("document.cookie") == ""
    assert chromium.evaluate("window.__csp.length") == 0  # the pages need nothing the policy refuses
    # stored text is shown as text
    cell = chromium.evaluate(f"document.querySelector('#documents tr[data-document-id=\"{biz}-text\"] td.text').textContent")
    assert "<script>" in cell and chromium.evaluate("document.querySelectorAll('#documents img').length") == 0
    # even markup that reached the DOM could not run: inline handlers and scripts are refused by the CSP
    chromium.evaluate("document.body.insertAdjacentHTML('beforeend', '<img src=\"data:,\" onerror=\"window.__ran = 1\">"
                      "<iframe srcdoc=\"<script>parent.__ran = 2</script>\"></iframe>')")
    chromium.wait_for("window.__csp.length > 0", what="CSP violation report")
    time.sleep(0.3)
    assert chromium.evaluate("window.__ran === undefined")
    assert any(d.startswith("script-src") or d.startswith("frame-src") or d == "default-src"
               for d in chromium.evaluate("window.__csp")), chromium.evaluate("window.__csp")

    # the uploaded objects themselves: refused (415 JSON), never rendered as HTML or SVG
    for name in (*uploads, "file"):
        chromium.call("Page.navigate", {"url": f"{pipeline.url}{links[f'{biz}-{name}']}"})
        chromium.wait_for("document.readyState === 'complete'", what=name)
        assert chromium.evaluate("document.contentType") == "application/json", name
        assert "not an image or PDF" in chromium.evaluate("document.body.innerText"), name
        assert chromium.evaluate("document.title") != "pwned", name
    # the document view of the stored markup: text, not elements
    chromium.call("Page.navigate", {"url": f"{pipeline.url}/document?id={biz}-text"})
    chromium.wait_for("document.body.dataset.state === 'ready'", what="document view")
    assert "<script>" in chromium.evaluate("document.getElementById('text').textContent")
    assert XSS in chromium.evaluate("document.getElementById('fields').textContent")
    assert chromium.evaluate("document.querySelectorAll('#facts img, #facts script').length") == 0
    assert chromium.evaluate("document.title") != "pwned" and chromium.evaluate("window.__csp.length") == 0
    assert chromium.evaluate("localStorage.getItem('pwned')") is None


def test_dashboard_draws_filters_and_refreshes(chromium: CdpPipe, pipeline: Pipeline, tmp_path: Path) -> None:
    """Small hand-made windows: exact counts, compare two businesses, hour windows, auto-refresh."""
    ch = pipeline.client
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

    chromium.call("Page.navigate", {"url": f"{pipeline.url}/dashboard?business_id={a}#token={TOKEN}"})
    loads = wait_loaded(chromium, what="first load")
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
    image_href = chromium.evaluate("document.querySelector('#documents tbody a[target]').getAttribute('href')")
    assert "/image?exp=" in image_href and "&sig=" in image_href
    # the summary's total row sums the windows: 1 + 2 + ... + 40
    assert chromium.evaluate("document.getElementById('summary').dataset.totalDocuments") == str(sum(range(1, 41)))

    # compare two businesses -> two series on the union of x values; b's line breaks where it has no window.
    # b may be missing from a business list the API cached a moment ago: the auto-refresh brings it in
    chromium.wait_for(f"!!document.querySelector('#businesses input[value=\"{b}\"]')", timeout=20,
                      what="the new business in the picker")
    loads = int(chromium.evaluate("document.body.dataset.loads"))
    chromium.evaluate(f"""(() => {{
        for (const i of document.querySelectorAll('#businesses input')) i.checked = (i.value === '{a}' || i.value === '{b}');
        document.querySelector('#businesses input').dispatchEvent(new Event('change'));
    }})()""")
    chromium.wait_for(f"+document.body.dataset.loads > {loads} && document.body.dataset.state === 'ready' && "
                      f"{chart_attr('document_count', 'series')} === '2'", what="reload after business filter")
    assert chromium.evaluate(chart_attr("document_count", "points")) == "40"
    assert chromium.evaluate(chart_attr("document_count", "values")) == "65"
    assert json.loads(chromium.evaluate(chart_attr("document_count", "perSeries"))) == {a: 40, b: 25}
    assert f"business_id={b}" in chromium.evaluate("document.body.dataset.query")
    # each business keeps its colour in every chart
    colours = chromium.evaluate("JSON.stringify([...document.querySelectorAll('.chart')].filter(c => c.dataset.metric "
                                "!== 'type_counts').map(c => [...c.querySelectorAll('.legend .swatch')].slice(0, 2)"
                                ".map(s => s.style.background).join()))")
    assert len(set(json.loads(colours))) == 1

    # granularity change -> hour windows
    chromium.evaluate("""(() => { const g = document.getElementById('granularity');
        g.value = 'hour'; g.dispatchEvent(new Event('change')); })()""")
    chromium.wait_for(f"{chart_attr('document_count', 'points')} === '3'", what="reload after granularity")
    assert chromium.evaluate(chart_attr("document_count", "values")) == "5"

    # back to minutes, then new windows arrive: auto-refresh (1 s) shows them without any action
    chromium.evaluate("""(() => { const g = document.getElementById('granularity');
        g.value = 'minute'; g.dispatchEvent(new Event('change')); })()""")
    chromium.wait_for(f"{chart_attr('document_count', 'points')} === '40'", what="back to minute")
    sample.insert_windows(ch, sample.window_rows(a, start_a + timedelta(minutes=40), 3))
    chromium.wait_for(f"{chart_attr('document_count', 'points')} === '43'", timeout=20,
                      what="auto-refresh picking up new windows")
    assert chromium.evaluate("document.getElementById('status').classList.contains('error')") is False

    # a range without windows: the empty state says what to do
    chromium.call("Page.navigate", {"url": f"{pipeline.url}/dashboard?business_id={a}&start=2020-01-01&end=2020-01-02"})
    wait_loaded(chromium, what="empty range")
    empty = chromium.evaluate("document.getElementById('empty').hidden ? '' : document.getElementById('empty').textContent")
    assert "No minute windows" in empty and "ocrstream publish" in empty
    assert chromium.evaluate(chart_attr("document_count", "points")) == "0"
    assert chromium.evaluate(chart_attr("document_count", "xMin")) == str(ms_of("2020-01-01"))
