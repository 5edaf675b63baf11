"""Where the bridge's notifications come from: MinIO/AWS event JSON on Kafka, or the SeaweedFS filer log.

Sources (``bridge.source``):

* ``kafka`` (production, docker-compose): AWS/MinIO S3 event JSON on the
  ``s3-events`` topic, as MinIO's Kafka notification target writes it
  (``MINIO_NOTIFY_KAFKA_*`` + ``mc event add``). Consumer group ``bridge.group``;
  offsets are committed after the batch's records were acknowledged.
* ``seaweedfs`` (the local stack): the SeaweedFS filer's metadata log, read with
  ``weed filer.meta.tail`` (SubscribeMetadata), resumed from a checkpoint file
  ``<state_dir>/bridge/seaweedfs-<bucket>.json`` (last ``tsNs`` handled).

What SeaweedFS 4.48 offers, measured (``weed mini`` as the stack runs it, Tansu broker):

* S3 bucket notifications: no. ``GetBucketNotificationConfiguration`` answers an
  empty configuration, ``PutBucketNotificationConfiguration`` is routed to
  CreateBucket (``BucketAlreadyOwnedByYou``).
* Filer ``notification.toml`` (``[notification.kafka]``, read from the working
  directory of ``weed mini``): works with Tansu (topic auto-created, 4
  partitions, key = full path) but the value is protobuf ``EventNotification``,
  and ``weed mini`` exits at start-up when the broker is unreachable ("Failed to
  initialize notification for kafka"), while the local stack must start S3
  before the broker (Tansu keeps its log in S3). Push only: the bridge would own
  no position to resume from.
* Filer metadata subscription (``weed filer.meta.tail -filer=127.0.0.1:<s3
  port + 3> -pathPrefix=/buckets/<bucket>/ -timeAgo=...``): works. One JSON
  object per change; put -> event in ~10-20 ms; creates, overwrites, deletes,
  multipart parts (under ``.uploads/``) and the final multipart entry all appear;
  the log persists across ``weed`` restarts, so ``-timeAgo`` replays from any
  past position; the tail exits (code 0) when the filer stops or cannot be
  reached, and the bridge starts it again from where it was. **Used.**
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ocrstream.errors import Permanent
from ocrstream.settings import Settings
from producers.s3events import BadEvent, Event, parse_filer_event, parse_notification

log = logging.getLogger(__name__)


@dataclass
class Notification:
    """One notification as received: where from, the raw bytes, what it parsed to.

    ``source_topic``/``partition``/``offset`` name it in dead letters: the Kafka
    position, or ``seaweedfs:<bucket>``/0/``tsNs`` for filer events. ``mark`` is
    what the source needs to checkpoint past it.
    """

    source_topic: str
    partition: int
    offset: int
    raw: bytes
    events: list[Event] = field(default_factory=list)
    error: Permanent | None = None
    mark: Any = None


class EventSource(Protocol):
    """Where notifications come from (:class:`FilerSource`, :class:`KafkaSource`)."""

    name: str
    ready: bool  # receiving (partitions assigned); idle time counts from then

    def start(self) -> None: ...
    def poll(self, max_events: int, wait_s: float) -> list[Notification]: ...
    def commit(self, handled: list[Notification]) -> None: ...
    def rewind(self) -> None: ...
    def close(self) -> None: ...


def _load_prctl() -> Callable[..., int] | None:
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not Linux
        return None


_PRCTL = _load_prctl()  # resolved before any fork: the child only calls it
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """``preexec_fn``: the child gets SIGTERM when the thread that started it dies, even by SIGKILL."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM)


def filer_address(settings: Settings) -> str:
    """``host:port`` of the SeaweedFS filer: ``bridge.filer``, or the local stack's (S3 port + 3)."""
    if settings.bridge.filer:
        return settings.bridge.filer
    from ocrstream.service_process import LOOPBACK
    from ocrstream.stack import ports_of

    return f"{LOOPBACK}:{ports_of(settings).weed_internal['filer.port']}"


def _json_objects(fd: int, stop: threading.Event) -> Iterator[dict[str, Any] | str]:
    """JSON objects (pretty-printed, back to back) read from ``fd``; other text as lines."""
    decoder = json.JSONDecoder()
    buf = ""
    raw = b""
    while True:
        if stop.is_set():
            return
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            tail = (buf + raw.decode("utf-8", "replace")).strip()
            if tail:
                yield tail[:500]
            return
        raw += chunk
        try:
            buf += raw.decode("utf-8")
            raw = b""
        except UnicodeDecodeError:
            continue  # a multi-byte character split across reads
        while True:
            buf = buf.lstrip()
            if not buf:
                break
            if buf[0] != "{":
                line, nl, rest = buf.partition("\n")
                if not nl:
                    break
                buf = rest
                yield line.strip()
                continue
            try:
                obj, end = decoder.raw_decode(buf)
            except json.JSONDecodeError:
                break  # incomplete: wait for more
            buf = buf[end:]
            yield obj


class FilerSource:
    """SeaweedFS filer metadata events of one bucket, resumable from a checkpoint file.

    Position = ``(tsNs, n)``: the filer event time in ns and how many events with
    that very ``tsNs`` were handled (several changes may share one). The tail is
    started ``-timeAgo`` 5 s before the position and everything at or before the
    position is skipped, so a restart neither loses nor repeats an event.
    """

    def __init__(self, settings: Settings, bucket: str | None = None, *,
                 start_at: str | None = None) -> None:
        self.settings = settings
        self.bucket = bucket or settings.s3.documents_bucket
        self.name = f"seaweedfs:{self.bucket}"
        self.filer = filer_address(settings)
        self.start_at = start_at or settings.bridge.start_at
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", self.bucket)
        self.checkpoint_path = settings.state_dir / "bridge" / f"seaweedfs-{safe}.json"
        self.committed: tuple[int, int] = (0, 0)
        self.ready = True
        self.last_message = ""
        self._queue: queue.Queue[Notification] = queue.Queue(maxsize=10_000)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    # -- checkpoint --------------------------------------------------------
    def _load(self) -> tuple[int, int] | None:
        try:
            doc = json.loads(self.checkpoint_path.read_text())
            return int(doc["ts_ns"]), int(doc["n"])
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            from producers.errors import ProducerError

            raise ProducerError(f"unreadable bridge checkpoint {self.checkpoint_path} ({exc}): fix or delete it "
                                "(deleting replays the bucket from bridge.start_at)") from exc

    def _save(self, position: tuple[int, int]) -> None:
        self.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.checkpoint_path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"ts_ns": position[0], "n": position[1], "filer": self.filer, "bucket": self.bucket,
                       "saved_at": time.time()}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.checkpoint_path)

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> None:
        loaded = self._load()
        if loaded is None:
            loaded = (time.time_ns(), 0) if self.start_at == "now" else (0, 0)
            self._save(loaded)
        self.committed = loaded
        self._spawn(loaded)

    def _spawn(self, position: tuple[int, int]) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(position,), name="filer-tail", daemon=True)
        self._thread.start()

    def _halt(self) -> None:
        self._stop.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = None

    def close(self) -> None:
        self._halt()

    def rewind(self) -> None:
        """Forget what was read but not committed; read again from the checkpoint."""
        self._halt()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._spawn(self.committed)

    def commit(self, handled: list[Notification]) -> None:
        marks = [n.mark for n in handled if n.mark is not None]
        if marks:
            self.committed = max(marks)
            self._save(self.committed)

    def poll(self, max_events: int, wait_s: float) -> list[Notification]:
        out: list[Notification] = []
        try:
            out.append(self._queue.get(timeout=0.5))
        except queue.Empty:
            return out
        deadline = time.monotonic() + wait_s
        while len(out) < max_events:
            try:
                out.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return out

    # -- the tail ----------------------------------------------------------
    def _run(self, position: tuple[int, int]) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                position = self._tail(position)
            except Exception:  # noqa: BLE001 - keep the subscription alive; logged with traceback
                log.exception("filer subscription failed")
            if self._stop.is_set():
                return
            if time.monotonic() - started > 30:
                backoff = 0.5
            log.warning("filer subscription at %s ended (%s); resuming in %.1fs",
                        self.filer, self.last_message or "the tail exited", backoff)
            self._stop.wait(backoff)
            backoff = min(10.0, backoff * 2)

    def _tail(self, position: tuple[int, int]) -> tuple[int, int]:
        from ocrstream.stack import weed_binary

        ts0, n0 = position
        now = time.time_ns()
        ago_ns = now if ts0 <= 0 else max(1_000_000, now - ts0 + 5_000_000_000)
        argv = [weed_binary(), "filer.meta.tail", f"-filer={self.filer}", f"-pathPrefix=/buckets/{self.bucket}/",
                f"-timeAgo={ago_ns}ns"]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                preexec_fn=_die_with_parent)
        self._proc = proc
        self.last_message = ""
        current_ts, index = -1, 0
        assert proc.stdout is not None
        try:
            for item in _json_objects(proc.stdout.fileno(), self._stop):
                if isinstance(item, str):
                    self.last_message = item[:300]
                    log.info("filer tail: %s", self.last_message)
                    continue
                raw = json.dumps(item, separators=(",", ":")).encode()
                try:
                    ts = int(item.get("tsNs") or 0)
                except (TypeError, ValueError):
                    ts = 0
                if ts <= 0:  # cannot be positioned: dead-letter it, keep the position
                    self._put(Notification(self.name, 0, max(0, position[0]), raw,
                                           error=BadEvent("filer event without a valid tsNs")))
                    continue
                if ts != current_ts:
                    current_ts, index = ts, 0
                index += 1
                if (ts, index) <= (ts0, n0):
                    continue  # handled before the restart
                note = Notification(self.name, 0, ts, raw, mark=(ts, index))
                try:
                    note.events = [parse_filer_event(item)]
                except Permanent as exc:
                    note.error = exc
                self._put(note)
                position = (ts, index)
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            proc.stdout.close()
            self._proc = None
        return position

    def _put(self, note: Notification) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(note, timeout=0.5)
                return
            except queue.Full:
                continue


class KafkaSource:
    """AWS/MinIO S3 event JSON from the ``s3-events`` topic (consumer group ``bridge.group``)."""

    def __init__(self, settings: Settings) -> None:
        from ocrstream.topics import S3_EVENTS

        self.settings = settings
        self.topic = settings.topic(S3_EVENTS.short_name)
        self.name = self.topic
        self.consumer: Any = None
        self.ready = False

    def start(self) -> None:
        from ocrstream.kafka import make_consumer
        from ocrstream.topics import S3_EVENTS, ensure_topics

        ensure_topics(self.settings, (S3_EVENTS,))
        self.consumer = make_consumer(self.settings, self.settings.bridge.group,
                                      logger=logging.getLogger("producers.librdkafka"))
        self.ready = False

        def assigned(consumer: Any, partitions: Any) -> None:
            self.ready = True

        self.consumer.subscribe([self.topic], on_assign=assigned)

    def poll(self, max_events: int, wait_s: float) -> list[Notification]:
        out: list[Notification] = []
        for msg in self.consumer.consume(num_messages=max_events, timeout=max(0.5, wait_s)):
            if msg.error() is not None:
                log.warning("s3-events consumer: %s", msg.error())
                continue
            value = msg.value() or b""
            note = Notification(msg.topic(), msg.partition(), msg.offset(), value,
                                mark=(msg.topic(), msg.partition(), msg.offset()))
            try:
                note.events = parse_notification(value)
            except Permanent as exc:
                note.error = exc
            out.append(note)
        return out

    def commit(self, handled: list[Notification]) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        last: dict[tuple[str, int], int] = {}
        for n in handled:
            topic, part, off = n.mark
            last[(topic, part)] = max(off, last.get((topic, part), -1))
        if not last:
            return
        try:
            self.consumer.commit(offsets=[TopicPartition(t, p, o + 1) for (t, p), o in last.items()],
                                 asynchronous=False)
        except KafkaException as exc:  # e.g. revoked meanwhile: the new owner reads them again
            log.warning("commit of s3-events offsets failed (they will be read again): %s", exc)

    def rewind(self) -> None:
        self.close()
        self.start()

    def close(self) -> None:
        if self.consumer is not None:
            self.consumer.close()
            self.consumer = None


def source_kind(settings: Settings) -> str:
    """``seaweedfs`` or ``kafka``: ``bridge.source``, with ``auto`` resolved by profile."""
    kind = settings.bridge.source
    if kind == "auto":
        return "seaweedfs" if settings.profile == "local" else "kafka"
    return kind


def make_source(settings: Settings, kind: str | None = None) -> EventSource:
    kind = kind or source_kind(settings)
    if kind == "seaweedfs":
        return FilerSource(settings)
    if kind == "kafka":
        return KafkaSource(settings)
    raise ValueError(f"unknown bridge source {kind!r} (seaweedfs | kafka)")
