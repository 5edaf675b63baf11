"""Streaming a document's original object (image/PDF) to an authorised caller.

Only the locations the pipeline itself may read are served: ``s3://`` in the
documents bucket (or ``fetch.allowed_buckets``) and ``file://`` under
``Settings.file_root``. Anything else (other buckets, paths escaping the root,
http URLs) is refused with 404, so a crafted ``uri`` stored in a row cannot
turn the API into a file or S3 browser.

The media type comes from the object's first bytes only (the magic numbers of
:func:`ocrstream.media.sniff`), never from the stored ``ContentType``
or the name's suffix, and only :data:`SERVED_TYPES` are served: an object
uploaded as ``text/html``, an SVG, or an ``.html`` file under the file root is
refused (:class:`UnservableContent`) however it was labelled.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from ocrstream.media import SNIFF_BYTES, sniff
from ocrstream.settings import Settings
from ocrstream.uris import parse_s3_uri

CHUNK_BYTES = 256 * 1024
#: What browsers display as an image (or hand to their PDF viewer): never script-capable types.
SERVED_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/tiff",
                          "application/pdf"})


class ObjectUnavailable(LookupError):
    """The object is missing or its location is not servable (-> 404)."""


class UnservableContent(ValueError):
    """The object's bytes are not an image or PDF (-> 415), whatever its name or stored type."""


@dataclass
class ObjectStream:
    """An open object: sniffed media type, size (when known), a chunk iterator, a file name."""

    media_type: str
    size: int | None
    chunks: Iterator[bytes]
    filename: str


def sniff_served_type(head: bytes) -> str | None:
    """The media type of ``head`` (an object's first bytes) when it is one we serve, else ``None``."""
    media_type = sniff(head)
    return media_type if media_type in SERVED_TYPES else None


def open_object(settings: Settings, uri: str) -> ObjectStream:
    """Open ``uri`` for streaming (blocking; call it from a worker thread).

    Raises :class:`ObjectUnavailable` (missing / not servable location) or
    :class:`UnservableContent` (bytes are not an image or PDF).
    """
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        try:
            bucket, key = parse_s3_uri(uri)
        except UnicodeDecodeError as exc:
            raise ObjectUnavailable(f"{uri[:200]}: the key is not UTF-8") from exc
        size, raw, name = _open_s3(settings, bucket, key)
    elif parsed.scheme == "file":
        size, raw, name = _open_file(settings, Path(unquote(parsed.path)))
    else:
        raise ObjectUnavailable(f"objects at {parsed.scheme or 'unknown'}:// locations are not served")
    head = b""
    try:
        while len(head) < SNIFF_BYTES:
            block = next(raw, b"")
            if not block:
                break
            head += block
        media_type = sniff_served_type(head)
    except BaseException:
        raw.close()
        raise
    if media_type is None:
        raw.close()
        raise UnservableContent(f"{uri}: bytes are not an image or PDF (starts with {head[:8]!r})")

    def chunks() -> Iterator[bytes]:
        try:
            if head:
                yield head
            yield from raw
        finally:
            raw.close()

    return ObjectStream(media_type, size, chunks(), name)


def read_object(settings: Settings, uri: str, max_bytes: int) -> tuple[str, bytes]:
    """``(media type, bytes)`` of a servable object of at most ``max_bytes`` (else ``ObjectUnavailable``)."""
    obj = open_object(settings, uri)
    if obj.size is not None and obj.size > max_bytes:
        obj.chunks.close()  # type: ignore[attr-defined]
        raise ObjectUnavailable(f"{uri}: {obj.size} bytes, more than {max_bytes}")
    parts: list[bytes] = []
    total = 0
    for block in obj.chunks:
        total += len(block)
        if total > max_bytes:
            obj.chunks.close()  # type: ignore[attr-defined]
            raise ObjectUnavailable(f"{uri}: more than {max_bytes} bytes")
        parts.append(block)
    return obj.media_type, b"".join(parts)


def _open_s3(settings: Settings, bucket: str, key: str) -> tuple[int | None, Iterator[bytes], str]:
    from botocore.exceptions import ClientError

    from ocrstream.objectstore import ObjectStore

    allowed = {settings.s3.documents_bucket, *settings.fetch.allowed_buckets}
    if bucket not in allowed or not key:
        raise ObjectUnavailable(f"bucket {bucket!r} is not served")
    try:
        resp = ObjectStore(settings).client.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        raise ObjectUnavailable(f"s3://{bucket}/{key}: {exc.response.get('Error', {}).get('Code')}") from exc
    body = resp["Body"]

    def chunks() -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(CHUNK_BYTES)
        finally:
            body.close()

    return resp.get("ContentLength"), chunks(), key.rsplit("/", 1)[-1]


def _open_file(settings: Settings, path: Path) -> tuple[int | None, Iterator[bytes], str]:
    root = settings.file_root
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise ObjectUnavailable(f"{path}: not found") from exc
    if not resolved.is_relative_to(root):
        raise ObjectUnavailable(f"{path} is outside the served file root")
    try:  # non-blocking and no symlink at the last step: a FIFO or device cannot stall the server
        fd = os.open(resolved, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError as exc:
        raise ObjectUnavailable(f"{path}: cannot open ({exc.strerror})") from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ObjectUnavailable(f"{path} is not a regular file")
    handle = os.fdopen(fd, "rb")

    def chunks() -> Iterator[bytes]:
        with handle:
            while block := handle.read(CHUNK_BYTES):
                yield block

    return info.st_size, chunks(), resolved.name
