"""The S3 bucket-notification bridge: an upload into the documents bucket becomes a ``DocumentRef``.

Any S3 client is enough to feed the pipeline (``aws s3 cp receipt.jpg
s3://ocrstream-documents/acme/receipt.jpg``, boto3 ``put_object``): the bridge
turns each "object created" event into a ``DocumentRef`` on the ``documents``
topic, business id from the first key segment (see :mod:`producers.s3events`).

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

Delivery: **at-least-once** per upload, and **restart-safe**: a batch of events
is checkpointed (filer position / Kafka offsets) only after its DocumentRefs and
dead letters were acknowledged by the broker, so a stopped or killed bridge
resumes after the last acknowledged batch: nothing is lost; at most the events
of the unacknowledged batch are published again. Those carry the same
``document_id`` (content-addressed: sha256 of the bytes, read by the bridge), so
the sink drops them, as it drops any duplicate document. Within one run the
bridge also skips a (business, sha256) it already published (an overwrite with
the same bytes, a copy), like ``ocrstream publish`` skips duplicates.

Not bridged (counted as ignored, never dead-lettered): events that are not
ObjectCreated, directories, folder markers, hidden names (SeaweedFS's
``.uploads/`` parts), objects deleted before the bridge read them, and keys
under ``bridge.reserved_prefixes`` (``sha256/``: what ``ocrstream publish`` and
``video`` upload; they publish those documents themselves, so nothing is
processed twice). Dead-lettered (``dlq`` topic, stage ``bridge``, with the
reason): malformed notifications (``BadEvent``), unknown buckets, keys without a
business prefix or unsafe ones, unknown businesses (when
``stream.known_businesses`` is set), objects too large, not a document
(``UnsupportedMedia``) or empty. S3 or broker outages are transient: the bridge
retries with capped backoff and does not move past the event.
"""

from __future__ import annotations

import hashlib
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
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ocrstream.deadletter import RetryPolicy, dead_letter, one_line
from ocrstream.errors import Permanent, Transient, UnknownBusiness, classify_error
from ocrstream.settings import Settings
from producers.s3events import (
    BadEvent,
    Event,
    Ignored,
    ObjectCreated,
    UnknownBucket,
    document_of_key,
    parse_filer_event,
    parse_notification,
)

log = logging.getLogger(__name__)

SOURCE_NAME = "s3-event"  # DocumentRef.source of bridged uploads
READ_CHUNK = 1 << 20


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


@dataclass
class BridgeStats:
    """What the bridge did (since it started)."""

    notifications: int = 0
    published: int = 0
    duplicates: int = 0
    ignored: int = 0
    dead_letters: int = 0
    batches: int = 0

    def line(self) -> str:
        return (f"bridged {self.published} uploads, {self.duplicates} duplicates, {self.ignored} ignored, "
                f"{self.dead_letters} dead-lettered ({self.notifications} events)")


class EventSource(Protocol):
    """Where notifications come from (:class:`FilerSource`, :class:`KafkaSource`)."""

    name: str
    ready: bool  # receiving (partitions assigned); idle time counts from then

    def start(self) -> None: ...
    def poll(self, max_events: int, wait_s: float) -> list[Notification]: ...
    def commit(self, handled: list[Notification]) -> None: ...
    def rewind(self) -> None: ...
    def close(self) -> None: ...


# ------------------------------------------------------------------ the bridge

class NotReadable(Permanent):
    """The bridge's credentials may not read the object (or its bucket is gone)."""

    stage = "bridge"


class Bridge:
    """Turns notifications into ``DocumentRef``s (``documents``) or dead letters (``dlq``).

    :meth:`handle` queues the outcome of one notification and raises
    :class:`Transient` when S3 cannot be reached (nothing of that
    notification was published: handle it again); :meth:`flush` waits until
    everything queued was acknowledged by the broker.
    """

    def __init__(self, settings: Settings, store: Any | None = None) -> None:
        from ocrstream.codec import make_serde
        from ocrstream.objectstore import ObjectStore

        self.settings = settings
        self.buckets = {settings.s3.documents_bucket, *settings.stream.allowed_buckets}
        self.reserved = tuple(settings.bridge.reserved_prefixes)
        self.known = set(settings.stream.known_businesses)
        self.max_bytes = settings.ocr.max_object_bytes
        self.store = store or ObjectStore(settings)
        self.serde = make_serde("DocumentRef", settings.kafka.schema_registry_url)
        self.stats = BridgeStats()
        self.producer: Any = None
        self.topic = settings.topic("documents")
        self.dlq: Any = None
        self._errors: list[str] = []
        self._recent: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._pending: list[tuple[str, str]] = []

    def open(self) -> "Bridge":
        """Check the broker (bounded retries, then :class:`~producers.errors.BrokerUnavailable`), create topics."""
        from ocrstream.topics import DLQ, DOCUMENTS, ensure_topics
        from producers.kafka_io import connect
        from ocrstream.deadletter import DeadLetterWriter

        self.producer, self.topic = connect(self.settings, DOCUMENTS)
        ensure_topics(self.settings, (DLQ,))
        self.dlq = DeadLetterWriter(self.settings, producer=self.producer)
        return self

    def close(self) -> None:
        """Wait for outstanding acknowledgements and let go of the producer."""
        if self.producer is not None:
            from ocrstream.kafka import flush

            flush(self.producer, self.settings.producer.flush_timeout_s)
        self.producer = self.dlq = None

    # -------------------------------------------------------------- per event

    def handle(self, note: Notification) -> None:
        """Queue DocumentRefs / dead letters for ``note``; raise :class:`Transient` on S3 outages."""
        if note.error is not None:
            self._dead(note, note.error, payload=note.raw)  # bounded to an excerpt by dead_letter()
        else:
            for event in note.events:
                self._one(note, event)
        self.stats.notifications += 1

    def _one(self, note: Notification, event: Event) -> None:
        if isinstance(event, Ignored):
            self._ignore(event)
            return
        business: str | None = None
        try:
            if event.bucket not in self.buckets:
                raise UnknownBucket(f"bucket {event.bucket!r} is not read by the pipeline (reads "
                                    f"{sorted(self.buckets)}; add it to OCRSTREAM_STREAM__ALLOWED_BUCKETS)")
            place = document_of_key(event.key, self.reserved)
            if isinstance(place, Ignored):
                self._ignore(Ignored(place.reason, event.bucket, event.key))
                return
            business, filename = place
            if self.known and business not in self.known:
                raise UnknownBusiness(f"unknown business {business!r} (not in OCRSTREAM_STREAM__KNOWN_BUSINESSES)")
            read = self._read(event)
            if read is None:
                self._ignore(Ignored("object no longer exists (deleted before it was bridged)",
                                     event.bucket, event.key))
                return
            self._publish(event, business, filename, *read)
        except Transient:
            raise
        except Exception as exc:  # noqa: BLE001 - one event must not stop the bridge
            if classify_error(exc) == "transient":
                raise Transient(one_line(exc)) from exc
            if classify_error(exc) == "unknown":
                log.exception("bridge: unexpected error on s3://%s/%s (dead-lettered)", event.bucket, event.key)
            self._dead(note, exc, event=event, business=business)

    def _ignore(self, event: Ignored) -> None:
        self.stats.ignored += 1
        if event.key:
            log.info("ignored s3://%s/%s: %s", event.bucket, event.key, event.reason)
        else:
            log.debug("ignored event: %s", event.reason)

    def _read(self, event: ObjectCreated) -> tuple[str, int, str, int] | None:
        """``(sha256, size, media type, event time ms)`` of the object, streamed; None when it is gone.

        The event time is the event's, else the object's LastModified, else now.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        from ocrstream.errors import EmptyInput, ObjectTooLarge, UnsupportedMedia
        from producers.media import SNIFF_BYTES, sniff_media_type, unsupported_reason

        uri = event.uri
        try:
            resp = self.store.client.get_object(Bucket=event.bucket, Key=event.key)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code in ("NoSuchKey", "404", "NotFound"):
                return None
            if code in ("AccessDenied", "NoSuchBucket", "InvalidObjectState") or status in (401, 403):
                raise NotReadable(f"{uri}: {code or status}") from exc
            raise Transient(f"S3 error reading {uri}: {code or status}") from exc
        except BotoCoreError as exc:
            raise Transient(f"cannot read {uri}: {one_line(exc)}") from exc
        body = resp["Body"]
        try:
            size = int(resp.get("ContentLength") or 0)
            if size > self.max_bytes:
                raise ObjectTooLarge(f"{uri} is {size} bytes > limit {self.max_bytes} "
                                     "(OCRSTREAM_OCR__MAX_OBJECT_BYTES)")
            digest = hashlib.sha256()
            head = b""
            total = 0
            for chunk in body.iter_chunks(READ_CHUNK):
                if len(head) < SNIFF_BYTES:
                    head += chunk[: SNIFF_BYTES - len(head)]
                digest.update(chunk)
                total += len(chunk)
                if total > self.max_bytes:
                    raise ObjectTooLarge(f"{uri} is more than {self.max_bytes} bytes")
        except (BotoCoreError, OSError) as exc:
            raise Transient(f"reading {uri} failed: {one_line(exc)}") from exc
        finally:
            body.close()
        if total == 0:
            raise EmptyInput(f"{uri} is empty")
        media_type = sniff_media_type(head)
        if media_type is None:
            raise UnsupportedMedia(f"{uri}: {unsupported_reason(head)}")
        event_time = event.event_time_ms
        if event_time is None:
            modified = resp.get("LastModified")
            event_time = int(modified.timestamp() * 1000) if modified is not None else time.time_ns() // 1_000_000
        return digest.hexdigest(), total, media_type, event_time

    def _publish(self, event: ObjectCreated, business: str, filename: str, sha: str, size: int,
                 media_type: str, event_time_ms: int) -> None:
        from ocrstream.kafka import produce
        from producers.publish import document_ref

        ident = (business, sha)
        if ident in self._recent or ident in self._pending:
            self.stats.duplicates += 1
            log.info("duplicate %s: %s already published for %s", event.uri, sha[:12], business)
            return
        ref = document_ref(sha256=sha, business_id=business, uri=event.uri, size=size, media_type=media_type,
                           event_time_ms=event_time_ms, source=SOURCE_NAME, filename=filename)
        produce(self.producer, self.topic, self.serde.encode(ref, self.topic), key=sha, on_delivery=self._delivered)
        self.producer.poll(0)
        self._pending.append(ident)
        self.stats.published += 1
        log.info("bridged %s -> %s business=%s document_id=%s", event.uri, self.topic, business, sha[:12])

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self._errors.append(str(err))

    def _dead(self, note: Notification, exc: BaseException, *, event: ObjectCreated | None = None,
              business: str | None = None, payload: bytes | None = None) -> None:
        dl = dead_letter(source_topic=note.source_topic, source_partition=note.partition,
                         source_offset=note.offset, stage="bridge", exc=exc, business_id=business,
                         reference=event.uri if event is not None else None, payload=payload)
        self.dlq.publish(dl)
        self.stats.dead_letters += 1

    # -------------------------------------------------------------- batches

    def flush(self) -> None:
        """Wait for every queued record's acknowledgement; :class:`Transient` if any is missing."""
        from ocrstream.kafka import flush

        left = flush(self.producer, self.settings.producer.flush_timeout_s)
        errors = self._errors + list(self.dlq.errors)
        self._errors.clear()
        self.dlq.errors.clear()
        if left or errors:
            self._pending.clear()
            raise Transient(f"{left} records not acknowledged by {self.settings.kafka.bootstrap}"
                            + (f" ({errors[0]})" if errors else ""))
        limit = self.settings.bridge.dedupe_max_ids
        for ident in self._pending:
            self._recent[ident] = None
            self._recent.move_to_end(ident)
        self._pending.clear()
        while len(self._recent) > limit:
            self._recent.popitem(last=False)

    def forget_pending(self) -> None:
        """Drop the not-yet-acknowledged batch from the duplicate index (it will be handled again)."""
        self._pending.clear()


# ------------------------------------------------------------------ sources

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
    from ocrstream.stack import LOOPBACK, ports_of

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


# ------------------------------------------------------------------ the loop

def run_bridge(settings: Settings, *, stop: threading.Event, source: EventSource | None = None,
               on_batch: Callable[[BridgeStats], None] | None = None,
               idle_exit_s: float | None = None) -> BridgeStats:
    """Bridge notifications until ``stop`` is set (or ``idle_exit_s`` without any); returns the counts.

    Per batch (up to ``bridge.batch_max`` notifications, ``bridge.batch_wait_ms``):
    handle each in order (S3 outages retried with backoff, in place), wait for
    the broker's acknowledgements, then checkpoint the source. A failed
    acknowledgement rewinds the source to its checkpoint (the batch is handled
    again). On ``stop`` the batch in hand is finished and checkpointed first.
    """
    b = settings.bridge
    bridge = Bridge(settings).open()
    source = source or make_source(settings)
    policy = RetryPolicy.from_settings(settings.stream)
    source.start()
    log.info("bridge: %s -> %s", source.name, bridge.topic)
    idle_since = time.monotonic()
    try:
        while not stop.is_set():
            batch = source.poll(b.batch_max, b.batch_wait_ms / 1000.0)
            if not batch:
                if not source.ready:
                    idle_since = time.monotonic()
                elif idle_exit_s is not None and time.monotonic() - idle_since > idle_exit_s:
                    break
                continue
            idle_since = time.monotonic()
            handled: list[Notification] = []
            for note in batch:
                if not _handle_with_retry(bridge, note, policy, stop):
                    break  # stopped while S3 was down: checkpoint what was done
                handled.append(note)
            try:
                bridge.flush()
            except Transient as exc:
                log.warning("bridge: %s; reading the batch again from the checkpoint", exc)
                source.rewind()
                stop.wait(policy.delay_s(1))
                continue
            source.commit(handled)
            bridge.stats.batches += 1
            if on_batch is not None:
                on_batch(bridge.stats)
    finally:
        source.close()
        bridge.close()
    return bridge.stats


def _handle_with_retry(bridge: Bridge, note: Notification, policy: RetryPolicy, stop: threading.Event) -> bool:
    attempt = 0
    while True:
        try:
            bridge.handle(note)
            return True
        except Transient as exc:
            attempt += 1
            delay = policy.delay_s(attempt)
            log.warning("bridge: %s (attempt %d), retrying in %.1fs", exc, attempt, delay)
            if stop.wait(delay):
                return False

