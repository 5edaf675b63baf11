"""``ocrstream publish | video``: the producer commands.

Expected failures (bad input, unreachable broker or store, a camera that
cannot be opened) end with a one-line ``error:`` and exit code 1, no
traceback. See :mod:`producers.publish` and :mod:`producers.video` for
semantics (``ocrstream generate``, synthetic load, is :mod:`synth.cli`).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Optional

import typer


def register(app: typer.Typer) -> None:
    """Attach the producer commands to the main ``ocrstream`` app."""
    app.command("publish")(publish_cmd)
    app.command("video")(video_cmd)


def progress_bar(console: Any) -> Any:
    """A rich progress bar (description, bar, n/total, info, elapsed) on ``console``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console, transient=False)


def print_summary(console: Any, summary: Any, elapsed: float) -> None:
    """Print a :class:`~producers.publish.PublishSummary` (counts, MB, time, the first 20 failures)."""
    console.print(f"published {summary.published}, skipped as duplicate {summary.duplicates}, "
                  f"failed {len(summary.failed)}, ignored (not a document) {summary.ignored} "
                  f"— {summary.bytes_published / 1e6:.1f} MB in {elapsed:.1f}s")
    for name, reason in summary.failed[:20]:
        console.print(f"  [red]failed[/] {name}: {reason}")
    if len(summary.failed) > 20:
        console.print(f"  ... and {len(summary.failed) - 20} more failures")


# ------------------------------------------------------------------ publish

def publish_cmd(
    ctx: typer.Context,
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
    from ocrstream.console import console, fail, settings_of
    from producers.errors import ProducerError
    from producers.publish import DocumentPublisher, PublishSummary, discover, mtime_event_time, watch_directory

    settings = settings_of(ctx)
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
        with publisher, progress_bar(console) as progress:
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
    print_summary(console, summary, time.monotonic() - t0)
    if summary.failed:
        raise typer.Exit(1)


# ------------------------------------------------------------------ video

def video_cmd(
    ctx: typer.Context,
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
    from ocrstream.console import console, fail, settings_of
    from producers.errors import ProducerError
    from producers.times import parse_time_ms
    from producers.video import FrameSource, VideoProducer

    settings = settings_of(ctx)
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
