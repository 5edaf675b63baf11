"""Document media types: which files the pipeline accepts, by content.

The type is decided from the first bytes (magic numbers), never from the name
alone: a ``.png`` that is not a PNG is rejected with a reason.
"""

from __future__ import annotations

from ocrstream import media
from ocrstream.media import SNIFF_BYTES

__all__ = ["DOCUMENT_SUFFIXES", "SNIFF_BYTES", "SUFFIX_FOR_TYPE", "is_document_name", "sniff_media_type",
           "unsupported_reason"]

DOCUMENT_SUFFIXES: dict[str, str] = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".pdf": "application/pdf",
}

SUFFIX_FOR_TYPE: dict[str, str] = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/tiff": ".tif",
    "image/webp": ".webp",
    "image/bmp": ".bmp",
    "application/pdf": ".pdf",
}


def sniff_media_type(head: bytes) -> str | None:
    """Media type of a document from its first bytes, or ``None`` when the pipeline does not take it.

    The magic numbers are :func:`ocrstream.media.sniff`'s (the one sniffer of
    every stage); producers accept the subset listed in ``SUFFIX_FOR_TYPE``.
    Pass the first :data:`~ocrstream.media.SNIFF_BYTES` bytes (a PDF header may
    sit after a little junk).
    """
    media_type = media.document_type(head)
    return media_type if media_type in SUFFIX_FOR_TYPE else None


def is_document_name(name: str) -> bool:
    """True when a file name has a document suffix (used when walking directories)."""
    lower = name.lower()
    return not lower.startswith(".") and any(lower.endswith(s) for s in DOCUMENT_SUFFIXES)


def unsupported_reason(head: bytes) -> str:
    """One-line reason for a file :func:`sniff_media_type` rejected."""
    if not head:
        return "empty file"
    what = media.describe(head)
    found = "" if what == "unknown" else f"{what} content, "
    return f"unsupported type ({found}expected PNG, JPEG, TIFF, WebP, BMP or PDF content)"
