"""Fonts, the seeded random sources of a page, and the canvas that records what it prints (the text truth)."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FAMILIES: dict[str, tuple[str, str]] = {
    # family -> (regular, bold) file names
    "sans": ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    "serif": ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf"),
    "mono": ("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf"),
    "sans_cond": ("DejaVuSansCondensed.ttf", "DejaVuSansCondensed-Bold.ttf"),
    "serif_cond": ("DejaVuSerifCondensed.ttf", "DejaVuSerifCondensed-Bold.ttf"),
}


@lru_cache(maxsize=256)
def get_font(family: str, bold: bool, size: int) -> ImageFont.FreeTypeFont:
    """The DejaVu font of ``family`` (:data:`FAMILIES`), bold or regular, at ``size`` px (cached)."""
    name = FAMILIES[family][1 if bold else 0]
    return ImageFont.truetype(str(FONT_DIR / name), size)


def rng_pair(*parts: Any) -> tuple[random.Random, np.random.Generator]:
    """A ``random.Random`` and a NumPy generator seeded from ``parts`` (the same parts, the same draws)."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    s = int.from_bytes(digest[:8], "little")
    return random.Random(s), np.random.default_rng(s)


@dataclass
class Canvas:
    """A grey page that records every text item it draws, for the ``text`` truth."""

    w: int
    h: int
    bg: int = 255
    img: Image.Image = field(init=False)
    draw: ImageDraw.ImageDraw = field(init=False)
    items: list[tuple[float, float, float, str]] = field(default_factory=list)  # yc, x, height, text

    def __post_init__(self) -> None:
        self.img = Image.new("L", (self.w, self.h), self.bg)
        self.draw = ImageDraw.Draw(self.img)

    def text(self, x: float, y: float, s: str, font: ImageFont.FreeTypeFont, fill: int = 0,
             align: str = "left") -> float:
        """Draw ``s`` with its top at ``y``; ``x`` is the left, right or centre edge per ``align``.
        Returns the text width in px."""
        if not s:
            return 0.0
        width = font.getlength(s)
        if align == "right":
            x -= width
        elif align == "center":
            x -= width / 2
        self.draw.text((x, y), s, font=font, fill=fill)
        size = font.size
        self.items.append((y + size / 2, x, size, s))
        return width

    def hline(self, x0: float, x1: float, y: float, width: int = 1, fill: int = 0) -> None:
        self.draw.line([(x0, y), (x1, y)], fill=fill, width=width)

    def rect(self, x0: float, y0: float, x1: float, y1: float, width: int = 1, fill: int = 0) -> None:
        self.draw.rectangle([x0, y0, x1, y1], outline=fill, width=width)

    def printed_text(self) -> str:
        """Rows in reading order: items whose vertical centres are within 0.45 x font size
        of a row's first item share that row; each row's items are joined left to right."""
        rows: list[list[tuple[float, float, float, str]]] = []
        for it in sorted(self.items, key=lambda t: (t[0], t[1])):
            if rows and abs(it[0] - rows[-1][0][0]) < 0.45 * max(it[2], rows[-1][0][2]):
                rows[-1].append(it)
            else:
                rows.append([it])
        return "\n".join(" ".join(t[3] for t in sorted(row, key=lambda t: t[1])) for row in rows)

    def array(self) -> np.ndarray:
        return np.asarray(self.img)


def a4_size(s: float) -> tuple[int, int]:
    """An A4 page at ~150 dpi times ``s``: ``(width, height)`` px."""
    return int(1240 * s), int(1754 * s)
