"""Result types shared by every OCR stage (engines, pipeline, stream agents).

Coordinates ("page pixels") are pixels of the *source page image*: the image
as decoded (EXIF orientation applied) or the PDF page as rendered at
``OcrSettings.pdf_dpi``, before any resizing, orientation correction or deskew
the OCR stage applied (those are undone with :class:`PageTransform`, so a box
can be drawn straight over the stored image). Origin top-left, ``x`` to the
right, ``y`` down. Times are seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ocrstream.records import FIELD_NAMES

Box = tuple[float, float, float, float]
"""Axis-aligned box ``(x0, y0, x1, y1)`` in page pixels."""


@dataclass(slots=True, frozen=True)
class PageTransform:
    """How the OCR stage turned a source page into the upright image it read.

    Forward: scale by ``scale`` -> rotate ``rotation`` degrees clockwise (0/90/180/270)
    -> rotate by ``skew`` degrees about the centre (deskew, same canvas).
    ``source_size`` and ``upright_size`` are ``(width, height)`` in pixels.
    :meth:`to_source` maps a box from the upright frame back to source page pixels.
    """

    source_size: tuple[int, int]
    upright_size: tuple[int, int]
    scale: float = 1.0
    rotation: int = 0
    skew: float = 0.0

    @classmethod
    def identity(cls, width: int, height: int) -> "PageTransform":
        return cls((width, height), (width, height))

    def to_source(self, box: Box) -> Box:
        """The axis-aligned box (in source page pixels, clipped to the page) that covers
        the upright-frame ``box``."""
        if self.scale == 1.0 and self.rotation == 0 and self.skew == 0.0:
            return box
        x0, y0, x1, y1 = box
        pts = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        uw, uh = self.upright_size
        if self.skew:
            # deskew rotated the image by -skew (cv2 angle convention) about the centre; undo it
            t = math.radians(self.skew)
            cx, cy = uw / 2.0, uh / 2.0
            c, s_ = math.cos(t), math.sin(t)
            pts = [(cx + (x - cx) * c - (y - cy) * s_, cy + (x - cx) * s_ + (y - cy) * c) for x, y in pts]
        # undo the quadrant rotation: (w1, h1) is the scaled image before it
        rot = self.rotation % 360
        w1, h1 = (uh, uw) if rot in (90, 270) else (uw, uh)
        if rot == 90:
            pts = [(y, h1 - x) for x, y in pts]
        elif rot == 180:
            pts = [(w1 - x, h1 - y) for x, y in pts]
        elif rot == 270:
            pts = [(w1 - y, x) for x, y in pts]
        sw, sh = self.source_size
        f = self.scale or 1.0
        xs = [min(max(x / f, 0.0), float(sw)) for x, _ in pts]
        ys = [min(max(y / f, 0.0), float(sh)) for _, y in pts]
        return (min(xs), min(ys), max(xs), max(ys))


@dataclass(slots=True)
class OcrLine:
    """One line of text as read on a page.

    ``confidence`` is in [0, 1] (1.0 for lines taken from a PDF text layer).
    """

    text: str
    confidence: float
    box: Box
    page: int = 0




@dataclass(slots=True, frozen=True)
class FieldValue:
    """One extracted field and where it was read.

    ``value``: ``str`` for vendor, date (ISO ``YYYY-MM-DD``) and currency (ISO 4217),
    ``float`` for subtotal, tax and total. ``confidence`` in [0, 1]. ``raw_text``: the
    OCR text it was read from, as recognised (label and value lines joined by ``\n``
    when the value sat on the line below its label). ``page``: 0-based page index, or
    -1 for a value derived from other fields (e.g. tax = total - subtotal), which also
    has an empty ``raw_text`` and ``box = None``. ``box``: ``(x0, y0, x1, y1)`` in page
    pixels covering the text it came from.
    """

    value: str | float
    confidence: float
    raw_text: str = ""
    page: int = -1
    box: Box | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON/Avro shape: ``{value, confidence, raw_text, page, box}`` (``box`` ``[]`` when none)."""
        return {
            "value": self.value,
            "confidence": float(self.confidence),
            "raw_text": self.raw_text,
            "page": int(self.page),
            "box": [float(v) for v in self.box] if self.box else [],
        }


@dataclass(slots=True)
class LineItem:
    """One purchased item/service line. Amounts in the document currency; ``confidence``
    in [0, 1]; ``raw_text``/``page``/``box`` as for :class:`FieldValue` (the row(s) it was
    read from)."""

    description: str
    quantity: float | None
    unit_price: float | None
    amount: float | None
    confidence: float
    raw_text: str = ""
    page: int = 0
    box: Box | None = None

    def as_dict(self) -> dict[str, Any]:
        """The ``LineItem`` record of ``schemas/OcrResult.avsc``."""
        def num(v: float | None) -> float | None:
            return None if v is None else float(v)

        return {
            "description": self.description,
            "quantity": num(self.quantity),
            "unit_price": num(self.unit_price),
            "amount": num(self.amount),
            "confidence": float(self.confidence),
            "raw_text": self.raw_text,
            "page": int(self.page),
            "box": [float(v) for v in self.box] if self.box else [],
        }


@dataclass(slots=True)
class PageResult:
    """What one page gave.

    ``source`` is ``"ocr"`` (an engine read the pixels), ``"text_layer"`` (the
    PDF page already carried usable text) or ``"blank"`` (nothing to read).
    ``width``/``height`` are the source page's pixels (the frame of every box);
    ``rotation`` is the clockwise rotation in degrees (0/90/180/270) that was
    applied to make the page upright (small deskew angles are in ``transform``).
    ``lines`` are in page pixels; ``transform`` maps the upright OCR frame back.
    """

    page: int
    lines: list[OcrLine]
    text: str
    source: str
    width: int
    height: int
    rotation: int = 0
    transform: PageTransform | None = None


@dataclass(slots=True)
class DocumentResult:
    """Everything the OCR stage knows about one document.

    ``text`` is the pages' texts joined by a blank line; ``lines`` are all pages'
    lines in reading order, boxes in page pixels. ``fields`` maps each found field
    of :data:`FIELD_NAMES` to its :class:`FieldValue` (absent = not found);
    ``line_items``/``score`` come from the extractor; ``ocr_score`` is the mean line
    confidence (0 when no lines). ``timings`` has ``classify_s``, ``ocr_s`` and
    ``extract_s``.
    """

    doc_type: str
    type_confidence: float
    engine: str
    pages: list[PageResult]
    text: str
    lines: list[OcrLine]
    fields: dict[str, FieldValue] = field(default_factory=dict)
    line_items: list[LineItem] = field(default_factory=list)
    score: float = 0.0
    ocr_score: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def value(self, name: str) -> Any:
        """The value of field ``name``, or ``None`` when it was not found."""
        fv = self.fields.get(name)
        return None if fv is None else fv.value

    @property
    def values(self) -> dict[str, Any]:
        """Every field of :data:`FIELD_NAMES` -> its value or ``None``."""
        return {name: self.value(name) for name in FIELD_NAMES}

    @property
    def confidences(self) -> dict[str, float]:
        """Every field of :data:`FIELD_NAMES` -> its confidence (0 when not found)."""
        return {name: (self.fields[name].confidence if name in self.fields else 0.0) for name in FIELD_NAMES}
