"""``ocrstream up``: the whole embedded pipeline, fed with your own documents.

Runs what ``ocrstream demo`` runs, without sample data
(:class:`ocrstream.cli.embedded.EmbeddedPipeline`): the local stack (Kafka, S3,
the S3 upload bridge, chDB), ``--workers`` OCR worker processes and, in this
process — the one that owns the chDB data directory — the aggregation sink
and the API + dashboard. Then it feeds it:

* ``--watch DIR --business ID``: every document file in ``DIR`` (recursive;
  those already there at start, then each new one) is published once, by the
  code of ``ocrstream publish --watch`` (:func:`producers.publish.watch_directory`):
  taken when its size and mtime stayed unchanged for ``producer.watch_settle_s``,
  uploaded content-addressed (sha256) and sent as a ``DocumentRef``; a file
  published before (same path, size and mtime, in the publish ledger) is
  skipped, so a restart republishes nothing. One line per file when the
  broker acknowledged it, and one when its result is stored
  (:class:`ResultTracker`: type, vendor, total, OCR time, document view URL —
  or the stage and reason when it was dead-lettered). Event time: when the
  file is picked up (``--event-time now``, like an S3 upload) or its mtime.
* ``--video SRC``: a camera index (``0``), a stream URL, or a video file
  (replayed at its own frame rate, like a camera): each new stable page is a
  ``VideoFrame`` (:class:`producers.video.VideoProducer`) of stream
  ``--stream-id`` (default: the source's name plus the start time, so a
  second run's pages are not taken for the first run's).
* Meanwhile ``ocrstream publish FILE... --business ID`` from another terminal
  and uploads with any S3 client into ``s3://<documents bucket>/<business>/...``
  (the bridge) land in the same pipeline.

SIGINT (Ctrl-C), SIGTERM and SIGHUP stop everything it started — the
watcher, the video reader, the result tracker, the sink (after a final flush
and checkpoint), the API, the workers with their OCR pools, and the parts of
the local stack this run started — and nothing else: a stack that was already
running keeps running.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocrstream.cli.embedded import EmbeddedPipeline, PipelineError, Stopped
from ocrstream.settings import Settings

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass
class UpOptions:
    """What ``ocrstream up`` feeds the pipeline with (see module docstring)."""

    watch: Path | None = None
    business: str | None = None
    video: str | None = None
    stream_id: str | None = None
    workers: int = 1
    event_time: str = "now"  # "now" or "mtime"


def check_options(opts: UpOptions) -> UpOptions:
    """Validate the options (one-line :class:`PipelineError`) and fill in defaults."""
    from producers.s3events import BUSINESS_ID

    if opts.event_time not in ("now", "mtime"):
        raise PipelineError(f"--event-time must be now or mtime, not {opts.event_time!r}")
    if (opts.watch is not None or opts.video is not None) and not opts.business:
        raise PipelineError("--watch and --video need --business ID (the business the documents belong to)")
    if opts.business and not BUSINESS_ID.fullmatch(opts.business):
        raise PipelineError(f"--business {opts.business!r}: use 1-64 letters, digits, '.', '_' or '-' "
                            "(the same ids as S3 key prefixes)")
    if opts.watch is not None:
        watch = opts.watch.expanduser()
        if watch.exists() and not watch.is_dir():
            raise PipelineError(f"--watch {opts.watch}: not a directory")
        opts.watch = watch.resolve()
    if opts.video is not None and not opts.stream_id:
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(opts.video).stem if not opts.video.isdigit()
                      else f"camera{opts.video}").strip("-") or "video"
        opts.stream_id = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    return opts


# ---------------------------------------------------------------------- results


@dataclass
class _Pending:
    name: str
    since: float = field(default_factory=time.monotonic)


class ResultTracker:
    """Reports what became of published documents: stored (with its result) or dead-lettered.

    :meth:`add` a document id; :meth:`poll` (every ``interval_s`` in
    :meth:`run`) looks the pending ids up in ClickHouse (``documents``, then
    ``dead_letters``) and says one line per document found.
    """

    def __init__(self, client: Any, say: Callable[[str], None], base_url: str, interval_s: float = 1.0) -> None:
        self.client = client
        self.say = say
        self.base_url = base_url
        self.interval_s = interval_s
        self.pending: dict[str, _Pending] = {}
        self.stored = 0
        self.dead_lettered = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def add(self, document_id: str, name: str) -> None:
        with self._lock:
            self.pending.setdefault(document_id, _Pending(name))

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.poll()

    def poll(self) -> None:
        from ocrstream.clickhouse import query_rows

        from streams.checkpoint import CLICKHOUSE_LOCK

        with self._lock:
            ids = list(self.pending)
        if not ids:
            return
        with CLICKHOUSE_LOCK:
            docs = query_rows(self.client, """
                SELECT document_id, doc_type, vendor, total, currency, ocr_s, engine FROM documents FINAL
                WHERE document_id IN {ids:Array(String)}""", {"ids": ids})
            found = {row[0] for row in docs}
            dead = query_rows(self.client, """
                SELECT document_id, stage, error_class, error_message FROM dead_letters FINAL
                WHERE document_id IN {ids:Array(String)}""", {"ids": [i for i in ids if i not in found]})
        for document_id, doc_type, vendor, total, currency, ocr_s, engine in docs:
            item = self._take(document_id)
            if item is None:
                continue
            self.stored += 1
            parts = [doc_type]
            if vendor:
                parts.append(f"vendor {vendor}")
            if total is not None:
                parts.append(f"total {total:.2f}{' ' + currency if currency else ''}")
            parts.append(f"OCR {ocr_s:.1f}s ({engine})")
            self.say(f"[green]✓[/] {item.name}: {', '.join(parts)} — {self.base_url}/document?id={document_id}")
        for document_id, stage, error_class, message in dead:
            item = self._take(document_id)
            if item is None:
                continue
            self.dead_lettered += 1
            self.say(f"[red]✗[/] {item.name}: dead-lettered at {stage} ({error_class}): "
                     f"{' '.join(str(message).split())[:200]}")

    def _take(self, document_id: str) -> _Pending | None:
        with self._lock:
            return self.pending.pop(document_id, None)


def document_id_of(uri: str) -> str | None:
    """The document id (sha256) of a content-addressed upload URI ``s3://bucket/sha256/xx/<sha><ext>``."""
    stem = uri.rsplit("/", 1)[-1].split(".", 1)[0]
    return stem if _SHA256.fullmatch(stem) else None


# ---------------------------------------------------------------------- producers


class Watcher:
    """``--watch``: :func:`producers.publish.watch_directory` in a thread, one line per file."""

    def __init__(self, settings: Settings, opts: UpOptions, tracker: ResultTracker, say: Callable[[str], None]):
        self.settings = settings
        self.opts = opts
        self.tracker = tracker
        self.say = say
        self.stop_event = threading.Event()

    def progress(self, outcome: str, name: str, detail: str) -> None:
        """``DocumentPublisher.on_progress``: published / duplicate / failed, per file."""
        assert self.opts.watch is not None
        shown = _relative(name, self.opts.watch)
        if outcome == "published":
            document_id = document_id_of(detail)
            self.say(f"• {shown}: published for {self.opts.business} "
                     f"({(document_id or detail)[:12]}…), waiting for OCR")
            if document_id:
                self.tracker.add(document_id, shown)
        elif outcome == "duplicate":
            self.say(f"• {shown}: same content as a document published before ({detail[:12]}…); skipped")
            if _SHA256.fullmatch(detail):
                self.tracker.add(detail, shown)
        else:
            self.say(f"[red]✗[/] {shown}: not published: {detail}")

    def run(self) -> None:
        from producers.publish import DocumentPublisher, mtime_event_time, watch_directory

        assert self.opts.watch is not None and self.opts.business is not None
        timer = mtime_event_time if self.opts.event_time == "mtime" else (lambda c: int(time.time() * 1000))
        with DocumentPublisher(self.settings, self.opts.business, source="watch", event_time=timer,
                               on_progress=self.progress) as publisher:
            watch_directory(publisher, self.opts.watch, stop=self.stop_event)

    def stop(self) -> None:
        self.stop_event.set()


class VideoFeed:
    """``--video``: new stable pages of a camera, stream or file, until stopped.

    The source is opened at construction (so a bad one fails before anything
    starts). A file that ends is not an error: the feed reports it and idles
    until ``up`` stops.
    """

    def __init__(self, settings: Settings, opts: UpOptions, say: Callable[[str], None]) -> None:
        from producers.video import FrameSource

        assert opts.video is not None
        self.settings = settings
        self.opts = opts
        self.say = say
        self.stop_event = threading.Event()
        self.source = FrameSource(opts.video, queue_frames=settings.producer.video_queue_frames, realtime=True)

    def run(self) -> None:
        from producers.video import VideoProducer

        assert self.opts.stream_id is not None and self.opts.business is not None
        producer = VideoProducer(self.settings, self.opts.stream_id, self.opts.business)
        producer.open()
        seen = 0

        def on_stats(stats: Any) -> None:
            nonlocal seen
            if stats.pages > seen:
                seen = stats.pages
                self.say(f"• video {self.opts.video}: page {stats.pages} published (stream {self.opts.stream_id})")

        try:
            stats = producer.run(self.source, on_stats=on_stats)
        finally:
            self.source.close()
        if not self.stop_event.is_set():
            self.say(f"• video {self.opts.video} ended: {stats.line()}")
            self.stop_event.wait()  # a finished file is not a failure

    def stop(self) -> None:
        self.stop_event.set()
        self.source.stop()


def _relative(name: str, root: Path) -> str:
    try:
        return str(Path(name).resolve().relative_to(root))
    except ValueError:
        return name


# ---------------------------------------------------------------------- run


def ready_lines(settings: Settings, opts: UpOptions, url: str) -> list[str]:
    """What the user can do now, printed once everything runs."""
    s3 = settings.s3
    lines = [f"[bold green]ready[/]: dashboard {url}/dashboard   API {url}/docs   health {url}/healthz"]
    if opts.watch is not None:
        lines.append(f"  • drop documents (images, PDFs) into {opts.watch} → business {opts.business}")
    if opts.video is not None:
        lines.append(f"  • reading pages from {opts.video} → stream {opts.stream_id}, business {opts.business}")
    lines.append("  • from another terminal: ocrstream publish FILE_OR_DIR... --business ID")
    lines.append(f"  • or upload with any S3 client: s3://{s3.documents_bucket}/<business>/<file> "
                 f"(endpoint {s3.endpoint}, key {s3.access_key})")
    lines.append("Ctrl-C stops everything this command started.")
    return lines


def run_up(settings: Settings, opts: UpOptions, *, say: Callable[[str], None],
           join_timeout_s: float = 90.0) -> None:
    """Run until a stop signal (module docstring). Raises :class:`PipelineError` (one line)."""
    opts = check_options(opts)
    pipe = EmbeddedPipeline(settings, "up", say=say, workers=opts.workers)
    say = pipe.say
    pipe.preflight()
    video = VideoFeed(settings, opts, say) if opts.video is not None else None
    try:
        with pipe.signals():
            try:
                say("[bold]── ocrstream up ──")
                pipe.start_stack()
                if opts.watch is not None and not opts.watch.exists():
                    opts.watch.mkdir(parents=True)
                    say(f"• created the inbox folder {opts.watch}")
                pipe.start_services()
                say(f"• waiting for the OCR worker{'s' if opts.workers > 1 else ''} to join (a few seconds)")
                if not pipe.wait_for_workers(join_timeout_s):
                    say(f"[yellow]warning[/]: no OCR worker joined within {join_timeout_s:.0f}s (see "
                        f"{settings.state_dir / 'logs'}); documents wait in Kafka until one does")
                tracker = ResultTracker(pipe.client, say, pipe.url)
                pipe.sup.start_thread("results", tracker.run, stop=tracker.stop)
                if opts.watch is not None:
                    watcher = Watcher(settings, opts, tracker, say)
                    pipe.sup.start_thread("watch", watcher.run, stop=watcher.stop)
                if video is not None:
                    pipe.sup.start_thread("video", video.run, stop=video.stop)
                for line in ready_lines(settings, opts, pipe.url):
                    say(line)
                while True:
                    pipe.wait(1.0)
            except Stopped:
                pass
            finally:
                pipe.close()
    finally:
        if video is not None:
            video.source.close()
