"""``ocrstream demo``: the main job, end to end on the embedded local stack.

1. ``stack up`` (Tansu broker with its log in S3, SeaweedFS, chDB + migrations);
2. renders the bundled sample documents (receipts, invoices, a report, a
   form, a photo, a blank page, a 3-page PDF) and a video of pages into
   ``<state_dir>/demo/``;
3. starts the OCR worker (``ocrstream worker``, a Faust app) as a child
   process, and, in this process — the one that owns the chDB data directory —
   the aggregation sink and the API + dashboard;
4. publishes the documents (``DocumentRef``) and the video's stable pages
   (``VideoFrame``);
5. waits until every published document is in ClickHouse (or in the DLQ) and
   its windows are written, prints a summary table and the dashboard URL;
6. keeps serving until Ctrl-C (or ``--exit-after``), then stops the worker,
   the sink, the API and the stack.

The worker process and the sink thread run under one
:class:`ocrstream.supervisor.Supervisor`: a worker or sink that dies is
reported in one line (and shows in ``/healthz``, which then answers 503) and
ends the demo with an error; SIGTERM, SIGHUP (terminal closed) and SIGINT
stop everything it started, and the worker (with its OCR pool) dies with the
demo even if the demo is killed with SIGKILL. It stops only what it started:
a stack that was already running keeps running, and a busy API port or a
chDB directory held by another process is reported before anything starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ocrstream.settings import Settings

DEMO_BUSINESSES = ("demo-cafe", "demo-hardware")
SAMPLE_KINDS = (
    ("receipt", 4), ("invoice", 3), ("report", 1), ("form", 1), ("photo", 1), ("blank", 1),
)


@dataclass
class DemoResult:
    published: int = 0
    video_pages: int = 0
    documents: int = 0
    dead_letters: int = 0
    windows: int = 0
    elapsed_s: float = 0.0
    rows: list[tuple[Any, ...]] = field(default_factory=list)


def render_samples(out_dir: Path, seed: int = 7) -> dict[str, list[Path]]:
    """Write sample documents per business (PNG + ground truth JSON, one PDF); returns paths."""
    import cv2
    from PIL import Image

    from producers.docgen import render_document

    out: dict[str, list[Path]] = {b: [] for b in DEMO_BUSINESSES}
    n = 0
    for kind, count in SAMPLE_KINDS:
        for i in range(count):
            business = DEMO_BUSINESSES[n % len(DEMO_BUSINESSES)]
            folder = out_dir / business
            folder.mkdir(parents=True, exist_ok=True)
            image, truth = render_document(kind, seed * 1000 + n, noisy=(i % 2 == 1))
            path = folder / f"{kind}-{i}.png"
            cv2.imwrite(str(path), image)
            path.with_suffix(".json").write_text(json.dumps(truth, indent=1, default=str))
            out[business].append(path)
            n += 1
    pages = [render_document("report", seed * 1000 + 900 + p)[0] for p in range(3)]
    pdf = out_dir / DEMO_BUSINESSES[0] / "report-3-pages.pdf"
    rgb = [Image.fromarray(cv2.cvtColor(p, cv2.COLOR_BGR2RGB)) for p in pages]
    rgb[0].save(pdf, save_all=True, append_images=rgb[1:], resolution=150.0)
    out[DEMO_BUSINESSES[0]].append(pdf)
    return out


def render_video(path: Path, pages: int = 3, seed: int = 7) -> Path:
    from producers.synthvideo import page_texts, text_page, write_page_video

    images = [text_page(lines) for lines in page_texts(pages, seed=seed)]
    write_page_video(path, images, size=(1280, 720), fps=30.0, hold_frames=40, seed=seed)
    return path


def _count(client: Any, sql: str, **params: Any) -> int:
    from ocrstream.clickhouse import query_rows

    from streams.checkpoint import CLICKHOUSE_LOCK

    with CLICKHOUSE_LOCK:
        return int(query_rows(client, sql, params)[0][0])


class DemoError(RuntimeError):
    """The demo cannot run or a part of it died; ``str()`` is one line."""


class _Stopped(Exception):
    """A stop signal arrived while the demo was starting."""


def preflight(settings: Settings) -> None:
    """Refuse to start (before touching anything) when the API port or the chDB directory is taken."""
    from ocrstream.stack import LocalStack, port_in_use

    host, port = settings.api.host, settings.api.port
    if port_in_use(port, host if host not in ("localhost", "0.0.0.0") else "127.0.0.1"):
        raise DemoError(f"port {port} on {host} is already in use (another demo or `ocrstream serve`?); "
                        "stop it or pass --port N; nothing was started")
    owner = LocalStack(settings).clickhouse_owner()
    if owner is not None:
        raise DemoError(f"the ClickHouse data directory {settings.clickhouse_dsn} is open in pid {owner} (a sink, API "
                        "or demo); stop it first or use another OCRSTREAM_STATE_DIR; nothing was started")


def run_demo(settings: Settings, *, console: Console, exit_after_s: float | None = None,
             timeout_s: float = 300.0) -> DemoResult:
    """Run the demo (see module docstring); returns what it counted. Raises :class:`DemoError`."""
    from ocrstream.api import create_app
    from ocrstream.api.server import BackgroundServer, free_port
    from ocrstream.clickhouse import close_all, connect
    from ocrstream.health import REGISTRY
    from ocrstream.stack import LocalStack
    from ocrstream.supervisor import Supervisor
    from producers.publish import DocumentPublisher, discover
    from producers.video import FrameSource, VideoProducer
    from streams.health_checks import remote_check, sink_check
    from streams.sink import AggregationSink

    def say(message: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # the terminal may be gone (SIGHUP)
            console.print(message)

    preflight(settings)
    t0 = time.monotonic()
    result = DemoResult()
    stack = LocalStack(settings)
    server: Any = None
    sup = Supervisor("demo", stop_timeout_s=settings.stream.stop_timeout_s)

    def check_stop() -> None:
        if sup.stopping:
            raise _Stopped()

    with sup.handle_signals():
        try:
            say("[bold]── ocrstream demo ──")
            stack.up(progress=lambda m: say(f"• {m}"))
            check_stop()

            demo_dir = settings.state_dir / "demo"
            say(f"• rendering sample documents and a video into {demo_dir}")
            samples = render_samples(demo_dir / "documents")
            video = render_video(demo_dir / "pages.mp4")
            check_stop()

            log_path = settings.state_dir / "logs" / "worker.log"
            health_port = free_port()
            say(f"• starting the OCR worker (Faust; log {log_path})")
            worker = sup.start_process(
                "worker", [sys.executable, "-m", "ocrstream", "worker", "--health-port", str(health_port)],
                env={**os.environ, **settings.as_env()}, log_path=log_path)
            REGISTRY.register("worker", remote_check(f"http://127.0.0.1:{health_port}/healthz", worker.alive,
                                                     "worker"))

            say("• starting the aggregation sink and the API in this process (it owns chDB)")
            client = connect(settings)
            sink = AggregationSink(settings, client=client)
            sink_child = sup.start_thread("sink", sink.run, stop=sink.stop)
            REGISTRY.register("sink", sink_check(sink, sink_child.thread, lambda: sink_child.error))
            server = BackgroundServer(create_app(settings, client), settings.api.host, settings.api.port).start()
            check_stop()

            now_ms = int(time.time() * 1000)
            for business, paths in samples.items():
                with DocumentPublisher(settings, business, source="upload",
                                       event_time=lambda c, t=now_ms: t) as publisher:
                    candidates, _ = discover([str(p) for p in paths])
                    summary = publisher.publish(candidates)
                result.published += summary.published + summary.duplicates
                say(f"• published {summary.published} documents for {business} "
                    f"({summary.duplicates} already published, {len(summary.failed)} failed)")
            producer = VideoProducer(settings, "demo-camera", DEMO_BUSINESSES[0])
            producer.open()
            stats = producer.run(FrameSource(str(video)))
            result.video_pages = stats.pages
            say(f"• video: {stats.line()}")

            expected = result.published + result.video_pages
            say(f"• waiting for {expected} documents to be OCR'd and their windows written "
                "(first OCR model load takes a few seconds)")
            deadline = time.monotonic() + timeout_s
            businesses = list(DEMO_BUSINESSES)
            while True:
                dead = sup.wait(1.0)
                if dead is not None:
                    raise DemoError(dead.line())
                check_stop()
                result.documents = _count(client, "SELECT uniqExact(document_id) FROM documents "
                                          "WHERE business_id IN {b:Array(String)}", b=businesses)
                result.dead_letters = _count(client, "SELECT count() FROM dead_letters FINAL "
                                             "WHERE business_id IN {b:Array(String)}", b=businesses)
                result.windows = _count(client, "SELECT count() FROM windows FINAL "
                                        "WHERE business_id IN {b:Array(String)}", b=businesses)
                if result.documents + result.dead_letters >= expected and result.windows > 0:
                    break
                if time.monotonic() > deadline:
                    raise DemoError(f"only {result.documents} of {expected} documents arrived in "
                                    f"{timeout_s:.0f}s; see {log_path}")
            result.elapsed_s = time.monotonic() - t0
            _print_summary(console, client, businesses, result)
            url = f"http://{settings.api.host}:{settings.api.port}"
            say(f"\n[bold green]dashboard[/] {url}/dashboard   [bold]API[/] {url}/docs   "
                f"[bold]metrics[/] {url}/metrics   [bold]health[/] {url}/healthz")
            say("serving until Ctrl-C" + (f" (or {exit_after_s:.0f}s)" if exit_after_s else ""))
            end = time.monotonic() + exit_after_s if exit_after_s else None
            while not sup.stopping and (end is None or time.monotonic() < end):
                dead = sup.wait(0.5 if end is None else max(0.0, min(0.5, end - time.monotonic())))
                if dead is not None:
                    raise DemoError(dead.line())
            return result
        except _Stopped:
            return result
        finally:
            if sup.signal_received is not None:
                say(f"• signal {signal.Signals(sup.signal_received).name}: shutting down")
            else:
                say("• shutting down")
            if server is not None:
                server.stop()
            sup.stop_all()  # sink (final flush + checkpoint), then the worker and its OCR pool
            REGISTRY.unregister("worker")
            REGISTRY.unregister("sink")
            close_all()
            if stack.started:
                stack.stop_started()
            else:
                say("• the local stack was running before the demo (or did not start): left as it was")


def _print_summary(console: Console, client: Any, businesses: list[str], result: DemoResult) -> None:
    from ocrstream.clickhouse import query_rows

    from streams.checkpoint import CLICKHOUSE_LOCK

    with CLICKHOUSE_LOCK:
        rows = query_rows(client, """
            SELECT business_id, doc_type, count() AS docs, round(sum(ifNull(total, 0)), 2) AS total,
                   round(avg(score), 3), round(avg(ocr_score), 3),
                   round(quantileExact(0.5)(ocr_s), 2), any(engine)
            FROM documents FINAL WHERE business_id IN {b:Array(String)}
            GROUP BY business_id, doc_type ORDER BY business_id, doc_type""", {"b": businesses})
        dlq = query_rows(client, """
            SELECT stage, error_class, count() FROM dead_letters FINAL
            WHERE business_id IN {b:Array(String)} GROUP BY stage, error_class""", {"b": businesses})
    result.rows = rows
    table = Table(title=f"documents by type ({result.documents} documents, {result.windows} windows, "
                        f"{result.elapsed_s:.0f}s)")
    for col in ("business", "type", "docs", "sum of totals", "avg score", "avg OCR conf",
                "OCR s p50", "engine"):
        table.add_column(col, justify="right" if col not in ("business", "type", "engine") else "left")
    for row in rows:
        table.add_row(*(str(v) for v in row))
    console.print(table)
    if dlq:
        dt = Table(title="dead letters")
        for col in ("stage", "error", "count"):
            dt.add_column(col)
        for row in dlq:
            dt.add_row(*(str(v) for v in row))
        console.print(dt)
    else:
        console.print("dead letters: none")
