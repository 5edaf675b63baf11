"""Video producer: publish one ``VideoFrame`` per new stable page seen by a camera.

SOURCE is a video file, a camera index (``0``) or a stream URL
(``rtsp://``, ``http(s)://``, ...), opened with OpenCV.

* **Reading.** A file is read at the speed of the pipeline (nothing is
  dropped: the file waits). A live source (camera, stream, or a file with
  ``realtime=True``, paced at its own fps) is read by a reader thread into a
  bounded queue of ``producer.video_queue_frames`` frames; when the pipeline
  is slower than the camera, the *oldest* queued frame is dropped and counted
  (the freshest view wins), so memory never grows.
* **Pages.** :class:`~producers.frames.PageDetector` decides when the page in
  view is stable and whether it repeats the last published one.
* **Publishing.** Each new page is JPEG-encoded; JPEGs up to
  ``producer.video_inline_max_bytes`` travel inline (``image_jpeg``), larger
  ones are uploaded to ``s3://<documents bucket>/sha256/..`` and referenced
  (``image_uri``). Records go to ``video-frames`` keyed by ``stream_id``
  (ordered per stream), idempotent producer, ``acks=all``; a page counts as
  published when its delivery report arrives without error (at-least-once).
* **Event time.** Live: wall clock at capture. File: ``start_ms`` (default:
  when the run started) + the frame's position in the video.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

# FFmpeg's own messages ("[png @ 0x..] Invalid PNG signature") would bypass our one-line errors.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from ocrstream.codec import make_serde
from ocrstream.objectstore import ObjectStore, content_key
from ocrstream.records import VideoFrame
from ocrstream.settings import Settings
from ocrstream.topics import VIDEO_FRAMES
from ocrstream.uris import s3_uri
from producers.errors import ProducerError, SourceUnavailable, StoreUnavailable
from producers.frames import DetectorConfig, PageDetector, Verdict, phash_hex, sharpness
from ocrstream.kafka import flush, produce
from producers.kafka_io import connect

log = logging.getLogger(__name__)

_STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")


@dataclass
class VideoStats:
    """Counters of one run. ``frames_in`` = frames read from the source."""

    frames_in: int = 0
    processed: int = 0
    dropped: int = 0
    pages: int = 0  # acknowledged by the broker
    duplicates: int = 0
    empty: int = 0
    failed: int = 0
    uploaded: int = 0
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def fps_in(self) -> float:
        return self.frames_in / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def line(self) -> str:
        return (f"frames in {self.frames_in} ({self.fps_in:.1f}/s), processed {self.processed}, "
                f"pages out {self.pages}, duplicates {self.duplicates}, empty {self.empty}, "
                f"dropped {self.dropped}, failed {self.failed}")


@dataclass
class Frame:
    number: int
    timestamp_ms: int
    image: np.ndarray


class FrameSource:
    """Frames from an OpenCV source, pulled (files) or via a bounded queue (live).

    Raises :class:`SourceUnavailable` (one line, with a hint) when the source
    cannot be opened or yields no frame.
    """

    def __init__(self, source: str, *, queue_frames: int = 8, realtime: bool = False,
                 start_ms: int | None = None, sample_fps: float = 0.0) -> None:
        self.source = source
        self.kind = self._kind(source)
        self.live = self.kind != "file" or realtime
        self.queue_frames = queue_frames
        self.sample_fps = sample_fps
        self.frames_in = 0
        self.dropped = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.cap = self._open()
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and 0 < fps < 1000 else 30.0
        self.start_ms = int(time.time() * 1000) if start_ms is None else start_ms

    @staticmethod
    def _kind(source: str) -> str:
        if source.isdigit():
            return "camera"
        if urlparse(source).scheme.lower() in _STREAM_SCHEMES:
            return "stream"
        return "file"

    def _open(self) -> cv2.VideoCapture:
        quiet = hasattr(cv2, "setLogLevel") and hasattr(cv2, "getLogLevel")
        level = cv2.getLogLevel() if quiet else None
        if quiet:
            cv2.setLogLevel(0)  # silent: we say what went wrong in one line
        try:
            return self._open_quiet()
        finally:
            if quiet:
                cv2.setLogLevel(level)

    def _open_quiet(self) -> cv2.VideoCapture:
        if self.kind == "camera":
            cap = cv2.VideoCapture(int(self.source))
            if not cap.isOpened():
                raise SourceUnavailable(f"cannot open camera {self.source}: check the index "
                                        f"(ls /dev/video*), that no other program uses it, and permissions")
            return cap
        if self.kind == "stream":
            cap = cv2.VideoCapture(self.source)
            if not cap.isOpened():
                raise SourceUnavailable(f"cannot open stream {self.source}: check the URL, credentials "
                                        f"and that the server is reachable")
            return cap
        path = Path(self.source).expanduser()
        if not path.is_file():
            raise SourceUnavailable(f"no such video file: {self.source} (pass a file, a camera index or a URL)")
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise SourceUnavailable(f"cannot decode {self.source}: not a video format OpenCV/FFmpeg can read")
        return cap

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.cap.release()

    def stop(self) -> None:
        self._stop.set()

    def frames(self) -> Iterator[Frame]:
        """Frames in order (live: the freshest ones; older ones are dropped and counted)."""
        return self._live() if self.live else self._pull()

    # ------------------------------------------------------------ file, pulled
    def _pull(self) -> Iterator[Frame]:
        step = max(1, round(self.fps / self.sample_fps)) if self.sample_fps > 0 else 1
        n = 0
        while not self._stop.is_set():
            if n % step:
                if not self.cap.grab():
                    break
                self.frames_in += 1
                n += 1
                continue
            ok, image = self.cap.read()
            if not ok:
                break
            self.frames_in += 1
            pos = self.cap.get(cv2.CAP_PROP_POS_MSEC)
            ts = self.start_ms + (int(pos) if pos and pos > 0 else int(n * 1000 / self.fps))
            yield Frame(n, ts, image)
            n += 1
        if self.frames_in == 0:
            raise SourceUnavailable(f"{self.source} has no readable frames (empty or corrupt video)")

    # ------------------------------------------------------------ live, bounded queue
    def _reader(self, q: "queue.Queue[Frame | None]") -> None:
        n = 0
        t0 = time.monotonic()
        step = max(1, round(self.fps / self.sample_fps)) if self.sample_fps > 0 else 1
        try:
            while not self._stop.is_set():
                if self.kind == "file":  # realtime replay of a file: pace at its fps
                    due = t0 + n / self.fps
                    delay = due - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                ok, image = self.cap.read()
                if not ok:
                    break
                self.frames_in += 1
                ts = int(time.time() * 1000)
                if n % step == 0:
                    item = Frame(n, ts, image)
                    while True:
                        try:
                            q.put_nowait(item)
                            break
                        except queue.Full:
                            try:
                                q.get_nowait()  # drop the oldest: the freshest view wins
                                self.dropped += 1
                            except queue.Empty:
                                pass
                n += 1
        finally:
            while True:  # the end marker must get in, even into a full queue
                try:
                    q.put_nowait(None)
                    break
                except queue.Full:
                    try:
                        q.get_nowait()
                        self.dropped += 1
                    except queue.Empty:
                        pass

    def _live(self) -> Iterator[Frame]:
        q: queue.Queue[Frame | None] = queue.Queue(maxsize=self.queue_frames)
        self._thread = threading.Thread(target=self._reader, args=(q,), name="video-reader", daemon=True)
        self._thread.start()
        while True:
            try:
                item = q.get(timeout=0.5)
            except queue.Empty:
                if self._stop.is_set() or not self._thread.is_alive() and q.empty():
                    break
                continue
            if item is None:
                break
            yield item
        if self.frames_in == 0:
            raise SourceUnavailable(f"{self.source} delivered no frames: check the camera/stream")


def detector_config(settings: Settings) -> DetectorConfig:
    p = settings.producer
    return DetectorConfig(analysis_width=p.video_analysis_width, motion_threshold=p.video_motion_threshold,
                          stable_frames=p.video_stable_frames, dup_distance=p.video_dup_distance,
                          dup_difference=p.video_dup_difference, min_detail=p.video_min_detail)


class VideoProducer:
    """Detect stable new pages in a :class:`FrameSource` and publish them (see module docstring).

    ``publish=False`` runs detection only (no broker, no store): pages are
    counted as they are found.
    """

    def __init__(self, settings: Settings, stream_id: str, business_id: str, *, publish: bool = True) -> None:
        if not stream_id or not business_id:
            raise ProducerError("both --stream-id and --business are required")
        self.settings = settings
        self.stream_id = stream_id
        self.business_id = business_id
        self.publish = publish
        self.serde = make_serde("VideoFrame", settings.kafka.schema_registry_url)
        self.producer: Any = None
        self.topic = settings.topic(VIDEO_FRAMES.short_name)
        self.store: ObjectStore | None = None
        # the last 1000 acknowledged records, without image bytes (bounded: cameras run for days)
        self.published: deque[dict[str, Any]] = deque(maxlen=1000)

    def open(self) -> None:
        """Connect to the broker (bounded retries) when publishing."""
        if self.publish:
            self.producer, self.topic = connect(self.settings, VIDEO_FRAMES)

    def _upload(self, sha: str, jpeg: bytes) -> str:
        if self.store is None:
            self.store = ObjectStore(self.settings)
        bucket = self.settings.s3.documents_bucket
        key = content_key(sha, ".jpg")
        try:
            if not self.store.exists(bucket, key):
                self.store.put(bucket, key, jpeg, content_type="image/jpeg")
        except Exception as exc:  # noqa: BLE001
            raise StoreUnavailable(f"cannot upload a page to s3://{bucket} at {self.settings.s3.endpoint}: "
                                   f"{' '.join(str(exc).split())[:160]} (check `ocrstream stack status`)") from exc
        return s3_uri(bucket, key)

    def record_for(self, image: np.ndarray, frame_number: int, timestamp_ms: int, ph: int,
                   stats: VideoStats) -> VideoFrame:
        """The :class:`~ocrstream.records.VideoFrame` of one page (uploads the JPEG when it is large)."""
        p = self.settings.producer
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, p.video_jpeg_quality])
        if not ok:
            raise ProducerError("OpenCV could not JPEG-encode a frame")
        jpeg = buf.tobytes()
        sha = hashlib.sha256(jpeg).hexdigest()
        inline, uri = jpeg, None
        if len(jpeg) > p.video_inline_max_bytes:
            inline, uri = None, self._upload(sha, jpeg)
            stats.uploaded += 1
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        return {"stream_id": self.stream_id, "business_id": self.business_id, "frame_number": frame_number,
                "event_time": timestamp_ms, "image_jpeg": inline, "image_uri": uri, "sha256": sha,
                "phash": phash_hex(ph), "sharpness": sharpness(grey), "width": int(image.shape[1]),
                "height": int(image.shape[0])}

    def run_file(self, path: str | Path) -> VideoStats:
        """Process a recorded video file from its first frame to its last (see :meth:`run`)."""
        source = FrameSource(str(path))
        try:
            return self.run(source)
        finally:
            source.close()

    def run(self, source: FrameSource, *, max_frames: int | None = None,
            on_stats: Callable[[VideoStats], None] | None = None, stats_every_s: float = 1.0) -> VideoStats:
        """Process ``source`` to its end (or ``max_frames``, or ``source.stop()``); return the counters."""
        stats = VideoStats()
        detector = PageDetector(detector_config(self.settings))
        t0 = time.monotonic()
        last_report = t0

        def delivered(rec: dict[str, Any]) -> Callable[[Any, Any], None]:
            def cb(err: Any, msg: Any) -> None:
                if err is not None:
                    stats.failed += 1
                    stats.errors.append(f"frame {rec['frame_number']}: {err.str()}")
                else:
                    stats.pages += 1
                    self.published.append({k: v for k, v in rec.items() if k != "image_jpeg"})
            return cb

        try:
            for frame in source.frames():
                stats.processed += 1
                verdict = detector.feed(frame.image, frame.number, frame.timestamp_ms)
                if verdict is Verdict.DUPLICATE:
                    stats.duplicates += 1
                elif verdict is Verdict.EMPTY:
                    stats.empty += 1
                elif verdict is Verdict.NEW_PAGE:
                    cand = detector.candidate
                    assert cand is not None
                    rec = self.record_for(cand.frame, cand.frame_number, cand.timestamp_ms, cand.phash, stats)
                    log.info("stream %s: new page at frame %d (phash %s, sharpness %.0f)",
                             self.stream_id, cand.frame_number, rec["phash"], rec["sharpness"])
                    if self.producer is not None:
                        produce(self.producer, self.topic, self.serde.encode(rec, self.topic),
                                key=self.stream_id, on_delivery=delivered(rec))
                    else:
                        stats.pages += 1
                        self.published.append({k: v for k, v in rec.items() if k != "image_jpeg"})
                if self.producer is not None:
                    self.producer.poll(0)
                now = time.monotonic()
                if on_stats is not None and now - last_report >= stats_every_s:
                    last_report = now
                    stats.frames_in, stats.dropped, stats.elapsed_s = source.frames_in, source.dropped, now - t0
                    on_stats(stats)
                if max_frames is not None and stats.processed >= max_frames:
                    source.stop()
                    break
        finally:
            stats.frames_in, stats.dropped = source.frames_in, source.dropped
            stats.elapsed_s = time.monotonic() - t0
            if self.producer is not None:
                left = flush(self.producer, self.settings.producer.flush_timeout_s)
                if left:
                    stats.failed += left
                    stats.errors.append(f"{left} pages without delivery report (is Kafka up?)")
        return stats
