"""The dependency-free media sniffer (ocrstream.media) and the stages that use it."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from ocrstream import media


def _pillow(fmt: str, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (8, 6), "white").save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize(("fmt", "mode", "expected"), [
    ("PNG", "RGB", media.PNG), ("JPEG", "RGB", media.JPEG), ("TIFF", "RGB", media.TIFF),
    ("WEBP", "RGB", media.WEBP), ("GIF", "P", media.GIF), ("BMP", "RGB", media.BMP), ("PPM", "RGB", media.PNM),
])  # fmt: skip
def test_real_images_are_named_by_their_bytes(fmt: str, mode: str, expected: str) -> None:
    data = _pillow(fmt, mode)
    assert media.sniff(data) == expected
    assert media.document_type(data) == expected
    assert not media.is_markup(expected)


def test_pdf_header_may_follow_a_little_junk_within_the_sniffed_prefix() -> None:
    assert media.sniff(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n") == media.PDF
    assert media.sniff(b"\r\n" * 100 + b"%PDF-1.4\n") == media.PDF
    assert media.sniff(b" " * media.SNIFF_BYTES + b"%PDF-1.4\n") is None  # beyond the prefix: not looked at


@pytest.mark.parametrize(("head", "expected"), [
    (b"II*\x00\x08\x00\x00\x00", media.TIFF), (b"MM\x00*\x00\x00\x00\x08", media.TIFF),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", media.HEIC), (b"\x00\x00\x00\x18ftypmif1", media.HEIC),
    (b"\x00\x00\x00\x1cftypavif", media.AVIF), (b"RIFF\x10\x00\x00\x00WEBPVP8 ", media.WEBP),
    (b"RIFF\x10\x00\x00\x00WAVEfmt ", None), (b"\x00\x00\x00\x18ftypisom", None),
])  # fmt: skip
def test_magic_numbers(head: bytes, expected: str | None) -> None:
    assert media.sniff(head) == expected


def test_heic_is_recognised_but_not_decodable() -> None:
    head = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00"
    assert media.sniff(head) == media.HEIC and media.document_type(head) is None
    assert media.describe(head) == "HEIC"


@pytest.mark.parametrize(("head", "expected"), [
    (b"<!DOCTYPE html><html><body>hi</body></html>", media.HTML),
    (b"\n\n   <HTML><script>alert(1)</script>", media.HTML),
    (b"\xef\xbb\xbf<html>", media.HTML),
    ("<html><body>x</body></html>".encode("utf-16-le"), media.HTML),
    (b"<script>fetch('/api')</script>", media.HTML),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', media.SVG),
    (b'<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x"><svg/>', media.SVG),
    (b'<?xml version="1.0"?><!DOCTYPE html><html xmlns="http://www.w3.org/1999/xhtml">', media.HTML),
    (b'<?xml version="1.0" encoding="UTF-8"?><invoice><total>3</total></invoice>', media.XML),
])  # fmt: skip
def test_markup_is_detected_for_the_refusal_path(head: bytes, expected: str) -> None:
    assert media.sniff(head) == expected
    assert media.is_markup(media.sniff(head))
    assert media.document_type(head) is None


@pytest.mark.parametrize("head", [b"", b"plain text", b"<3 not markup", b"PK\x03\x04zip", b"\x00" * 32])
def test_unknown_content_is_none(head: bytes) -> None:
    assert media.sniff(head) is None and media.document_type(head) is None
    assert media.describe(head) == ("empty" if not head else "unknown")


def test_producer_and_worker_and_api_share_the_sniffer() -> None:
    from ocr_agents.io import sniff_media_type as worker_sniff
    from serving.images import sniff_served_type
    from producers.media import sniff_media_type as producer_sniff
    from producers.media import unsupported_reason

    html = b"<html><body>x</body></html>"
    gif = _pillow("GIF", "P")
    assert worker_sniff(gif) == media.GIF and sniff_served_type(gif) == media.GIF
    assert producer_sniff(gif) is None  # producers take their own subset
    assert producer_sniff(b"\n" * 40 + b"%PDF-1.4\n") == media.PDF  # header after junk, as the worker reads it
    for sniffer in (worker_sniff, sniff_served_type, producer_sniff):
        assert sniffer(html) is None
    assert unsupported_reason(html).startswith("unsupported type (HTML content,")


def test_producers_media_does_not_load_the_ocr_stack() -> None:
    """Every module importing ``producers.media`` loads (packages, transitive repo imports) stays off cv2,
    numpy, PIL and the OCR stage."""
    from tests.support import REPO
    from tests.support.imports import imported_modules

    seen: set[str] = set()
    outside: set[str] = set()
    todo = ["producers.media"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # its packages' __init__ run too
        path = REPO.joinpath(*parts).with_suffix(".py")
        if not path.exists():
            path = REPO.joinpath(*parts, "__init__.py")
        if not path.exists():
            outside.add(parts[0])
            continue
        todo += sorted(imported_modules(path))
    assert {"producers.media", "ocrstream.media"} <= seen
    assert not outside & {"cv2", "numpy", "PIL"}, sorted(outside)
    assert not [n for n in seen if n.split(".")[0] == "ocr_agents"]
