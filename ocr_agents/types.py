"""Result types shared by every OCR stage (engines, pipeline, stream agents).

Coordinates are page pixels of the page image *after* orientation correction
(``PageResult.rotation`` says how it was turned), origin top-left, ``x`` to the
right, ``y`` down. Times are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Box = tuple[float, float, float, float]
"""Axis-aligned box ``(x0, y0, x1, y1)`` in page pixels."""


@dataclass(slots=True)
class OcrLine:
    """One line of text as read on a page.

    ``confidence`` is in [0, 1] (1.0 for lines taken from a PDF text layer).
    """

    text: str
    confidence: float
    box: Box
    page: int = 0


@dataclass(slots=True)
class PageResult:
    """What one page gave.

    ``source`` is ``"ocr"`` (an engine read the pixels), ``"text_layer"`` (the
    PDF page already carried usable text) or ``"blank"`` (nothing to read).
    ``width``/``height`` are pixels of the upright page image; ``rotation`` is
    the clockwise rotation in degrees (0/90/180/270) that was applied to make
    the page upright, plus nothing for deskew (small angles are not recorded).
    """

    page: int
    lines: list[OcrLine]
    text: str
    source: str
    width: int
    height: int
    rotation: int = 0


@dataclass(slots=True)
class DocumentResult:
    """Everything the OCR stage knows about one document.

    ``text`` is the pages' texts joined by a blank line; ``lines`` are all pages'
    lines in reading order. ``fields``/``line_items``/``score`` come from the
    extractor; ``ocr_score`` is the mean line confidence (0 when no lines).
    ``timings`` has ``classify_s``, ``ocr_s`` and ``extract_s``.
    """

    doc_type: str
    type_confidence: float
    engine: str
    pages: list[PageResult]
    text: str
    lines: list[OcrLine]
    fields: dict[str, Any] = field(default_factory=dict)
    line_items: list[dict[str, Any]] = field(default_factory=list)
    score: float = 0.0
    ocr_score: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
