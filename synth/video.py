"""Synthetic "phone over a desk" videos of text pages, for tests and benchmarks.

:func:`write_page_video` writes, with OpenCV's ``VideoWriter``, a video in
which each of the given pages is held for ``hold_frames`` frames with camera
shake (a random jitter of up to ``shake_px`` pixels per frame), separated by
``transition_frames`` frames in which the old page slides out and the new one
slides in. Deterministic for a seed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
_WORDS = ("invoice", "total", "coffee", "paper", "north", "delta", "amber", "ocean", "river", "maple",
          "quartz", "silver", "garden", "copper", "winter", "summer", "falcon", "harbor", "meadow", "signal")


def text_page(lines: Sequence[str], size: tuple[int, int] = (560, 640), font_px: int = 40) -> np.ndarray:
    """A white page (BGR) with ``lines`` of large black text."""
    w, h = size
    img = Image.new("L", (w, h), 250)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(_FONT, font_px)
    y = font_px
    for line in lines:
        draw.text((font_px, y), line, fill=10, font=font)
        y += int(font_px * 1.6)
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_GRAY2BGR)


def page_texts(k: int, seed: int = 0, lines: int = 5) -> list[list[str]]:
    """``k`` distinct pages of ``lines`` lines: a title ``PAGE n`` and random words."""
    r = random.Random(f"synthvideo:{seed}")
    out = []
    for i in range(k):
        body = [" ".join(r.sample(_WORDS, 2)) + f" {r.randint(10, 99)}" for _ in range(lines - 1)]
        out.append([f"PAGE {i + 1}", *body])
    return out


def _desk(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(60, 110, (height // 16 + 2, width // 16 + 2, 1)).astype(np.uint8)
    tex = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    tex = tex if tex.ndim == 3 else tex[:, :, None]
    return np.dstack([tex[:, :, 0] * 0.7, tex[:, :, 0] * 0.85, tex[:, :, 0]]).astype(np.uint8)


def _place(desk: np.ndarray, page: np.ndarray, cx: float, cy: float) -> np.ndarray:
    frame = desk.copy()
    H, W = desk.shape[:2]
    ph, pw = page.shape[:2]
    x0, y0 = int(round(cx - pw / 2)), int(round(cy - ph / 2))
    sx0, sy0 = max(0, -x0), max(0, -y0)
    dx0, dy0 = max(0, x0), max(0, y0)
    dx1, dy1 = min(W, x0 + pw), min(H, y0 + ph)
    if dx1 > dx0 and dy1 > dy0:
        frame[dy0:dy1, dx0:dx1] = page[sy0:sy0 + (dy1 - dy0), sx0:sx0 + (dx1 - dx0)]
    return frame


def write_page_video(path: Path, pages: Sequence[np.ndarray], *, size: tuple[int, int] = (1280, 720),
                     fps: float = 30.0, hold_frames: int = 45, transition_frames: int = 6,
                     shake_px: float = 2.0, lead_in_frames: int = 0, seed: int = 0,
                     fourcc: str = "mp4v") -> int:
    """Write the video; returns the number of frames written.

    ``lead_in_frames`` of empty desk come first. Each page is centred (plus
    shake) for ``hold_frames`` frames; transitions slide horizontally.
    """
    W, H = size
    r = random.Random(f"shake:{seed}")
    desk = _desk(W, H, seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (W, H))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {fourcc} video to {path}")
    n = 0

    def put(frame: np.ndarray) -> None:
        nonlocal n
        writer.write(frame)
        n += 1

    for _ in range(lead_in_frames):
        put(desk)
    cx, cy = W / 2, H / 2
    for i, page in enumerate(pages):
        for _ in range(hold_frames):
            put(_place(desk, page, cx + r.uniform(-shake_px, shake_px), cy + r.uniform(-shake_px, shake_px)))
        if i + 1 < len(pages):
            nxt = pages[i + 1]
            for t in range(1, transition_frames + 1):
                f = t / (transition_frames + 1)
                frame = _place(desk, page, cx - f * W, cy)
                frame = _place(frame, nxt, cx + (1 - f) * W, cy)
                put(frame)
    writer.release()
    return n
