"""``ocrstream publish | video | generate``: the producer commands.

Expected failures (bad input, unreachable broker or store, a camera that
cannot be opened) end with a one-line ``error:`` and exit code 1, no
traceback. See :mod:`producers.publish`, :mod:`producers.video`,
:mod:`producers.generate` and :mod:`producers.events` for semantics.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Optional

import typer


def register(app: typer.Typer) -> None:
    """Attach the producer commands to the main ``ocrstream`` app."""
    app.command("publish")(publish_cmd)
    app.command("video")(video_cmd)
    app.command("generate")(generate_cmd)


def _progress(console: Any) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console, transient=False)


def _print_summary(console: Any, summary: Any, elapsed: float) -> None:
    console.print(f"published {summary.published}, skipped as duplicate {summary.duplicates}, "
                  f"failed {len(summary.failed)}, ignored (not a document) {summary.ignored} "
                  f"— {summary.bytes_published / 1e6:.1f} MB in {elapsed:.1f}s")
    for name, reason in summary.failed[:20]:
        console.print(f"  [red]failed[/] {name}: {reason}")
    if len(summary.failed) > 20:
        console.print(f"  ... and {len(summary.failed) - 20} more failures")


# ------------------------------------------------------------------ publish

def publish_cmd(
    paths: Optional[list[str]] = typer.Argument(None, help="Files, directories or s3://bucket/prefix."),
    business: str = typer.Option(..., "--business", "-b", help="Business id the documents belong to."),
    watch: Optional[Path] = typer.Option(None, "--watch", help="Then keep publishing new files in DIR (Ctrl-C stops)."),
    presign: bool = typer.Option(False, "--presign", help="Add a presigned GET URL (for consumers without S3 credentials)."),
    event_time: str = typer.Option("mtime", "--event-time", help="mtime (file time) or now."),
) -> None:
    """Upload documents (content-addressed by sha256) and publish a DocumentRef for each.

    A document is published when the broker acknowledged it; one already
    published (in the ledger under the state dir, object still in the bucket)
    is skipped as a duplicate. Exit code 1 when any document failed.
    """
    from ocrstream.cli import console, fail, state
    from producers.errors import ProducerError
    from producers.publish import DocumentPublisher, PublishSummary, discover, mtime_event_time, watch_directory

    settings = state.settings
    if not paths and watch is None:
        fail("nothing to publish: give files, directories or s3:// prefixes, or --watch DIR")
        return
    if event_time not in ("mtime", "now"):
        fail(f"--event-time must be mtime or now, not {event_time!r}")
        return
    timer = (lambda c: int(time.time() * 1000)) if event_time == "now" else mtime_event_time
    t0 = time.monotonic()
    summary = PublishSummary()
    try:
        publisher = DocumentPublisher(settings, business, source="watch" if watch and not paths else "upload",
                                      presign=presign, event_time=timer)
        cands, ignored = discover(paths or [], publisher.store)
        if watch is not None and not watch.is_dir():
            raise ProducerError(f"cannot watch {watch}: not a directory (create it or fix the path)")
        with publisher, _progress(console) as progress:
            task = progress.add_task("publishing", total=len(cands) or None, info="")
            publisher.on_progress = lambda outcome, name, detail: progress.update(
                task, advance=1, info=f"{outcome}: {Path(name).name}")
            if cands:
                summary = publisher.publish(cands)
            summary.ignored += ignored
            if watch is not None:
                publisher.source = "watch"
                progress.update(task, description=f"watching {watch} (Ctrl-C stops)", total=None)
                stop = threading.Event()
                try:
                    summary.merge(watch_directory(publisher, watch, stop=stop))
                except KeyboardInterrupt:
                    stop.set()
    except ProducerError as exc:
        fail(str(exc))
        return
    _print_summary(console, summary, time.monotonic() - t0)
    if summary.failed:
        raise typer.Exit(1)


# ------------------------------------------------------------------ video

def video_cmd(
    source: str = typer.Argument(..., help="Video file, camera index (0) or rtsp://, http(s):// URL."),
    stream_id: str = typer.Option(..., "--stream-id", help="Id of this camera/stream (the record key)."),
    business: str = typer.Option(..., "--business", "-b", help="Business id the pages belong to."),
    realtime: bool = typer.Option(False, "--realtime", help="Replay a file at its own fps, like a camera (frames may be dropped)."),
    sample_fps: float = typer.Option(0.0, "--sample-fps", help="Analyse at most this many frames per second of video (0 = all)."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", help="Stop after this many processed frames."),
    start: Optional[str] = typer.Option(None, "--start", help="Event time of a file's first frame (ISO 8601 or epoch ms; default now)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Detect pages only; publish nothing."),
) -> None:
    """Publish one VideoFrame per new stable page seen in a video, camera or stream."""
    from ocrstream.cli import console, fail, state
    from producers.errors import ProducerError
    from producers.generate import parse_time_ms
    from producers.video import FrameSource, VideoProducer

    settings = state.settings
    try:
        start_ms = parse_time_ms(start) if start else None
        producer = VideoProducer(settings, stream_id, business, publish=not dry_run)
        producer.open()
        src = FrameSource(source, queue_frames=settings.producer.video_queue_frames, realtime=realtime,
                          start_ms=start_ms, sample_fps=sample_fps)
        try:
            stats = producer.run(src, max_frames=max_frames,
                                 on_stats=lambda s: console.print(f"[dim]{s.line()}[/]"))
        except KeyboardInterrupt:
            src.stop()
            stats = None
        finally:
            src.close()
    except ProducerError as exc:
        fail(str(exc))
        return
    if stats is None:
        console.print("interrupted")
        return
    console.print(stats.line())
    for err in stats.errors[:10]:
        console.print(f"  [red]failed[/] {err}")
    if stats.failed:
        raise typer.Exit(1)


# ------------------------------------------------------------------ generate

def generate_cmd(
    mode: str = typer.Option("events", "--mode", help="events (OcrResult records) or images (rendered documents)."),
    businesses: str = typer.Option("3", "--businesses", help="How many businesses, or a comma-separated list of ids."),
    rate: float = typer.Option(1.0, "--rate", help="Documents per second of event time, all businesses together."),
    duration: Optional[str] = typer.Option(None, "--duration", help="Live mode: run this long from now, paced (e.g. 10m)."),
    backfill: Optional[str] = typer.Option(None, "--backfill", help="Backfill this much history as fast as possible (e.g. 7d)."),
    seed: int = typer.Option(0, "--seed", help="Same seed and parameters, same events."),
    start: Optional[str] = typer.Option(None, "--start", help="Backfill start (ISO 8601 / epoch ms); default: last full hour minus the backfill."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for ground truth (and images); default <state_dir>/generated/<mode>-<seed>."),
    out_of_order: float = typer.Option(0.0, "--out-of-order", help="Fraction of events 1..--max-disorder-ms earlier than their arrival order."),
    max_disorder_ms: int = typer.Option(4000, "--max-disorder-ms"),
    late: float = typer.Option(0.0, "--late", help="Fraction of late events (--late-min-ms..--late-max-ms behind)."),
    late_min_ms: int = typer.Option(120_000, "--late-min-ms"),
    late_max_ms: int = typer.Option(600_000, "--late-max-ms"),
    old: float = typer.Option(0.0, "--old", help="events: fraction with old event times, uniform over --old-span "
                                                "before the start (history interleaved with live traffic)."),
    old_span: str = typer.Option("6d", "--old-span", help="events: how far back --old event times go."),
    publish: Optional[bool] = typer.Option(None, "--publish/--no-publish", help="Publish (default: yes for events, no for images)."),
    presign: bool = typer.Option(False, "--presign", help="images: add presigned URLs to the DocumentRefs."),
) -> None:
    """Replayable load: OcrResult events (mode events) or rendered documents with ground truth (mode images)."""
    from ocrstream.cli import console, fail, state
    from producers.errors import ProducerError
    from producers.generate import default_backfill_start, parse_businesses, parse_duration, parse_time_ms

    settings = state.settings
    try:
        if mode not in ("events", "images"):
            raise ProducerError(f"--mode must be events or images, not {mode!r}")
        if (duration is None) == (backfill is None):
            raise ProducerError("give exactly one of --duration (live, paced) or --backfill (history, fast)")
        if rate <= 0:
            raise ProducerError("--rate must be positive")
        if not (0 <= out_of_order <= 1 and 0 <= late <= 1 and 0 <= old <= 1 and out_of_order + late + old <= 1):
            raise ProducerError("--out-of-order, --late and --old are fractions in [0, 1] with a sum <= 1")
        names = parse_businesses(businesses)
        span_s = parse_duration(backfill or duration or "0")
        now_ms = int(time.time() * 1000)
        if backfill is not None:
            start_ms = parse_time_ms(start) if start else default_backfill_start(span_s, now_ms)
            pace = None
        else:
            start_ms = parse_time_ms(start) if start else now_ms
            pace = rate
        out_dir = out or settings.state_dir / "generated" / f"{mode}-{seed}"
        do_publish = publish if publish is not None else mode == "events"
        if mode == "events":
            _generate_events(console, settings, names, rate, span_s, start_ms, seed, out_dir, out_of_order,
                             max_disorder_ms, late, (late_min_ms, late_max_ms), do_publish, pace,
                             old, int(parse_duration(old_span) * 1000))
        else:
            _generate_images(console, settings, names, rate, span_s, start_ms, seed, out_dir, do_publish, presign)
    except ProducerError as exc:
        fail(str(exc))


def _generate_events(console: Any, settings: Any, names: tuple[str, ...], rate: float, span_s: float,
                     start_ms: int, seed: int, out_dir: Path, out_of_order: float, max_disorder_ms: int,
                     late: float, late_delay: tuple[int, int], do_publish: bool, pace: float | None,
                     old: float = 0.0, old_span_ms: int = 0) -> None:
    from producers.events import generate_events, publish_events

    stream = generate_events(names, rate, span_s, start_ms, seed=seed, out_of_order=out_of_order,
                             max_disorder_ms=max_disorder_ms, late=late, late_delay_ms=late_delay, old=old,
                             old_span_ms=old_span_ms)
    total = stream.spec.count
    if total < 1:
        raise ProducerError("nothing to generate: rate x duration is below one event")
    t0 = time.monotonic()
    extra: dict[str, Any] = {}
    with _progress(console) as progress:
        task = progress.add_task("events", total=total, info="")
        if do_publish:
            stats = publish_events(settings, stream, pace_rate=pace,
                                   on_progress=lambda n: progress.update(task, completed=n,
                                                                         info=f"{n / max(1e-9, time.monotonic() - t0):,.0f}/s"))
            extra = {"topic": settings.topic("ocr-results"), "produced": stats.produced,
                     "delivered": stats.delivered, "failed": stats.failed}
        else:
            n = 0
            for _ in stream.encoded():
                n += 1
            progress.update(task, completed=n)
            stats = None
    path = stream.write_ground_truth(out_dir / "ground_truth.json", **extra)
    elapsed = time.monotonic() - t0
    if stats is None:
        console.print(f"generated {total} events (not published) in {elapsed:.1f}s; ground truth: {path}")
        return
    console.print(f"published {stats.delivered} of {stats.produced} events to {extra['topic']} "
                  f"({stats.delivered / max(elapsed, 1e-9):,.0f} events/s), failed {stats.failed}; ground truth: {path}")
    for err in stats.errors[:5]:
        console.print(f"  [red]failed[/] {err}")
    if stats.failed:
        raise typer.Exit(1)


def _generate_images(console: Any, settings: Any, names: tuple[str, ...], rate: float, span_s: float,
                     start_ms: int, seed: int, out_dir: Path, do_publish: bool, presign: bool) -> None:
    from producers.generate import generate_images, publish_images

    count = int(round(rate * span_s))
    if count > 20_000:
        console.print(f"[yellow]warning[/]: rendering {count} images takes a while (~30 ms each)")
    t0 = time.monotonic()
    docs = generate_images(out_dir, names, count, rate, start_ms, seed)
    console.print(f"rendered {len(docs)} documents into {out_dir} in {time.monotonic() - t0:.1f}s "
                  f"(ground truth: *.json, manifest.json)")
    if not do_publish:
        return
    with _progress(console) as progress:
        task = progress.add_task("publishing", total=len(docs), info="")
        summary = publish_images(settings, docs, presign=presign,
                                 on_progress=lambda o, n, d: progress.update(task, advance=1, info=o))
    _print_summary(console, summary, time.monotonic() - t0)
    if summary.failed:
        raise typer.Exit(1)
    (out_dir / "published.json").write_text(json.dumps({"published": summary.published,
                                                        "duplicates": summary.duplicates}))
