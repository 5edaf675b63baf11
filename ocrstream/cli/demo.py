"""``ocrstream demo``: the main job, end to end on the embedded local stack.

1. ``stack up`` (Tansu broker with its log in S3, SeaweedFS, chDB + migrations);
2. renders the bundled sample documents (receipts, invoices, a report, a
   form, a photo, a blank page, a 3-page PDF) and a video of pages into
   ``<state_dir>/demo/``;
3. starts the OCR worker (``ocrstream worker``, a Faust app) as a child
   process, and, in this process — the one that owns the chDB data directory —
   the aggregation sink and the API + dashboard
   (:class:`ocrstream.cli.embedded.EmbeddedPipeline`, shared with ``ocrstream up``);
4. backfills a recent history (:func:`backfill_history`): ``demo.history_hours``
   (24) of generated ``OcrResult`` events for four businesses with daily
   patterns (``synth/history.py``), produced to the ``ocr-results`` topic
   in event-time order, so the sink turns them into minute and hour windows
   like any result and every chart has curves at once. It is published before
   any live traffic, so none of it is late; a rerun on the same state only
   backfills the time since the previous run's last event / checkpoint;
5. publishes the documents (``DocumentRef``) and the video's stable pages
   (``VideoFrame``), real OCR by the worker;
6. waits until every published document is in ClickHouse (or in the DLQ), the
   history is stored and windows are written, prints a summary of the OCR'd
   documents, of the history and of what is live, and the dashboard URL;
7. keeps serving until Ctrl-C (or ``--exit-after``) while the live trickle
   (:class:`ocrstream.cli.demo_live.LiveTrickle`) publishes a rendered document
   every ``demo.live_document_interval_s`` and a video clip every
   ``demo.live_video_interval_s``, so new windows appear as one watches; then
   stops the trickle, the worker, the sink, the API and the stack.

The worker process and the sink and live threads run under one
:class:`ocrstream.supervisor.Supervisor`: a worker or sink that dies is
reported in one line (and shows in ``/healthz``, which then answers 503) and
ends the demo with an error; SIGTERM, SIGHUP (terminal closed) and SIGINT
stop everything it started, and the worker (with its OCR pool) dies with the
demo even if the demo is killed with SIGKILL. It stops only what it started:
a stack that was already running keeps running, and a busy API port or a
chDB directory held by another process is reported before anything starts.
"""

from __future__ import annotations

import datetime as _dt
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ocrstream.cli.embedded import PipelineError, Stopped
from ocrstream.cli.embedded import preflight  # noqa: F401 - re-exported: part of this module's API
from ocrstream.settings import Settings
from synth.history import DEMO_PROFILES

DEMO_BUSINESSES = ("demo-cafe", "demo-hardware")  # the rendered samples (real OCR) go to these
HISTORY_BUSINESSES = tuple(p.business_id for p in DEMO_PROFILES)  # history + live: all four
SAMPLE_KINDS = (
    ("receipt", 4), ("invoice", 3), ("report", 1), ("form", 1), ("photo", 1), ("blank", 1),
)
GENERATED_SOURCE = "generator"  # OcrResult.source of generated (history) events
HISTORY_MARGIN_MS = 120_000  # a rerun's history starts this long after the last checkpoint (idle clocks)

DemoError = PipelineError  # the demo cannot run or a part of it died; ``str()`` is one line


@dataclass
class HistoryResult:
    """What :func:`backfill_history` published: ``[start_ms, end_ms)``, events per business."""

    start_ms: int
    end_ms: int
    seed: int
    scale: float
    counts: dict[str, int] = field(default_factory=dict)
    covered_from_ms: int | None = None  # history from earlier runs reaches back to here (None: none)
    elapsed_s: float = 0.0

    @property
    def events(self) -> int:
        return sum(self.counts.values())


@dataclass
class DemoResult:
    published: int = 0
    video_pages: int = 0
    documents: int = 0
    dead_letters: int = 0
    windows: int = 0
    elapsed_s: float = 0.0
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    history: HistoryResult | None = None
    live: str = ""


def render_samples(out_dir: Path, seed: int = 7) -> dict[str, list[Path]]:
    """Write sample documents per business (PNG + ground truth JSON, one PDF); returns paths."""
    import cv2
    from PIL import Image

    from synth.documents import render_document

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
    from synth.video import page_texts, text_page, write_page_video

    images = [text_page(lines) for lines in page_texts(pages, seed=seed)]
    write_page_video(path, images, size=(1280, 720), fps=30.0, hold_frames=40, seed=seed)
    return path


def _rows(client: Any, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    from ocrstream.clickhouse import query_rows

    from streams.checkpoint import CLICKHOUSE_LOCK

    with CLICKHOUSE_LOCK:
        return list(query_rows(client, sql, params))


def _count(client: Any, sql: str, **params: Any) -> int:
    return int(_rows(client, sql, **params)[0][0])


def _ms(value: Any) -> int:
    """Epoch ms of a ClickHouse DateTime64 (as returned by clickhouse-connect)."""
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return int(value.timestamp() * 1000)
    return int(value)


def history_span(settings: Settings, client: Any, now_ms: int) -> tuple[int, int, int | None]:
    """``(start_ms, end_ms, covered_from_ms)`` of the history still to backfill, ending at ``now_ms``.

    The span is the last ``demo.history_hours``; where earlier runs on this
    state already stored documents of the demo businesses or sink checkpoints,
    it starts after the newest of them (+ :data:`HISTORY_MARGIN_MS` after a
    checkpoint, whose restored clocks keep advancing while idle), so no event
    lands behind a watermark (late) and nothing is generated twice.
    ``covered_from_ms`` is the oldest generated event of earlier runs in the span.
    """
    start = now_ms - int(settings.demo.history_hours * 3_600_000)
    newest_doc, oldest_gen = _rows(client, """
        SELECT max(event_time), minIf(event_time, source = {src:String}) FROM documents
        WHERE business_id IN {b:Array(String)} AND event_time >= fromUnixTimestamp64Milli({start:Int64})""",
        b=list(HISTORY_BUSINESSES), src=GENERATED_SOURCE, start=start)[0]
    checkpoint = _rows(client, "SELECT max(written_at) FROM stream_checkpoints WHERE consumer_group = {g:String}",
                       g=settings.sink.group)[0][0]
    after = [start]
    if _ms(newest_doc) > 0:
        after.append(_ms(newest_doc) + 1)
    if _ms(checkpoint) > 0:
        after.append(_ms(checkpoint) + HISTORY_MARGIN_MS)
    covered = _ms(oldest_gen) if _ms(oldest_gen) > 0 else None
    return max(after), now_ms, covered


def backfill_history(settings: Settings, client: Any, now_ms: int) -> HistoryResult:
    """Publish the history of :func:`history_span` to ``ocr-results`` and wait for every delivery.

    At-least-once like any producer (a repeat carries the same document id and
    the sink drops it). Writes what it published (span, seed, scale, events
    per business, profiles) to ``<state_dir>/demo/history.json``: the same
    arguments to :func:`synth.history.daily_history` replay it exactly.
    Raises :class:`DemoError` when the broker refused events.
    """
    from producers.events import publish_events
    from synth.history import daily_history

    d = settings.demo
    start, end, covered = history_span(settings, client, now_ms)
    result = HistoryResult(start, max(start, end), d.history_seed, d.history_scale, covered_from_ms=covered)
    if end - start < 60_000:
        result.counts = {b: 0 for b in HISTORY_BUSINESSES}
        return result
    t0 = time.monotonic()
    history = daily_history(DEMO_PROFILES, start, end, seed=d.history_seed, scale=d.history_scale)
    stats = publish_events(settings, history)
    result.counts = dict(history.counts)
    result.elapsed_s = time.monotonic() - t0
    if stats.failed:
        raise DemoError(f"the broker refused {stats.failed} of {stats.produced} history events: "
                        f"{'; '.join(stats.errors[:2])}")
    out = settings.state_dir / "demo" / "history.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**asdict(result), "topic": settings.topic("ocr-results"),
                               "profiles": [asdict(p) for p in DEMO_PROFILES]}, indent=1))
    return result


def _utc(ms: int) -> str:
    return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def run_demo(settings: Settings, *, console: Console, exit_after_s: float | None = None,
             timeout_s: float = 300.0) -> DemoResult:
    """Run the demo (see module docstring); returns what it counted. Raises :class:`DemoError`."""
    from ocrstream.cli.demo_live import LiveTrickle
    from ocrstream.cli.embedded import EmbeddedPipeline
    from producers.publish import DocumentPublisher, discover
    from producers.video import VideoProducer

    pipe = EmbeddedPipeline(settings, "demo", say=console.print)
    say = pipe.say
    pipe.preflight()
    t0 = time.monotonic()
    result = DemoResult()

    with pipe.signals():
        try:
            say("[bold]── ocrstream demo ──")
            pipe.start_stack()

            demo_dir = settings.state_dir / "demo"
            say(f"• rendering sample documents and a video into {demo_dir}")
            samples = render_samples(demo_dir / "documents")
            video = render_video(demo_dir / "pages.mp4")
            pipe.check_stop()

            pipe.start_services()
            client = pipe.client
            log_path = settings.state_dir / "logs" / "worker.log"

            if settings.demo.history_hours > 0:
                say(f"• backfilling {settings.demo.history_hours:g} h of generated results for "
                    f"{len(HISTORY_BUSINESSES)} businesses (daily patterns) into the ocr-results topic")
                result.history = backfill_history(settings, client, int(time.time() * 1000))
                h = result.history
                say(f"• history: {h.events:,} events over {_utc(h.start_ms)} → {_utc(h.end_ms)} "
                    f"published in {h.elapsed_s:.1f}s" if h.events else
                    "• history: already backfilled by an earlier run on this state (nothing new to add)")
                pipe.check_stop()

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
            stats = producer.run_file(video)
            result.video_pages = stats.pages
            say(f"• video: {stats.line()}")

            expected = result.published + result.video_pages
            say(f"• waiting for {expected} documents to be OCR'd and their windows written "
                "(first OCR model load takes a few seconds)")
            deadline = time.monotonic() + timeout_s
            businesses = list(DEMO_BUSINESSES)
            history_stored = 0
            while True:
                pipe.wait(1.0)
                result.documents = _count(client, "SELECT uniqExact(document_id) FROM documents "
                                          "WHERE business_id IN {b:Array(String)} AND source != {g:String}",
                                          b=businesses, g=GENERATED_SOURCE)
                result.dead_letters = _count(client, "SELECT count() FROM dead_letters FINAL "
                                             "WHERE business_id IN {b:Array(String)}", b=businesses)
                result.windows = _count(client, "SELECT count() FROM windows FINAL "
                                        "WHERE business_id IN {b:Array(String)}", b=list(HISTORY_BUSINESSES))
                if result.history is not None and result.history.events:
                    history_stored = _count(
                        client, "SELECT uniqExact(document_id) FROM documents WHERE source = {g:String} "
                        "AND business_id IN {b:Array(String)} AND event_time >= fromUnixTimestamp64Milli({s:Int64}) "
                        "AND event_time < fromUnixTimestamp64Milli({e:Int64})", g=GENERATED_SOURCE,
                        b=list(HISTORY_BUSINESSES), s=result.history.start_ms, e=result.history.end_ms)
                history_done = result.history is None or history_stored >= result.history.events
                if result.documents + result.dead_letters >= expected and result.windows > 0 and history_done:
                    break
                if time.monotonic() > deadline:
                    missing = (f"only {result.documents} of {expected} documents"
                               if result.documents + result.dead_letters < expected or history_done
                               else f"only {history_stored:,} of {result.history.events:,} history events")  # type: ignore[union-attr]
                    raise DemoError(f"{missing} arrived in {timeout_s:.0f}s; see {log_path}")
            result.elapsed_s = time.monotonic() - t0
            _print_summary(console, client, businesses, result)

            live = LiveTrickle(settings, HISTORY_BUSINESSES, demo_dir / "live", say=say,
                               video_business=DEMO_BUSINESSES[0])
            result.live = live.describe()
            if result.history is not None:
                _print_history(console, client, result.history)
            say(f"live: {result.live}; new minute windows appear on the dashboard as they close")
            if live.enabled:
                pipe.sup.start_thread("live", live.run, stop=live.stop)
            url = pipe.url
            say(f"\n[bold green]dashboard[/] {url}/dashboard   [bold]API[/] {url}/docs   "
                f"[bold]metrics[/] {url}/metrics   [bold]health[/] {url}/healthz")
            say("serving until Ctrl-C" + (f" (or {exit_after_s:.0f}s)" if exit_after_s else ""))
            end = time.monotonic() + exit_after_s if exit_after_s else None
            while end is None or time.monotonic() < end:
                pipe.wait(0.5 if end is None else max(0.0, min(0.5, end - time.monotonic())))
            return result
        except Stopped:
            return result
        finally:
            pipe.close()


def _print_summary(console: Console, client: Any, businesses: list[str], result: DemoResult) -> None:
    rows = _rows(client, """
        SELECT business_id, doc_type, count() AS docs, round(sum(ifNull(total, 0)), 2) AS total,
               round(avg(score), 3), round(avg(ocr_score), 3),
               round(quantileExact(0.5)(ocr_s), 2), any(engine)
        FROM documents FINAL WHERE business_id IN {b:Array(String)} AND source != {g:String}
        GROUP BY business_id, doc_type ORDER BY business_id, doc_type""", b=businesses, g=GENERATED_SOURCE)
    dlq = _rows(client, """
        SELECT stage, error_class, count() FROM dead_letters FINAL
        WHERE business_id IN {b:Array(String)} GROUP BY stage, error_class""", b=businesses)
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


def _print_history(console: Console, client: Any, h: HistoryResult) -> None:
    """What the history holds now (this run's backfill and earlier runs'), per business."""
    span_start = h.covered_from_ms if h.covered_from_ms is not None else h.start_ms
    per_hour = _rows(client, """
        SELECT business_id, toHour(event_time) AS hour, count(), countIf(is_late OR late_update) FROM documents FINAL
        WHERE source = {g:String} AND business_id IN {b:Array(String)}
          AND event_time >= fromUnixTimestamp64Milli({s:Int64})
        GROUP BY business_id, hour""", g=GENERATED_SOURCE, b=list(HISTORY_BUSINESSES), s=span_start)
    windows = {(b, g): n for b, g, n in _rows(client, """
        SELECT business_id, granularity, count() FROM windows FINAL
        WHERE business_id IN {b:Array(String)} AND window_start >= fromUnixTimestamp64Milli({s:Int64})
        GROUP BY business_id, granularity""", b=list(HISTORY_BUSINESSES), s=span_start)}
    events: dict[str, int] = {}
    busiest: dict[str, tuple[int, int]] = {}
    for b, hour, n, _late in per_hour:
        events[b] = events.get(b, 0) + int(n)
        busiest[b] = max(busiest.get(b, (0, -1)), (int(n), int(hour)))
    late = sum(int(r[3]) for r in per_hour)
    if h.events:
        head = (f"history: backfilled {h.events:,} generated OcrResult events, {_utc(h.start_ms)} → "
                f"{_utc(h.end_ms)} (daily patterns, seed {h.seed}), through ocr-results → sink → windows")
        if h.covered_from_ms is not None and h.covered_from_ms < h.start_ms:
            head += f"; earlier runs' history from {_utc(h.covered_from_ms)}"
    else:
        head = f"history: from earlier runs on this state, since {_utc(span_start)} (nothing new to backfill)"
    console.print(f"{head}; late: {late}", soft_wrap=True, highlight=False)
    table = Table()
    for col in ("business", "events", "minute windows", "hour windows", "busiest hour (UTC)"):
        table.add_column(col, justify="left" if col == "business" else "right")
    for b in HISTORY_BUSINESSES:
        table.add_row(b, f"{events.get(b, 0):,}", f"{windows.get((b, 'minute'), 0):,}",
                      f"{windows.get((b, 'hour'), 0):,}", f"{busiest[b][1]:02d}:00" if b in busiest else "-")
    console.print(table)
