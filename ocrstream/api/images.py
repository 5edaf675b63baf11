"""Streaming a document's original object (image/PDF) to an authorised caller.

Only the locations the pipeline itself may read are served: ``s3://`` in the
documents bucket (or ``StreamSettings.allowed_buckets``) and ``file://`` under
``Settings.file_root``. Anything else (other buckets, paths escaping the root,
http URLs) is refused with 404, so a crafted ``uri`` stored in a row cannot
turn the API into a file or S3 browser.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from ocrstream.settings import Settings

CHUNK_BYTES = 256 * 1024


class ObjectUnavailable(LookupError):
    """The object is missing or its location is not servable (-> 404)."""


@dataclass
class ObjectStream:
    """An open object: media type, size (when known), and a chunk iterator."""

    media_type: str
    size: int | None
    chunks: Iterator[bytes]
    filename: str


def _media_type(name: str, given: str | None = None) -> str:
    if given and given != "binary/octet-stream":
        return given
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def open_object(settings: Settings, uri: str) -> ObjectStream:
    """Open ``uri`` for streaming (blocking; call it from a worker thread)."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        return _open_s3(settings, parsed.netloc, parsed.path.lstrip("/"))
    if parsed.scheme == "file":
        return _open_file(settings, Path(unquote(parsed.path)))
    raise ObjectUnavailable(f"objects at {parsed.scheme or 'unknown'}:// locations are not served")


def _open_s3(settings: Settings, bucket: str, key: str) -> ObjectStream:
    from botocore.exceptions import ClientError

    from ocrstream.objectstore import ObjectStore

    allowed = {settings.s3.documents_bucket, *settings.stream.allowed_buckets}
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

    name = key.rsplit("/", 1)[-1]
    return ObjectStream(_media_type(name, resp.get("ContentType")), resp.get("ContentLength"), chunks(), name)


def _open_file(settings: Settings, path: Path) -> ObjectStream:
    root = settings.file_root
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise ObjectUnavailable(f"{path}: not found") from exc
    if not resolved.is_relative_to(root) or not resolved.is_file():
        raise ObjectUnavailable(f"{path} is outside the served file root")
    size = resolved.stat().st_size

    def chunks() -> Iterator[bytes]:
        with resolved.open("rb") as handle:
            while block := handle.read(CHUNK_BYTES):
                yield block

    return ObjectStream(_media_type(resolved.name), size, chunks(), resolved.name)
