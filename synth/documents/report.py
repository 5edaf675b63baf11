"""A4 reports and letters: paragraphs of prose, section headings (no fields)."""

from __future__ import annotations

import random
from typing import Any

from PIL import ImageFont

from synth.documents.canvas import Canvas, a4_size, get_font
from synth.documents.content import pick_address, pick_date, pick_vendor
from synth.documents.formats import format_date
from synth.documents.vocab import NAMES, WORDS


def sentence(r: random.Random) -> str:
    """One sentence of report prose (sometimes with a percentage)."""
    words = [r.choice(WORDS) for _ in range(r.randint(6, 16))]
    if r.random() < 0.2:
        words.insert(r.randint(0, len(words)), f"{r.randint(2, 99)}%")
    return " ".join(words).capitalize() + r.choice([".", ".", ".", ";", ","])


def wrap(text: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """``text`` broken into lines no wider than ``width`` px in ``font``."""
    out, cur = [], ""
    for word in text.split():
        cand = f"{cur} {word}" if cur else word
        if cur and font.getlength(cand) > width:
            out.append(cur)
            cur = word
        else:
            cur = cand
    if cur:
        out.append(cur)
    return out


def render_report(r: random.Random, s: float) -> tuple[Canvas, dict[str, Any]]:
    """A report or letter canvas (no fields); ``s`` is the dpi scale."""
    fam = r.choice(["serif", "sans", "serif_cond", "sans_cond", "mono"])
    size = int(r.randint(20, 25) * s)
    f = get_font(fam, False, size)
    fh = get_font(fam, True, int(size * r.uniform(1.15, 1.4)))
    ft = get_font(fam, True, int(size * r.uniform(1.6, 2.1)))
    w, h = a4_size(s)
    cv = Canvas(w, h)
    m = int(r.randint(100, 160) * s)
    lh = int(size * r.uniform(1.3, 1.65))
    y = int(r.randint(90, 140) * s)
    letter = r.random() < 0.35
    if letter:
        for line in [pick_vendor(r, corp=True)] + pick_address(r):
            cv.text(w - m, y, line, f, align="right")
            y += lh
        y += lh
        cv.text(m, y, format_date(pick_date(r), r.choice(["month_d_y", "d_month_y", "iso"])), f)
        y += 2 * lh
        cv.text(m, y, f"Dear {r.choice(NAMES)},", f)
        y += int(1.6 * lh)
    else:
        title = " ".join(r.choice(WORDS) for _ in range(r.randint(2, 5))).title()
        cv.text(m if r.random() < 0.6 else w / 2, y, title, ft, align="left" if r.random() < 0.6 else "left")
        y += int(ft.size * 1.8)
    bottom = h - int(r.randint(120, 200) * s)
    section = 1
    while y < bottom - 3 * lh:
        if not letter and r.random() < 0.35:
            cv.text(m, y, f"{section}. " + " ".join(r.choice(WORDS) for _ in range(r.randint(1, 4))).title(), fh)
            section += 1
            y += int(fh.size * 1.6)
        para = " ".join(sentence(r) for _ in range(r.randint(2, 6)))
        indent = int(r.choice([0, 0, 40]) * s)
        for i, line in enumerate(wrap(para, f, w - 2 * m - indent)):
            if y > bottom:
                break
            cv.text(m + (indent if i == 0 else 0), y, line, f)
            y += lh
        y += int(lh * r.uniform(0.4, 1.0))
    if letter and y < h - 3 * lh:
        cv.text(m, min(y, h - 3 * lh), "Sincerely, " + r.choice(NAMES), f)
    elif r.random() < 0.7:
        cv.text(w / 2, h - int(70 * s), f"- {r.randint(1, 40)} -", f, align="center")
    return cv, {"fields": {}, "line_items": []}
