"""Document producer: upload files to the object store, publish ``DocumentRef``s.

Inputs (:func:`discover`) are local files, directories (walked recursively;
only files with a document suffix are taken, others are counted as ignored)
and ``s3://bucket/prefix`` (objects already in a bucket are referenced where
they are, not copied).

For each document (:class:`DocumentPublisher`):

1. read the bytes, decide the media type from the content (PNG, JPEG, TIFF,
   WebP, BMP, PDF; anything else fails with a reason), hash them:
   ``document_id = sha256`` of the content;
2. local files are uploaded to ``s3://<documents bucket>/sha256/<xx>/<sha><ext>``
   (content-addressed: the same bytes always land on the same key, an
   existing key is not uploaded again);
3. a ``DocumentRef`` is produced to the ``documents`` topic, key
   ``document_id``, by an idempotent ``acks=all`` producer.

**Published** means the broker acknowledged the record (delivery report
without error). **Skipped as duplicate** means the document id is

* already recorded in the publish ledger (``<state_dir>/producers/``, one
  line per *acknowledged* document per topic, see :mod:`producers.ledger`)
  **and** its object is still in the bucket, or
* a second copy of a document met earlier in the same run.

A ledger entry whose object was deleted from the bucket is uploaded and
published again. Delivery is at-least-once: a crash between the broker's
acknowledgement and the ledger write publishes that document again on the next
run; consumers de-duplicate on ``document_id``. **Failed** documents carry a
one-line reason (unreadable, empty, unsupported type, too large, upload or
delivery error) and make the command exit non-zero after the summary.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from ocrstream.codec import make_serde
from ocrstream.objectstore import ObjectStore, content_key
from ocrstream.records import DocumentRef
from ocrstream.settings import Settings
from ocrstream.topics import DOCUMENTS
from ocrstream.uris import s3_uri
from producers.errors import ProducerError, StoreUnavailable
from ocrstream.kafka import flush, produce
from producers.kafka_io import connect
from producers.ledger import PublishLedger, ledger_path
from producers.media import (
    DOCUMENT_SUFFIXES,
    SNIFF_BYTES,
    SUFFIX_FOR_TYPE,
    is_document_name,
    sniff_media_type,
    unsupported_reason,
)

log = logging.getLogger(__name__)

SUPPORTED_HINT = ", ".join(sorted({f"*{s}" for s in DOCUMENT_SUFFIXES}))


@dataclass(frozen=True)
class Candidate:
    """One document to publish: a local file or an existing S3 object."""

    name: str  # for messages: the path or s3:// URI
    path: Path | None = None
    bucket: str | None = None
    key: str | None = None
    size: int = 0
    mtime_ns: int = 0  # file mtime / object LastModified, ns since the epoch


@dataclass
class PublishSummary:
    """Outcome of publishing a batch of candidates."""

    published: int = 0
    duplicates: int = 0
    ignored: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    bytes_published: int = 0
    published_ids: list[str] = field(default_factory=list)

    def merge(self, other: "PublishSummary") -> None:
        self.published += other.published
        self.duplicates += other.duplicates
        self.ignored += other.ignored
        self.failed.extend(other.failed)
        self.bytes_published += other.bytes_published
        self.published_ids.extend(other.published_ids)


@dataclass
class _Prepared:
    cand: Candidate
    sha256: str = ""
    size: int = 0
    media_type: str = ""
    uri: str = ""
    bucket: str = ""
    key: str = ""
    duplicate: bool = False
    error: str = ""


# ------------------------------------------------------------------ discovery

def _s3_error(exc: Exception, settings: Settings, what: str) -> StoreUnavailable:
    if isinstance(exc, EndpointConnectionError):
        return StoreUnavailable(f"cannot reach S3 at {settings.s3.endpoint}: start it with "
                                f"`ocrstream stack up` or pass --s3-endpoint URL")
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket", "NotFound"):
            return StoreUnavailable(f"{what} does not exist: check the name, or create it "
                                    f"(`ocrstream stack up` creates the documents bucket)")
        if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return StoreUnavailable(f"access to {what} denied ({code}): check OCRSTREAM_S3__ACCESS_KEY/SECRET_KEY")
        return StoreUnavailable(f"S3 error on {what}: {code} {exc.response.get('Error', {}).get('Message', '')}".strip())
    return StoreUnavailable(f"S3 error on {what}: {' '.join(str(exc).split())[:200]}")


def _split_s3(uri: str) -> tuple[str, str]:
    rest = uri[len("s3://"):]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ProducerError(f"bad S3 URI {uri!r}: expected s3://bucket/prefix")
    return bucket, prefix


def discover(inputs: Iterable[str], store: ObjectStore | None = None) -> tuple[list[Candidate], int]:
    """Expand files, directories and ``s3://`` prefixes into candidates.

    Returns ``(candidates, ignored)`` where ``ignored`` counts files in walked
    directories / prefixes without a document suffix. Raises
    :class:`ProducerError` for a path that does not exist, a directory or prefix
    holding no document, or a bucket that cannot be listed.
    """
    out: list[Candidate] = []
    ignored = 0
    for raw in inputs:
        if raw.startswith("s3://"):
            if store is None:
                raise ProducerError("s3:// inputs need an object store")
            found, skipped = _discover_s3(raw, store)
            out.extend(found)
            ignored += skipped
            continue
        path = Path(raw).expanduser()
        if path.is_dir():
            found_here = 0
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    fp = Path(root) / name
                    if not is_document_name(name):
                        ignored += 1
                        continue
                    try:
                        st = fp.stat()
                    except OSError as exc:
                        out.append(Candidate(name=str(fp), path=fp.resolve()))
                        log.debug("stat %s: %s", fp, exc)
                        continue
                    out.append(Candidate(name=str(fp), path=fp.resolve(), size=st.st_size, mtime_ns=st.st_mtime_ns))
                    found_here += 1
            if not found_here:
                raise ProducerError(f"no documents in directory {path} (looked for {SUPPORTED_HINT}): "
                                    f"check the path or add files")
        elif path.exists():
            st = path.stat()
            out.append(Candidate(name=str(path), path=path.resolve(), size=st.st_size, mtime_ns=st.st_mtime_ns))
        else:
            raise ProducerError(f"no such file or directory: {raw}")
    return out, ignored


def _discover_s3(uri: str, store: ObjectStore) -> tuple[list[Candidate], int]:
    bucket, prefix = _split_s3(uri)
    try:
        store.check_bucket(bucket)
        paginator = store.client.get_paginator("list_objects_v2")
        objs = [o for page in paginator.paginate(Bucket=bucket, Prefix=prefix) for o in page.get("Contents", [])]
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error(exc, store.settings, f"bucket {bucket}") from exc
    out: list[Candidate] = []
    ignored = 0
    for o in sorted(objs, key=lambda o: o["Key"]):
        if not is_document_name(o["Key"].rsplit("/", 1)[-1]):
            ignored += 1
            continue
        mtime_ns = int(o["LastModified"].timestamp() * 1e9) if o.get("LastModified") else 0
        out.append(Candidate(name=s3_uri(bucket, o["Key"]), bucket=bucket, key=o["Key"],
                             size=int(o.get("Size", 0)), mtime_ns=mtime_ns))
    if not out:
        raise ProducerError(f"no documents under {uri} (looked for {SUPPORTED_HINT}): check the prefix")
    return out, ignored


# ------------------------------------------------------------------ publisher

def document_ref(*, sha256: str, business_id: str, uri: str, size: int, media_type: str, event_time_ms: int,
                 source: str, filename: str | None, presigned_url: str | None = None) -> DocumentRef:
    """A :class:`~ocrstream.records.DocumentRef` for content with digest ``sha256``.

    Content-addressed: ``document_id`` is the sha256, so the same bytes are the
    same document however they arrived (``publish``, ``--watch``, the S3 bridge).
    """
    return {
        "document_id": sha256,
        "business_id": business_id,
        "uri": uri,
        "sha256": sha256,
        "size_bytes": size,
        "media_type": media_type,
        "event_time": event_time_ms,
        "source": source,
        "presigned_url": presigned_url,
        "filename": filename,
        "published_at": int(time.time() * 1000),
    }


def mtime_event_time(cand: Candidate) -> int:
    """Default event time: the file's mtime / the object's LastModified, epoch ms."""
    return cand.mtime_ns // 1_000_000 if cand.mtime_ns else int(time.time() * 1000)


class DocumentPublisher:
    """Publishes candidates for one business; use as a context manager.

    ``event_time`` maps a candidate to its event time (epoch ms; default
    :func:`mtime_event_time`). ``on_progress(outcome, name, detail)`` is
    called once per candidate with outcome ``published``, ``duplicate`` or
    ``failed`` (from the thread calling :meth:`publish`).
    """

    def __init__(self, settings: Settings, business_id: str, *, source: str = "upload",
                 presign: bool = False, event_time: Callable[[Candidate], int] | None = None,
                 on_progress: Callable[[str, str, str], None] | None = None) -> None:
        if not business_id:
            raise ProducerError("a business id is required: pass --business ID")
        self.settings = settings
        self.business_id = business_id
        self.source = source
        self.presign = presign
        self.event_time = event_time or mtime_event_time
        self.on_progress = on_progress
        self.bucket = settings.s3.documents_bucket
        self.store = ObjectStore(settings)
        self.serde = make_serde("DocumentRef", settings.kafka.schema_registry_url)
        self.producer: Any = None
        self.topic = settings.topic(DOCUMENTS.short_name)
        self.ledger: PublishLedger | None = None

    def __enter__(self) -> "DocumentPublisher":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Check the bucket and the broker (bounded retries), open the ledger."""
        try:
            self.store.check_bucket(self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise _s3_error(exc, self.settings, f"documents bucket {self.bucket}") from exc
        self.producer, self.topic = connect(self.settings, DOCUMENTS)
        self.ledger = PublishLedger(ledger_path(self.settings, self.topic))

    def close(self) -> None:
        if self.producer is not None:
            flush(self.producer, self.settings.producer.flush_timeout_s)
        if self.ledger is not None:
            self.ledger.close()

    # -------------------------------------------------------------- per file

    def _prepare(self, cand: Candidate) -> _Prepared:
        """Read, type, hash and (local files) upload one candidate. Runs in a worker thread."""
        prep = _Prepared(cand)
        limit = self.settings.ocr.max_object_bytes
        try:
            if cand.path is not None:
                size = cand.path.stat().st_size
                if size > limit:
                    prep.error = f"too large ({size} bytes > {limit})"
                    return prep
                data = cand.path.read_bytes()
            else:
                assert cand.bucket is not None and cand.key is not None
                if cand.size > limit:
                    prep.error = f"too large ({cand.size} bytes > {limit})"
                    return prep
                data = self.store.get(cand.bucket, cand.key)
        except OSError as exc:
            prep.error = f"cannot read: {exc.strerror or exc}"
            return prep
        except Exception as exc:  # noqa: BLE001 - S3 errors, reported per file
            prep.error = f"cannot read: {' '.join(str(exc).split())[:160]}"
            return prep
        media_type = sniff_media_type(data[:SNIFF_BYTES])
        if media_type is None:
            prep.error = unsupported_reason(data[:SNIFF_BYTES])
            return prep
        prep.media_type = media_type
        prep.size = len(data)
        prep.sha256 = hashlib.sha256(data).hexdigest()
        if cand.path is not None:
            prep.bucket, prep.key = self.bucket, content_key(prep.sha256, SUFFIX_FOR_TYPE[media_type])
        else:
            prep.bucket, prep.key = cand.bucket or "", cand.key or ""
        prep.uri = s3_uri(prep.bucket, prep.key)
        try:
            in_store = self.store.exists(prep.bucket, prep.key)
            assert self.ledger is not None
            if in_store and prep.sha256 in self.ledger:
                prep.duplicate = True
                return prep
            if prep.sha256 in self.ledger:
                log.warning("%s was published before but its object is gone: uploading again", cand.name)
            if not in_store and cand.path is not None:
                self.store.put(prep.bucket, prep.key, data, content_type=media_type)
            elif not in_store:
                prep.error = f"object {prep.uri} vanished while publishing"
        except Exception as exc:  # noqa: BLE001 - reported per file
            prep.error = f"upload to {prep.uri} failed: {' '.join(str(exc).split())[:160]}"
        return prep

    def _record(self, prep: _Prepared) -> dict[str, Any]:
        presigned = None
        if self.presign:
            presigned = self.store.presign_get(prep.bucket, prep.key, self.settings.producer.presign_expires_s)
        name = prep.cand.path.name if prep.cand.path is not None else prep.cand.key.rsplit("/", 1)[-1]  # type: ignore[union-attr]
        return document_ref(sha256=prep.sha256, business_id=self.business_id, uri=prep.uri, size=prep.size,
                            media_type=prep.media_type, event_time_ms=int(self.event_time(prep.cand)),
                            source=self.source, filename=name, presigned_url=presigned)

    # -------------------------------------------------------------- batch

    def publish(self, candidates: Iterable[Candidate]) -> PublishSummary:
        """Publish ``candidates`` in order and wait for every delivery report.

        Hashing and uploads run in ``producer.upload_threads`` threads with a
        bounded number of documents in flight (memory stays bounded).
        """
        if self.producer is None or self.ledger is None:
            raise RuntimeError("DocumentPublisher.publish() before open()")
        summary = PublishSummary()
        run_ids: set[str] = set()
        pending: dict[int, _Prepared] = {}
        lock = threading.Lock()
        counter = iter(range(1 << 62))

        def report(outcome: str, name: str, detail: str = "") -> None:
            if self.on_progress is not None:
                self.on_progress(outcome, name, detail)

        def delivered(seq: int) -> Callable[[Any, Any], None]:
            def cb(err: Any, msg: Any) -> None:
                with lock:
                    prep = pending.pop(seq, None)
                if prep is None:
                    return
                if err is not None:
                    reason = f"not acknowledged by the broker: {err.str()}"
                    summary.failed.append((prep.cand.name, reason))
                    run_ids.discard(prep.sha256)
                    report("failed", prep.cand.name, reason)
                    return
                assert self.ledger is not None
                self.ledger.record(prep.sha256, prep.uri, prep.cand.path, prep.cand.size, prep.cand.mtime_ns)
                summary.published += 1
                summary.bytes_published += prep.size
                summary.published_ids.append(prep.sha256)
                report("published", prep.cand.name, prep.uri)
            return cb

        def handle(prep: _Prepared) -> None:
            if prep.error:
                summary.failed.append((prep.cand.name, prep.error))
                report("failed", prep.cand.name, prep.error)
                return
            if prep.duplicate or prep.sha256 in run_ids:
                summary.duplicates += 1
                report("duplicate", prep.cand.name, prep.sha256)
                return
            run_ids.add(prep.sha256)
            try:
                value = self.serde.encode(self._record(prep), self.topic)
            except Exception as exc:  # noqa: BLE001 - e.g. presign failure
                summary.failed.append((prep.cand.name, f"cannot build DocumentRef: {exc}"))
                report("failed", prep.cand.name, str(exc))
                return
            seq = next(counter)
            with lock:
                pending[seq] = prep
            produce(self.producer, self.topic, value, key=prep.sha256, on_delivery=delivered(seq))
            self.producer.poll(0)

        threads = self.settings.producer.upload_threads
        window: deque[Future[_Prepared]] = deque()
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="publish") as pool:
            for cand in candidates:
                window.append(pool.submit(self._prepare, cand))
                if len(window) >= 2 * threads:
                    handle(window.popleft().result())
            while window:
                handle(window.popleft().result())
        left = flush(self.producer, self.settings.producer.flush_timeout_s)
        if left:
            with lock:
                stuck = list(pending.values())
                pending.clear()
            for prep in stuck:
                reason = (f"no delivery report within {self.settings.producer.flush_timeout_s:.0f}s "
                          f"(is Kafka at {self.settings.kafka.bootstrap} up?)")
                summary.failed.append((prep.cand.name, reason))
                report("failed", prep.cand.name, reason)
        return summary


# ------------------------------------------------------------------ watch

def iter_document_files(directory: Path) -> Iterator[Path]:
    """Files with a document suffix under ``directory`` (recursive, hidden entries skipped)."""
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if is_document_name(name):
                yield Path(root) / name


def watch_directory(publisher: DocumentPublisher, directory: Path, *, stop: threading.Event,
                    interval_s: float | None = None, settle_s: float | None = None,
                    on_batch: Callable[[PublishSummary], None] | None = None) -> PublishSummary:
    """Publish each new file in ``directory`` once, until ``stop`` is set.

    A file is taken when its (size, mtime) has not changed for ``settle_s``
    seconds (so half-written files are not published). Files already in the
    ledger (same path, size and mtime) are skipped without being read, so a
    restarted watcher republishes nothing; a file with new content is a new
    document. Returns the cumulative summary.
    """
    p = publisher.settings.producer
    interval = p.watch_interval_s if interval_s is None else interval_s
    settle = p.watch_settle_s if settle_s is None else settle_s
    if not directory.is_dir():
        raise ProducerError(f"cannot watch {directory}: not a directory (create it or fix the path)")
    assert publisher.ledger is not None
    total = PublishSummary()
    handled: set[tuple[str, int, int]] = set()
    first_seen: dict[tuple[str, int, int], float] = {}
    while not stop.is_set():
        now = time.monotonic()
        ready: list[Candidate] = []
        current: set[tuple[str, int, int]] = set()
        for fp in iter_document_files(directory):
            try:
                st = fp.stat()
            except OSError:
                continue
            ident = (str(fp.resolve()), st.st_size, st.st_mtime_ns)
            if ident in handled or publisher.ledger.knows_file(Path(ident[0]), ident[1], ident[2]):
                continue
            current.add(ident)
            seen = first_seen.setdefault(ident, now)
            if now - seen >= settle:
                ready.append(Candidate(name=str(fp), path=Path(ident[0]), size=st.st_size, mtime_ns=st.st_mtime_ns))
        for ident in list(first_seen):
            if ident not in current:
                del first_seen[ident]
        if ready:
            batch = publisher.publish(ready)
            for c in ready:
                ident = (str(c.path), c.size, c.mtime_ns)
                handled.add(ident)
                first_seen.pop(ident, None)
            total.merge(batch)
            if on_batch is not None:
                on_batch(batch)
        stop.wait(interval)
    return total
