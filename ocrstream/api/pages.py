"""Page images for the document view, in the pixel space of the stored OCR line boxes.

OCR line boxes (``documents.lines[].box``, ``[x0, y0, x1, y1]``) are pixels of
the page *as the OCR engine saw it*: decoded with EXIF/PDF rotation applied
(:func:`ocr_agents.io.open_document`), then, for pages without a PDF text
layer, size-normalised, turned upright and deskewed
(:func:`ocr_agents.preprocess.prepare_page`, with the same ``OcrSettings``).
:func:`render_page` repeats exactly these deterministic steps on the original
bytes and returns that image re-encoded as PNG, so the view can draw the boxes
over it 1:1. Pages of a PDF text layer keep their rendering's coordinates.

Re-encoding also means the browser only ever decodes a PNG we wrote, never
the uploaded bytes. Rendering costs one decode (+ orientation model, ~20 ms)
per page; :class:`PageCache` keeps recent pages.
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
    """A page as PNG bytes plus its pixel size (the boxes' coordinate space)."""

    png: bytes
    width: int
    height: int


def render_page(data: bytes, page: int, ocr: OcrSettings) -> PageImage:
    """The ``page``-th page (0-based) of an image/PDF as the OCR engine saw it (see module docstring).

    Raises :class:`PageNotFound`, or an :class:`ocr_agents.errors.OcrInputError`
    for bytes the pipeline itself would refuse.
    """
    import cv2

    from ocr_agents.io import Limits, open_document
    from ocr_agents.preprocess import prepare_page

    limits = Limits(max_object_bytes=ocr.max_object_bytes, max_pixels=ocr.max_pixels, max_pages=ocr.max_pages,
                    pdf_dpi=ocr.pdf_dpi)
    with open_document(data, limits=limits) as doc:
        if not 0 <= page < doc.page_count:
            raise PageNotFound(f"page {page} of {doc.page_count}")
        for source in doc.pages():
            if source.index == page:
                break
        else:  # pragma: no cover - page_count said it exists
            raise PageNotFound(f"page {page}")
    image = source.image
    if source.text_layer is None:
        image = prepare_page(image, detect_orientation=ocr.detect_orientation, deskew=ocr.deskew,
                             threads=min(ocr.threads, 2)).image
    ok, encoded = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:  # pragma: no cover - a BGR uint8 array always encodes
        raise RuntimeError("PNG encoding failed")
    height, width = image.shape[:2]
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
