"""The S3 bucket-notification bridge: an upload into the documents bucket becomes a ``DocumentRef``.

Any S3 client is enough to feed the pipeline (``aws s3 cp receipt.jpg
s3://ocrstream-documents/acme/receipt.jpg``, boto3 ``put_object``): the bridge
turns each "object created" event into a ``DocumentRef`` on the ``documents``
topic, business id from the first key segment (see :mod:`producers.s3events`).

Sources (``bridge.source``, :mod:`producers.bridge_sources`): ``kafka`` (MinIO/AWS S3
event JSON on the ``s3-events`` topic) or ``seaweedfs`` (the local stack's filer
metadata log).

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
``worker.known_businesses`` is set), objects too large, not a document
(``UnsupportedMedia``) or empty. S3 or broker outages are transient: the bridge
retries with capped backoff and does not move past the event.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ocrstream.deadletter import RetryPolicy, dead_letter, one_line
from ocrstream.errors import Permanent, Transient, UnknownBusiness, classify_error
from ocrstream.settings import Settings
from producers.s3events import Event, Ignored, ObjectCreated, UnknownBucket, document_of_key

from producers.bridge_sources import EventSource, Notification, make_source

log = logging.getLogger(__name__)

SOURCE_NAME = "s3-event"  # DocumentRef.source of bridged uploads
READ_CHUNK = 1 << 20


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
        self.buckets = {settings.s3.documents_bucket, *settings.fetch.allowed_buckets}
        self.reserved = tuple(settings.bridge.reserved_prefixes)
        self.known = set(settings.worker.known_businesses)
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
                                    f"{sorted(self.buckets)}; add it to OCRSTREAM_FETCH__ALLOWED_BUCKETS)")
            place = document_of_key(event.key, self.reserved)
            if isinstance(place, Ignored):
                self._ignore(Ignored(place.reason, event.bucket, event.key))
                return
            business, filename = place
            if self.known and business not in self.known:
                raise UnknownBusiness(f"unknown business {business!r} (not in OCRSTREAM_WORKER__KNOWN_BUSINESSES)")
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
    policy = RetryPolicy.from_settings(settings.retry)
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

