"""Media types from content: magic bytes -> media type, with no dependency.

One sniffer for every stage that must know what a blob *is* before it trusts
it: the producers (which files they publish), the worker (what it fetched and
decodes) and the API (what it serves to a browser). The type always comes from
the bytes, never from a name or a declared ``Content-Type``.

* :func:`sniff` names what the first :data:`SNIFF_BYTES` bytes are: a raster
  image, a PDF, HEIC/AVIF, or markup (HTML, SVG, XML) — or ``None``.
* :func:`document_type` is the same answer restricted to
  :data:`DECODABLE_TYPES` (what the OCR stage can open).
* :func:`is_markup` tells the script-capable types, which are refused on every
  path that could hand them to a browser.

PDF is recognised by ``%PDF-`` anywhere in the first KiB (readers accept a
little junk before the header), every other type by its leading bytes.
"""

from __future__ import annotations

SNIFF_BYTES = 1024
"""How many leading bytes :func:`sniff` looks at (pass at least these to get a full answer)."""

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
TIFF = "image/tiff"
WEBP = "image/webp"
GIF = "image/gif"
BMP = "image/bmp"
PNM = "image/x-portable-anymap"
HEIC = "image/heic"
AVIF = "image/avif"
HTML = "text/html"
SVG = "image/svg+xml"
XML = "application/xml"

#: What the OCR stage decodes (Pillow's raster formats and PDF).
DECODABLE_TYPES: frozenset[str] = frozenset({PDF, PNG, JPEG, TIFF, WEBP, GIF, BMP, PNM})
#: Types a browser may run script in: never served or accepted as a document.
MARKUP_TYPES: frozenset[str] = frozenset({HTML, SVG, XML})

_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"II*\x00", TIFF),
    (b"MM\x00*", TIFF),
    (b"GIF87a", GIF),
    (b"GIF89a", GIF),
    (b"BM", BMP),
)
_PNM_MAGIC = frozenset({b"P1", b"P2", b"P3", b"P4", b"P5", b"P6"})
_HEIF_BRANDS: dict[bytes, str] = {
    b"heic": HEIC, b"heix": HEIC, b"hevc": HEIC, b"hevx": HEIC, b"heim": HEIC, b"heis": HEIC,
    b"mif1": HEIC, b"msf1": HEIC, b"avif": AVIF, b"avis": AVIF,
}
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<iframe", b"<title", b"<div",
                b"<a ", b"<p>", b"<p ", b"<table", b"<style", b"<meta", b"<br", b"<h1", b"<font", b"<b>", b"<!--")
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def sniff(head: bytes) -> str | None:
    """The media type of a blob from its first bytes, or ``None`` when unrecognised.

    Raster images, PDF and HEIC/AVIF by magic number; then, for text, HTML,
    SVG and other XML (after an optional BOM and leading white space,
    case-insensitive). Never raises; ``head`` may be any length.
    """
    head = bytes(head[:SNIFF_BYTES])
    if b"%PDF-" in head:
        return PDF
    for magic, media_type in _PREFIXES:
        if head.startswith(magic):
            return media_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return _HEIF_BRANDS[head[8:12]]
    if head[:2] in _PNM_MAGIC:
        return PNM
    return _sniff_markup(head)


def _sniff_markup(head: bytes) -> str | None:
    for bom in _BOMS:
        if head.startswith(bom):
            head = head[len(bom):]
            break
    text = head.replace(b"\x00", b"").lstrip().lower()  # UTF-16 markup reads as ASCII without its NULs
    if not text.startswith(b"<"):
        return None
    if text.startswith(_HTML_STARTS):
        return HTML
    if b"<svg" in text:
        return SVG
    if text.startswith((b"<?xml", b"<!doctype")):
        return HTML if b"<html" in text else XML
    return None


def document_type(head: bytes) -> str | None:
    """:func:`sniff`'s answer when it is one of :data:`DECODABLE_TYPES`, else ``None``."""
    media_type = sniff(head)
    return media_type if media_type in DECODABLE_TYPES else None


def is_markup(media_type: str | None) -> bool:
    """True for HTML, SVG and XML: content that must never reach a browser as a document."""
    return media_type in MARKUP_TYPES


def describe(head: bytes) -> str:
    """A short phrase for what ``head`` is, for refusal messages: ``"empty"``, ``"HTML"``, ``"unknown"``..."""
    if not head:
        return "empty"
    media_type = sniff(head)
    if media_type is None:
        return "unknown"
    return {HTML: "HTML", SVG: "SVG", XML: "XML", HEIC: "HEIC", AVIF: "AVIF"}.get(media_type, media_type)


__all__ = [
    "AVIF", "BMP", "DECODABLE_TYPES", "GIF", "HEIC", "HTML", "JPEG", "MARKUP_TYPES", "PDF", "PNG", "PNM",
    "SNIFF_BYTES", "SVG", "TIFF", "WEBP", "XML", "describe", "document_type", "is_markup", "sniff",
]
