"""Box -> line grouping shared by every engine (the only copy).

Engines report text *boxes* (a quadrilateral, its text and a confidence): a
word, a phrase or a whole line, depending on the engine. :func:`group_lines`
turns them into reading-order :class:`~ocr_agents.types.OcrLine` objects:

1. estimate the page's dominant text angle from the boxes' top/bottom edges
   (width-weighted median, within +-45 degrees);
2. rotate box geometry by minus that angle, so lines of a skewed page become
   horizontal (without this, boxes of one tilted line land on different rows and
   noisy-page CER roughly triples);
3. cluster boxes whose vertical extents overlap into one line, order each line's
   boxes left to right and join their texts (:func:`clean_text`) with one space;
4. order lines top to bottom.

Output boxes are axis-aligned ``(x0, y0, x1, y1)`` in the input image's pixels.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from ocr_agents.types import OcrLine

# A box must be this much wider than tall before its edge angle is trusted.
_MIN_ASPECT_FOR_ANGLE = 2.0
# Boxes join a line when their vertical centres differ by at most this share of
# the smaller height (in the deskewed frame).
_SAME_LINE_TOLERANCE = 0.55


@dataclass(slots=True)
class TextBox:
    """One engine detection: ``quad`` is 4 (x, y) points, clockwise from top-left."""

    quad: np.ndarray
    text: str
    confidence: float

    @classmethod
    def from_rect(cls, x0: float, y0: float, x1: float, y1: float, text: str, confidence: float) -> "TextBox":
        """A box from an axis-aligned rectangle (e.g. Tesseract's word boxes)."""
        quad = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32)
        return cls(quad, text, confidence)


def estimate_text_angle(boxes: Sequence[TextBox]) -> float:
    """Dominant text direction in degrees, in (-180, 180] (positive = clockwise in image coordinates).

    Uses the top and bottom edges (``quad[0]->quad[1]``, ``quad[3]->quad[2]``) of
    boxes that are clearly wider than tall along that edge, weighted by their
    width: engines give angles near 0 (small skew), a PDF text layer of a page
    shown with ``/Rotate`` gives +-90 or 180. 0.0 when no box qualifies.
    """
    angles: list[float] = []
    weights: list[float] = []
    for box in boxes:
        q = np.asarray(box.quad, dtype=np.float64).reshape(4, 2)
        top = q[1] - q[0]
        bottom = q[2] - q[3]
        width = float(np.hypot(*top) + np.hypot(*bottom)) / 2.0
        height = float(np.hypot(*(q[3] - q[0])) + np.hypot(*(q[2] - q[1]))) / 2.0
        if width < _MIN_ASPECT_FOR_ANGLE * max(height, 1.0):
            continue
        for edge in (top, bottom):
            angles.append(math.degrees(math.atan2(edge[1], edge[0])))
            weights.append(width)
    if not angles:
        return 0.0
    a = np.asarray(angles)
    w = np.asarray(weights)
    # circular: centre on the weighted mean direction, then take the weighted median
    ref = math.degrees(math.atan2(float(np.dot(w, np.sin(np.radians(a)))), float(np.dot(w, np.cos(np.radians(a))))))
    rel = (a - ref + 180.0) % 360.0 - 180.0
    order = np.argsort(rel)
    cum = np.cumsum(w[order])
    angle = (ref + float(rel[order][np.searchsorted(cum, cum[-1] / 2.0)]) + 180.0) % 360.0 - 180.0
    return 180.0 if angle == -180.0 else float(angle)


def is_junk(text: str, *, latin_only: bool = True) -> bool:
    """True for box texts that are misreadings of marks, not text.

    * any CJK/kana/hangul character when ``latin_only`` (the PP-OCR dictionaries
      are Chinese + Latin and turn decorative rows of ``*`` or ``#`` into
      ideographs);
    * a long run of very few distinct characters without digits, e.g. Tesseract's
      ``FIC FOI IOI OR AOR ...`` for a row of asterisks: at least 12 characters of
      which at most a quarter (and at least 4) are distinct.
    """
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return True
    if latin_only and any(_is_cjk(c) for c in chars):
        return True
    if len(chars) >= 12 and not any(c.isdigit() for c in chars):
        return len(set(chars)) <= max(4, len(chars) // 4)
    return False


def _is_cjk(c: str) -> bool:
    o = ord(c)
    return 0x3040 <= o <= 0x30FF or 0x3400 <= o <= 0x9FFF or 0xAC00 <= o <= 0xD7AF or 0xF900 <= o <= 0xFAFF


def group_lines(boxes: Iterable[TextBox], *, page: int = 0, latin_only: bool = True) -> list[OcrLine]:
    """Group engine boxes into reading-order lines (see module docstring); junk boxes
    (:func:`is_junk`) are dropped first."""
    items = [b for b in boxes if b.text and not is_junk(b.text, latin_only=latin_only)]
    if not items:
        return []
    angle = math.radians(estimate_text_angle(items))
    cos, sin = math.cos(-angle), math.sin(-angle)
    rot = np.array([[cos, -sin], [sin, cos]])

    geo = []  # (cy, height, x0, x1, index) in the deskewed frame
    for i, b in enumerate(items):
        q = np.asarray(b.quad, dtype=np.float64).reshape(4, 2) @ rot.T
        y0, y1 = float(q[:, 1].min()), float(q[:, 1].max())
        geo.append(((y0 + y1) / 2.0, max(y1 - y0, 1.0), float(q[:, 0].min()), float(q[:, 0].max()), i))
    geo.sort(key=lambda g: g[0])

    rows: list[list[tuple[float, float, float, float, int]]] = []
    for g in geo:
        cy, h = g[0], g[1]
        best, best_d = None, None
        # Only the most recent rows can still overlap a box sorted by its centre.
        for row in rows[-4:]:
            rcy = float(np.median([m[0] for m in row]))
            rh = float(np.median([m[1] for m in row]))
            d = abs(cy - rcy)
            if d <= _SAME_LINE_TOLERANCE * min(h, rh) and not _overlaps_in_x(row, g):
                if best_d is None or d < best_d:
                    best, best_d = row, d
        if best is None:
            rows.append([g])
        else:
            best.append(g)

    rows.sort(key=lambda r: float(np.median([m[0] for m in r])))
    lines: list[OcrLine] = []
    for row in rows:
        row.sort(key=lambda m: m[2])
        members = [items[m[4]] for m in row]
        text = " ".join(clean_text(b.text) for b in members)
        n_chars = np.array([max(len(b.text.strip()), 1) for b in members], dtype=np.float64)
        conf = float(np.dot(n_chars, [b.confidence for b in members]) / n_chars.sum())
        pts = np.concatenate([np.asarray(b.quad, dtype=np.float64).reshape(4, 2) for b in members])
        box = (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))
        lines.append(OcrLine(text=text, confidence=min(max(conf, 0.0), 1.0), box=box, page=page))
    return lines


# PP-OCR's Chinese/English dictionaries read a printed Latin "x" between numbers
# ("2 x 3.50") as the multiplication sign; Latin documents mean the letter.
_CHAR_FIXES = str.maketrans({"\u00d7": "x"})


def clean_text(text: str) -> str:
    """Engine text made comparable: NFKC (full-width forms -> ASCII), "×" -> "x", whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).translate(_CHAR_FIXES).split())


def _overlaps_in_x(row: list[tuple[float, float, float, float, int]], g: tuple[float, float, float, float, int]) -> bool:
    """True when ``g`` covers more than half of some member's width (a box on another line)."""
    for m in row:
        inter = min(m[3], g[3]) - max(m[2], g[2])
        if inter > 0.5 * min(m[3] - m[2], g[3] - g[2]):
            return True
    return False


def lines_text(lines: Sequence[OcrLine]) -> str:
    """The lines' texts joined by newlines (a page's plain text)."""
    return "\n".join(line.text for line in lines)
