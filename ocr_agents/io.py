"""Input handling: validate bytes, decode images, open PDFs page by page.

Nothing here runs a model. :func:`open_document` checks everything that can
be checked cheaply and up front (size, format, image dimensions from the header,
PDF password/structure, page count) and raises a typed
:class:`~ocrstream.errors.OcrInputError`; :meth:`Document.pages` then yields
pages lazily, so a long PDF never holds all its bitmaps at once.

Images: PNG, JPEG, TIFF (multi-page), BMP, GIF, WebP, PNM; EXIF orientation is
applied. PDFs (pypdfium2): a page whose text layer is usable gives that text
(as OCRmyPDF's ``--skip-text`` does) plus a rendering for classification; other
pages are rendered for OCR at ``dpi``.
"""

from __future__ import annotations

import io
import re
import unicodedata
import warnings
from dataclasses import dataclass
from typing import Iterator

import cv2
import numpy as np
from PIL import Image, ImageOps

from ocr_agents.lines import TextBox
from ocrstream.errors import (
    CorruptImage,
    CorruptPdf,
    EmptyInput,
    EncryptedPdf,
    ImageTooLarge,
    ObjectTooLarge,
    TooManyPages,
    UnsupportedMedia,
)
from ocrstream.media import PDF as PDF_MEDIA_TYPE
from ocrstream.media import document_type as sniff_media_type

# Pillow plugins we accept; restricting them also restricts the parser attack surface.
IMAGE_FORMATS = ("PNG", "JPEG", "TIFF", "BMP", "GIF", "WEBP", "PPM")
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True, slots=True)
class Limits:
    """Input limits (see ``OcrSettings``): bytes, decoded pixels per page, pages, PDF dpi."""

    max_object_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 60_000_000
    max_pages: int = 50
    pdf_dpi: int = 200


@dataclass(slots=True)
class SourcePage:
    """One decoded page.

    ``image`` is BGR ``uint8`` (H x W x 3), upright as the file says (EXIF or
    PDF ``/Rotate`` applied). ``text_layer`` holds the boxes of a usable PDF
    text layer in ``image`` pixel coordinates, or ``None`` when the page must be
    OCR'd.
    """

    index: int
    image: np.ndarray
    text_layer: list[TextBox] | None = None


class Document:
    """A validated input; iterate :meth:`pages` once. Use as a context manager or call :meth:`close`."""

    def __init__(self, media_type: str, page_count: int, pages: Iterator[SourcePage], closer=None) -> None:
        self.media_type = media_type
        self.page_count = page_count
        self._pages = pages
        self._closer = closer

    def pages(self) -> Iterator[SourcePage]:
        """Pages in order (lazily decoded or rendered)."""
        return self._pages

    def close(self) -> None:
        """Release the underlying file handles (idempotent)."""
        if self._closer is not None:
            self._closer()
            self._closer = None

    def __enter__(self) -> "Document":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_document(
    data: bytes,
    *,
    media_type: str | None = None,
    filename: str | None = None,
    limits: Limits = Limits(),
) -> Document:
    """Validate ``data`` and open it as an image or a PDF.

    ``media_type`` and ``filename`` are hints used only in error messages: the
    bytes decide the format. Raises :class:`EmptyInput`, :class:`ObjectTooLarge`,
    :class:`UnsupportedMedia`, :class:`CorruptImage`, :class:`ImageTooLarge`,
    :class:`EncryptedPdf`, :class:`CorruptPdf` or :class:`TooManyPages`.
    """
    if not data or not data.strip():
        raise EmptyInput("input is empty (0 bytes)" if not data else "input holds only whitespace")
    if len(data) > limits.max_object_bytes:
        raise ObjectTooLarge(f"input is {len(data)} bytes, limit is {limits.max_object_bytes}")
    sniffed = sniff_media_type(data)
    if sniffed is None:
        hint = ", ".join(x for x in (filename and f"name {filename!r}", media_type and f"declared {media_type}") if x)
        raise UnsupportedMedia(
            f"bytes are not a supported image or PDF{f' ({hint})' if hint else ''}; starts with {data[:8]!r}"
        )
    if sniffed == PDF_MEDIA_TYPE:
        return _open_pdf(data, limits)
    return _open_image(data, sniffed, limits)


# --------------------------------------------------------------------------- images


def _open_image(data: bytes, media_type: str, limits: Limits) -> Document:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)  # header only, no pixels
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own header check (its limit is above ours) fired first.
        m = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{m.group(1)} pixels" if m else "too many pixels"
        raise ImageTooLarge(f"{media_type} header gives {size}, limit is {limits.max_pixels} pixels") from exc
    except Exception as exc:  # Pillow raises many types for broken headers
        raise CorruptImage(f"cannot read {media_type} header: {exc}") from exc
    width, height = im.size
    if width <= 0 or height <= 0:
        raise CorruptImage(f"{media_type} header gives an empty size {width}x{height}")
    if width * height > limits.max_pixels:
        raise ImageTooLarge(f"{media_type} image is {width}x{height} pixels, limit is {limits.max_pixels} pixels")
    # Only TIFF holds multi-page documents; for animations (GIF, APNG, WebP) the
    # first frame is the document.
    n_frames = int(getattr(im, "n_frames", 1) or 1) if media_type == "image/tiff" else 1
    if n_frames > limits.max_pages:
        raise TooManyPages(f"{media_type} has {n_frames} pages, limit is {limits.max_pages}")
    first = _decode_frame(im, 0, media_type, limits)  # decode errors surface here, at open time

    def frames() -> Iterator[SourcePage]:
        yield SourcePage(0, first)
        for i in range(1, n_frames):
            yield SourcePage(i, _decode_frame(im, i, media_type, limits))

    return Document(media_type, n_frames, frames(), closer=im.close)


def _decode_frame(im: Image.Image, index: int, media_type: str, limits: Limits) -> np.ndarray:
    try:
        if index:
            im.seek(index)
            if im.size[0] * im.size[1] > limits.max_pixels:
                raise ImageTooLarge(f"{media_type} page {index} is {im.size[0]}x{im.size[1]} pixels")
        im.load()
        frame = im
        if im.getexif().get(_EXIF_ORIENTATION, 1) != 1:
            frame = ImageOps.exif_transpose(im)
        return to_bgr(frame)
    except ImageTooLarge:
        raise
    except Exception as exc:  # truncated data, bad chunks, CRC errors ...
        raise CorruptImage(f"cannot decode {media_type} (page {index}): {exc}") from exc


def to_bgr(im: Image.Image) -> np.ndarray:
    """A Pillow image as a BGR ``uint8`` array; transparency is composited on white."""
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        im = Image.fromarray(((arr - lo) * (255.0 / max(hi - lo, 1.0))).astype(np.uint8))
    if im.mode == "L":
        return cv2.cvtColor(np.asarray(im), cv2.COLOR_GRAY2BGR)
    if im.mode != "RGB":
        im = im.convert("RGB")
    return cv2.cvtColor(np.asarray(im), cv2.COLOR_RGB2BGR)


# --------------------------------------------------------------------------- PDFs


def _open_pdf(data: bytes, limits: Limits) -> Document:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == pdfium.raw.FPDF_ERR_PASSWORD or "password" in str(exc).lower():
            raise EncryptedPdf("PDF is encrypted and needs a password") from exc
        raise CorruptPdf(f"cannot parse PDF: {exc}") from exc
    try:
        n_pages = len(pdf)
    except Exception as exc:  # pragma: no cover - pdfium returns 0 rather than failing
        pdf.close()
        raise CorruptPdf(f"cannot count PDF pages: {exc}") from exc
    if n_pages <= 0:
        pdf.close()
        raise CorruptPdf("PDF has no pages")
    if n_pages > limits.max_pages:
        pdf.close()
        raise TooManyPages(f"PDF has {n_pages} pages, limit is {limits.max_pages}")

    def pages() -> Iterator[SourcePage]:
        for i in range(n_pages):
            yield _pdf_page(pdf, i, limits)

    return Document(PDF_MEDIA_TYPE, n_pages, pages(), closer=pdf.close)


def _pdf_page(pdf, index: int, limits: Limits) -> SourcePage:
    import pypdfium2 as pdfium

    try:
        page = pdf[index]
        try:
            w_pt, h_pt = page.get_size()  # as shown, i.e. after /Rotate
            if w_pt <= 0 or h_pt <= 0:
                raise CorruptPdf(f"PDF page {index} has an empty size")
            scale = limits.pdf_dpi / 72.0
            # Never render more than max_pixels: scale the page down instead.
            if (w_pt * scale) * (h_pt * scale) > limits.max_pixels:
                scale = (limits.max_pixels / (w_pt * h_pt)) ** 0.5
            text_layer = _text_layer(page, scale)
            bitmap = page.render(scale=scale, may_draw_forms=False)
            image = to_bgr(bitmap.to_pil())
        finally:
            page.close()
    except CorruptPdf:
        raise
    except (pdfium.PdfiumError, ValueError, OSError) as exc:
        raise CorruptPdf(f"cannot read PDF page {index}: {exc}") from exc
    return SourcePage(index, image, text_layer)


def _text_layer(page, scale: float) -> list[TextBox] | None:
    """Boxes of the page's text layer in rendered-pixel coordinates, or None if unusable.

    Each box is a quad whose first edge runs along the text, so text on a page
    shown with ``/Rotate`` keeps its reading direction for line grouping.
    """
    textpage = page.get_textpage()
    try:
        text = textpage.get_text_range()
        if not is_usable_text(text):
            return None
        left0, bottom0, right0, top0 = page.get_cropbox()
        w, h = (right0 - left0) * scale, (top0 - bottom0) * scale  # unrotated, pixels
        rotation = page.get_rotation() % 360
        boxes: list[TextBox] = []
        for i in range(textpage.count_rects()):
            left, bottom, right, top = textpage.get_rect(i)
            seg = textpage.get_text_bounded(left, bottom, right, top)
            if not seg or not seg.strip():
                continue
            # PDF user space (origin bottom-left) -> unrotated pixels (origin top-left)
            x0, x1 = (left - left0) * scale, (right - left0) * scale
            y0, y1 = (top0 - top) * scale, (top0 - bottom) * scale
            corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
            quad = np.array([_rotate_point(p, rotation, w, h) for p in corners], dtype=np.float32)
            boxes.append(TextBox(quad, " ".join(seg.split()), 1.0))
        return boxes or None
    finally:
        textpage.close()


def _rotate_point(p: tuple[float, float], rotation: int, w: float, h: float) -> tuple[float, float]:
    """Map a point of the unrotated page (``w`` x ``h`` pixels) onto the page shown turned
    ``rotation`` degrees clockwise (PDF ``/Rotate``)."""
    x, y = p
    if rotation == 90:
        return h - y, x
    if rotation == 180:
        return w - x, h - y
    if rotation == 270:
        return y, w - x
    return x, y


def is_usable_text(text: str, *, min_chars: int = 4) -> bool:
    """True when a PDF text layer looks like real text rather than empty or garbage.

    Garbage is what broken font encodings give: replacement characters, private-
    use or control code points, or hardly any letters and digits.
    """
    chars = [c for c in text if not c.isspace()]
    if len(chars) < min_chars:
        return False
    bad = sum(1 for c in chars if c == "\ufffd" or unicodedata.category(c) in ("Co", "Cc", "Cs", "Cn"))
    alnum = sum(1 for c in chars if c.isalnum())
    return bad / len(chars) < 0.05 and alnum / len(chars) >= 0.5
