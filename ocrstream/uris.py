"""``s3://`` object URIs: one way to write them and one way to read them.

An S3 key is any UTF-8 string; in a URI, ``%``, ``#`` and ``?`` would be read as an escape,
a fragment and a query. :func:`s3_uri` percent-encodes exactly those three (spaces and
non-ASCII stay as they are: the URIs stay readable in logs and the API) and
:func:`parse_s3_uri` percent-decodes the path, so ``parse_s3_uri(s3_uri(b, k)) == (b, k)``
for every key. Producers, the bridge and the video publisher build URIs with the first;
the fetch stage and the API's image route read them with the second, so a document that
was OCR'd is also the one whose page is shown.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit


def s3_uri(bucket: str, key: str) -> str:
    """``s3://bucket/key`` with ``%``, ``#`` and ``?`` in ``key`` percent-encoded."""
    return f"s3://{bucket}/" + key.replace("%", "%25").replace("#", "%23").replace("?", "%3F")


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``(bucket, key)`` of an ``s3://`` URI, the key percent-decoded (also takes fully encoded keys).

    Raises ``ValueError`` for another scheme and ``UnicodeDecodeError`` for an escape that is not UTF-8.
    """
    parts = urlsplit(uri)
    if parts.scheme.lower() != "s3":
        raise ValueError(f"not an s3:// URI: {uri[:200]!r}")
    return parts.netloc, unquote(parts.path.lstrip("/"), errors="strict")


__all__ = ["parse_s3_uri", "s3_uri"]
