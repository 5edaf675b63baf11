"""The demo's live part: documents and video pages keep arriving while it serves.

:class:`LiveTrickle` runs as a supervised thread of ``ocrstream demo`` and,
until :meth:`LiveTrickle.stop`, publishes through the same producers a user
would use:

* every ``demo.live_document_interval_s``: one rendered document
  (:func:`synth.documents.render_document`: receipts and invoices mostly,
  some forms, reports and photos, every third one a noisy scan) for the next
  business in turn, uploaded and published as a ``DocumentRef`` by
  :class:`producers.publish.DocumentPublisher` (``source=upload``, event time
  = now): the OCR worker fetches, classifies, OCRs and extracts it like any
  upload, and the sink counts it in the current minute and hour windows;
* every ``demo.live_video_interval_s``: a short clip of
  ``demo.live_video_pages`` new text pages (:func:`ocrstream.cli.demo.render_video`),
  read by :class:`producers.video.VideoProducer` (stable-page detection) and
  published as ``VideoFrame``\\ s of a new stream ``demo-camera-live-<s>-<n>``
  (a video page's document id is ``stream_id:frame_number``, so each clip
  needs its own stream id or its pages would be dropped as repeats).

Seeds come from the wall clock, so every run publishes new content (document
ids are content hashes). Rendered files are deleted once published (the
bytes live in the documents bucket). Delivery is at-least-once, as for
``ocrstream publish``; a failed publish is counted and reported once per kind
of error, and the trickle keeps going.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocrstream.settings import Settings

log = logging.getLogger(__name__)

LIVE_KINDS: tuple[tuple[str, float], ...] = (
    ("receipt", 0.45), ("invoice", 0.25), ("form", 0.1), ("report", 0.1), ("photo", 0.1),
)


@dataclass
class LiveStats:
    """What the trickle published (acknowledged by the broker)."""

    documents: int = 0
    video_clips: int = 0
    video_pages: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


class LiveTrickle:
    """Publish a rendered document / a video clip at fixed intervals until stopped (module docstring)."""

    def __init__(self, settings: Settings, businesses: Sequence[str], out_dir: Path, *,
                 say: Callable[[str], None] = lambda m: None, video_business: str | None = None) -> None:
        if not businesses:
            raise ValueError("the live trickle needs at least one business")
        self.settings = settings
        self.businesses = tuple(businesses)
        self.video_business = video_business or self.businesses[0]
        self.out_dir = out_dir
        self.say = say
        self.document_interval_s = settings.demo.live_document_interval_s
        self.video_interval_s = settings.demo.live_video_interval_s
        self.stats = LiveStats()
        self._stop = threading.Event()
        self._publishers: dict[str, Any] = {}
        self._stamp = int(time.time())
        self._rng = random.Random(time.time_ns())
        self._said: set[str] = set()

    @property
    def enabled(self) -> bool:
        return self.document_interval_s > 0 or self.video_interval_s > 0

    def describe(self) -> str:
        """One line for the demo's summary: what keeps arriving."""
        parts = []
        if self.document_interval_s > 0:
            parts.append(f"a rendered document every {self.document_interval_s:g}s (real OCR by the worker; "
                         f"businesses in turn: {', '.join(self.businesses)})")
        if self.video_interval_s > 0:
            parts.append(f"a {self.settings.demo.live_video_pages}-page video clip every "
                         f"{self.video_interval_s:g}s (streams demo-camera-live-*, {self.video_business})")
        return " and ".join(parts) if parts else "nothing (demo.live_* intervals are 0)"

    def stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        """Publish until :meth:`stop`; the first document comes at once, the first clip after one interval."""
        now = time.monotonic()
        next_doc = now if self.document_interval_s > 0 else None
        next_clip = now + self.video_interval_s if self.video_interval_s > 0 else None
        n_doc = n_clip = 0
        try:
            while not self._stop.is_set():
                due = [t for t in (next_doc, next_clip) if t is not None]
                if not due:
                    self._stop.wait()
                    break
                wait = min(due) - time.monotonic()
                if wait > 0 and self._stop.wait(wait):
                    break
                now = time.monotonic()
                if next_doc is not None and now >= next_doc:
                    self._guard("document", lambda: self.publish_document(n_doc))
                    n_doc += 1
                    next_doc = max(next_doc + self.document_interval_s, time.monotonic())
                if next_clip is not None and now >= next_clip and not self._stop.is_set():
                    self._guard("video", lambda: self.publish_clip(n_clip))
                    n_clip += 1
                    next_clip = max(next_clip + self.video_interval_s, time.monotonic())
        finally:
            for publisher in self._publishers.values():
                publisher.close()
            self._publishers.clear()

    def _guard(self, what: str, step: Callable[[], None]) -> None:
        """Run one publish step; a failure is counted and reported once per kind, the trickle goes on."""
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - the demo keeps serving; health shows broken parts
            self._failed(f"live {what}: {' '.join(str(exc).split())[:200]}", key=f"{what}:{type(exc).__name__}")

    def _failed(self, message: str, key: str) -> None:
        self.stats.failed += 1
        if len(self.stats.errors) < 20:
            self.stats.errors.append(message)
        log.warning("%s", message)
        if key not in self._said:
            self._said.add(key)
            self.say(f"[yellow]warning[/]: {message} (the demo keeps serving)")

    # ------------------------------------------------------------------ documents
    def _publisher(self, business: str) -> Any:
        from producers.publish import DocumentPublisher

        pub = self._publishers.get(business)
        if pub is None:
            pub = DocumentPublisher(self.settings, business, source="upload",
                                    event_time=lambda c: int(time.time() * 1000))
            pub.open()
            self._publishers[business] = pub
        return pub

    def publish_document(self, n: int) -> None:
        """Render document ``n`` of this run and publish it for the next business in turn."""
        import cv2

        from synth.documents import render_document
        from producers.publish import discover

        business = self.businesses[n % len(self.businesses)]
        kinds, weights = zip(*LIVE_KINDS)
        kind = self._rng.choices(kinds, weights)[0]
        image, _truth = render_document(kind, self._rng.randrange(1 << 30), noisy=(n % 3 == 2))
        folder = self.out_dir / "documents" / business
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{kind}-{self._stamp}-{n}.png"
        cv2.imwrite(str(path), image)
        try:
            candidates, _ = discover([str(path)])
            summary = self._publisher(business).publish(candidates)
        finally:
            path.unlink(missing_ok=True)
        self.stats.documents += summary.published
        for name, reason in summary.failed:
            self._failed(f"live document {Path(name).name}: {reason}", key="document:publish")

    # ------------------------------------------------------------------ video
    def publish_clip(self, n: int) -> None:
        """Render clip ``n`` (new pages) and publish its stable pages as a new video stream."""
        from ocrstream.cli.demo import render_video
        from producers.video import VideoProducer

        folder = self.out_dir / "clips"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"clip-{self._stamp}-{n}.mp4"
        render_video(path, pages=self.settings.demo.live_video_pages, seed=self._rng.randrange(1 << 30))
        try:
            producer = VideoProducer(self.settings, f"demo-camera-live-{self._stamp}-{n}", self.video_business)
            producer.open()
            stats = producer.run_file(path)
        finally:
            path.unlink(missing_ok=True)
        self.stats.video_clips += 1
        self.stats.video_pages += stats.pages
        for err in stats.errors[:3]:
            self._failed(f"live video page: {err}", key="video:publish")
