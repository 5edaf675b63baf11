"""S3 "object created" notifications: parse the JSON of AWS S3, MinIO and SeaweedFS (no I/O).

What is understood (samples in ``tests/data/s3events/``):

* **AWS S3 event messages**: ``{"Records": [{"eventSource": "aws:s3", "eventName":
  "ObjectCreated:Put", "eventTime": "2024-05-01T10:00:00.000Z", "s3": {"bucket":
  {"name": ...}, "object": {"key": ..., "size": ..., "eTag": ...}}}]}``, also inside an
  SNS envelope (``{"Type": "Notification", "Message": "<that JSON>"}``, as S3 -> SNS ->
  SQS -> Kafka connectors deliver it). The ``s3:TestEvent`` message S3 sends when a
  notification configuration is saved is ignored.
* **MinIO** (its Kafka notification target, message key ``bucket/key``): ``{"EventName":
  "s3:ObjectCreated:Put", "Key": "bucket/key", "Records": [<one AWS-shaped record,
  eventSource "minio:s3">]}``.
* **SeaweedFS filer metadata events**, one JSON object per change as ``weed
  filer.meta.tail`` prints them (SeaweedFS 4.48, measured): ``{"directory":
  "/buckets/<bucket>/acme", "eventNotification": {"oldEntry": ..., "newEntry": {"name",
  "isDirectory", "attributes": {"fileSize", "mime", ...}, "extended": {...}},
  "newParentPath": ...}, "tsNs": "<ns>"}``. A new file has ``oldEntry`` null, an
  overwrite has both, a delete has ``newEntry`` null; a multipart upload writes its
  parts under ``<bucket>/.uploads/`` and then creates the final entry.

Keys in AWS/MinIO records are URL-encoded with form encoding (``red flower.jpg`` ->
``red+flower.jpg``; MinIO also encodes ``/`` as ``%2F``) and are decoded here.

Each event becomes an :class:`ObjectCreated`, an :class:`Ignored` (not an
ObjectCreated event, a directory, a folder marker, a hidden name, a key
ocrstream wrote itself) or raises a :class:`~ocrstream.deadletter.Permanent`
subclass whose message says what is wrong (:class:`BadEvent`,
:class:`UnknownBucket`, :class:`NoBusinessPrefix`, :class:`UnsafeKey`):
those are dead-lettered by the bridge.

Business id: the first key segment, ``s3://ocrstream-documents/acme/2024/receipt.jpg``
-> ``acme`` (letters, digits, ``.``, ``_``, ``-``; at most 64; starting with a letter
or digit), the file name is the last segment.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from ocrstream.errors import Permanent
from ocrstream.uris import s3_uri

BUSINESS_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_KEY_BYTES = 1024  # S3's own limit
FILER_BUCKETS = "/buckets/"  # where SeaweedFS keeps the S3 buckets in its filer namespace


class BadEvent(Permanent):
    """The notification is not valid S3 event JSON (or misses a required field)."""

    stage = "bridge"


class UnknownBucket(Permanent):
    """The event is for a bucket the pipeline does not read."""

    stage = "bridge"


class NoBusinessPrefix(Permanent):
    """The key has no ``<business>/`` prefix to take the business id from."""

    stage = "bridge"


class UnsafeKey(Permanent):
    """The key cannot be an object the pipeline may read (traversal, control characters, ...)."""

    stage = "bridge"


@dataclass(frozen=True)
class ObjectCreated:
    """An object was created (or overwritten) in ``bucket`` under ``key`` (decoded)."""

    bucket: str
    key: str
    event_name: str  # "ObjectCreated:Put", ":Copy", ":CompleteMultipartUpload", ...
    event_time_ms: int | None  # when the store finished the write, epoch ms (None: not in the event)
    size: int | None = None
    etag: str | None = None

    @property
    def uri(self) -> str:
        return s3_uri(self.bucket, self.key)


@dataclass(frozen=True)
class Ignored:
    """An event that needs no document: ``reason`` says why (logged, counted, never dead-lettered)."""

    reason: str
    bucket: str = ""
    key: str = ""


Event = ObjectCreated | Ignored


# ------------------------------------------------------------------ keys

def document_of_key(key: str, reserved_prefixes: Iterable[str] = ()) -> tuple[str, str] | Ignored:
    """``(business_id, filename)`` of an object key, or :class:`Ignored`.

    Raises :class:`UnsafeKey` or :class:`NoBusinessPrefix` (dead-lettered).
    Ignored: keys under a reserved prefix (ocrstream's own uploads), folder
    markers (``acme/``) and hidden names (a segment starting with ``.``, e.g.
    SeaweedFS's ``.uploads/`` multipart parts).
    """
    for prefix in reserved_prefixes:
        if prefix and key.startswith(prefix):
            return Ignored(f"under {prefix!r}: written by ocrstream itself (already published)", key=key)
    if not key:
        raise UnsafeKey("empty object key")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise UnsafeKey(f"object key longer than {MAX_KEY_BYTES} bytes")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in key):
        raise UnsafeKey(f"control character in object key {key[:80]!r}")
    if "\\" in key:
        raise UnsafeKey(f"backslash in object key {key[:80]!r}")
    if key.endswith("/"):
        return Ignored("folder marker (key ends with '/')", key=key)
    segments = key.split("/")
    if any(seg in (".", "..") for seg in segments):
        raise UnsafeKey(f"'.' or '..' segment in object key {key[:80]!r}")
    if "" in segments:
        raise UnsafeKey(f"empty segment (leading or double '/') in object key {key[:80]!r}")
    if any(seg.startswith(".") for seg in segments):
        return Ignored("hidden name (a segment starts with '.')", key=key)
    if len(segments) < 2:
        raise NoBusinessPrefix(f"object key {key[:80]!r} has no business prefix: "
                               "upload to s3://<bucket>/<business>/<file>")
    business = segments[0]
    if not BUSINESS_ID.fullmatch(business):
        raise UnsafeKey(f"business prefix {business[:80]!r} is not a business id "
                        "(letters, digits, '.', '_', '-'; at most 64; starting with a letter or digit)")
    return business, segments[-1]


# ------------------------------------------------------------------ AWS / MinIO JSON

def _event_time_ms(text: Any) -> int | None:
    """Epoch ms of an ``eventTime``; None when absent or not after 1970 (the object's mtime is used)."""
    if text is None or text == "":
        return None
    if not isinstance(text, str):
        raise BadEvent(f"eventTime {text!r} is not a string")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadEvent(f"eventTime {text[:40]!r} is not ISO 8601") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    ms = int(parsed.timestamp() * 1000)
    return ms if ms > 0 else None


def _optional_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def parse_record(record: Any) -> Event:
    """One ``Records[]`` entry of an AWS or MinIO event message."""
    if not isinstance(record, dict):
        raise BadEvent("a Records entry is not a JSON object")
    name = record.get("eventName")
    if not isinstance(name, str) or not name:
        raise BadEvent("record without eventName")
    short = name[3:] if name.startswith("s3:") else name
    s3 = record.get("s3")
    bucket = s3.get("bucket", {}).get("name") if isinstance(s3, dict) and isinstance(s3.get("bucket"), dict) else None
    obj = s3.get("object") if isinstance(s3, dict) else None
    raw_key = obj.get("key") if isinstance(obj, dict) else None
    if not short.startswith("ObjectCreated:"):
        return Ignored(f"{name} is not an ObjectCreated event", bucket=str(bucket or ""),
                       key=unquote_plus(raw_key) if isinstance(raw_key, str) else "")
    if not isinstance(bucket, str) or not bucket:
        raise BadEvent(f"{name} record without s3.bucket.name")
    if not isinstance(raw_key, str) or not raw_key:
        raise BadEvent(f"{name} record without s3.object.key")
    assert isinstance(obj, dict)
    etag = obj.get("eTag") or obj.get("etag")
    return ObjectCreated(bucket=bucket, key=unquote_plus(raw_key), event_name=short,
                         event_time_ms=_event_time_ms(record.get("eventTime")),
                         size=_optional_int(obj.get("size")), etag=str(etag).strip('"') if etag else None)


def parse_notification(value: bytes | str) -> list[Event]:
    """Events of one notification message (AWS, AWS in SNS, MinIO). Raises :class:`BadEvent`."""
    try:
        doc = json.loads(value)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadEvent(f"not JSON: {exc}") from None
    if isinstance(doc, dict) and doc.get("Type") == "Notification" and isinstance(doc.get("Message"), str):
        return parse_notification(doc["Message"])  # SNS envelope
    if not isinstance(doc, dict):
        raise BadEvent("a notification must be a JSON object")
    if doc.get("Event") == "s3:TestEvent":
        return [Ignored("s3:TestEvent (sent when a notification configuration is saved)",
                        bucket=str(doc.get("Bucket") or ""))]
    records = doc.get("Records")
    if not isinstance(records, list):
        raise BadEvent("no Records array (expected an AWS S3 or MinIO event message)")
    return [parse_record(r) for r in records]


# ------------------------------------------------------------------ SeaweedFS filer

def _filer_etag(entry: dict[str, Any]) -> str | None:
    ext = entry.get("extended") or {}
    tagged = ext.get("Seaweed-X-Amz-ETag") if isinstance(ext, dict) else None
    try:
        if tagged:
            return base64.b64decode(tagged).decode("ascii")
        md5 = (entry.get("attributes") or {}).get("md5")
        return base64.b64decode(md5).hex() if md5 else None
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _content_of(entry: dict[str, Any]) -> tuple[Any, ...]:
    # not fileId: the filer rewrites it ("1,02ab..." vs "" + fid) on a metadata-only update
    chunks = tuple((c.get("offset"), c.get("size"), c.get("eTag"), c.get("modifiedTsNs"))
                   for c in entry.get("chunks") or [] if isinstance(c, dict))
    attrs = entry.get("attributes") or {}
    return chunks, str(attrs.get("fileSize")), entry.get("content") or ""


def parse_filer_event(event: Any) -> Event:
    """One SeaweedFS filer metadata event (``weed filer.meta.tail`` JSON). Raises :class:`BadEvent`."""
    if not isinstance(event, dict):
        raise BadEvent("filer event is not a JSON object")
    note = event.get("eventNotification")
    directory = event.get("directory")
    if not isinstance(note, dict) or not isinstance(directory, str):
        raise BadEvent("filer event without directory/eventNotification")
    ts_ns = _optional_int(event.get("tsNs"))
    if not ts_ns or ts_ns <= 0:
        raise BadEvent(f"filer event without tsNs ({event.get('tsNs')!r})")
    new, old = note.get("newEntry"), note.get("oldEntry")
    if not isinstance(new, dict):
        return Ignored("delete (not an ObjectCreated event)")
    if new.get("isDirectory"):
        return Ignored("directory")
    name = new.get("name")
    if not isinstance(name, str) or not name:
        raise BadEvent("filer entry without name")
    parent = note.get("newParentPath") or directory
    path = f"{parent.rstrip('/')}/{name}"
    if not path.startswith(FILER_BUCKETS):
        return Ignored(f"{path} is not in a bucket")
    bucket, _, key = path[len(FILER_BUCKETS):].partition("/")
    event_name = "ObjectCreated:Put"
    if isinstance(old, dict):
        same_place = parent.rstrip("/") == directory.rstrip("/") and old.get("name") == name
        if same_place and _content_of(old) == _content_of(new):
            return Ignored("metadata update (content unchanged)", bucket=bucket, key=key)
        if not same_place:
            event_name = "ObjectCreated:Rename"
    size = _optional_int((new.get("attributes") or {}).get("fileSize"))
    return ObjectCreated(bucket=bucket, key=key, event_name=event_name, event_time_ms=ts_ns // 1_000_000,
                         size=size, etag=_filer_etag(new))
