"""Page images for the document view, in the pixel frame of the stored boxes.

Every box of a result (``documents.lines[].box``, ``line_items[].box``,
``field_evidence[].box``, ``[x0, y0, x1, y1]``) is in *source page pixels*:
the page image as decoded with its EXIF orientation applied, or the PDF page
rendered at ``ocr.pdf_dpi`` (:func:`ocr_agents.io.open_document`), before
any OCR-side resize, rotation or deskew; ``documents.page_sizes`` holds that
frame's size per page. :func:`render_page` decodes the original bytes the same
way and returns the page as PNG, scaled down to at most ``max_side`` pixels
on its long side; the view draws boxes in an SVG whose viewBox is the frame
size (``page_sizes``, else the image's own size), so a downscaled image still
lines up.

Re-encoding also means the browser only ever decodes a PNG we wrote, never
the uploaded bytes. :class:`PageCache` keeps recent pages.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from ocrstream.settings import OcrSettings


class PageNotFound(LookupError):
    """The document has no such page."""


@dataclass(frozen=True)
class PageImage:
    """A page as PNG bytes plus the size of its source frame (the boxes' coordinate space)."""

    png: bytes
    width: int
    height: int


def render_page(data: bytes, page: int, ocr: OcrSettings, max_side: int = 2400) -> PageImage:
    """The ``page``-th page (0-based) of an image/PDF in source page pixels (see module docstring).

    ``width``/``height`` are the source frame's size (the boxes' frame), even when
    the PNG was scaled down. Raises :class:`PageNotFound`, or an
    :class:`ocrstream.errors.OcrInputError` for bytes the pipeline itself would refuse.
    """
    import cv2

    from ocr_agents.io import Limits, open_document

    limits = Limits(max_object_bytes=ocr.max_object_bytes, max_pixels=ocr.max_pixels, max_pages=ocr.max_pages,
                    pdf_dpi=ocr.pdf_dpi)
    with open_document(data, limits=limits) as doc:
        if not 0 <= page < doc.page_count:
            raise PageNotFound(f"page {page} of {doc.page_count}")
        image = next(source.image for source in doc.pages() if source.index == page)
    height, width = image.shape[:2]
    if max(width, height) > max_side:
        f = max_side / max(width, height)
        image = cv2.resize(image, (max(1, round(width * f)), max(1, round(height * f))), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:  # pragma: no cover - a BGR uint8 array always encodes
        raise RuntimeError("PNG encoding failed")
    return PageImage(encoded.tobytes(), int(width), int(height))


class PageCache:
    """Thread-safe LRU of rendered pages keyed by ``(document_id, page)``."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self._items: OrderedDict[tuple[str, int], PageImage] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int]) -> PageImage | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: tuple[str, int], item: PageImage) -> None:
        if self.entries <= 0:
            return
        with self._lock:
            self._items[key] = item
            self._items.move_to_end(key)
            while len(self._items) > self.entries:
                self._items.popitem(last=False)
