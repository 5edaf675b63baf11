"""Photos that are not documents: gradients, texture, shapes, sometimes a one-word sign."""

from __future__ import annotations

import random

import cv2
import numpy as np
from PIL import Image, ImageDraw

from synth.documents.canvas import get_font
from synth.documents.noise import smooth_noise


def render_photo(r: random.Random, rng: np.random.Generator, s: float) -> tuple[np.ndarray, str]:
    """A BGR photo and the text of its sign (``""`` without one); ``s`` is the dpi scale."""
    w, h = r.choice([(1200, 900), (900, 1200), (1280, 720), (1000, 1000), (1024, 768), (768, 1024)])
    w, h = int(w * s), int(h * s)
    # sky/ground style gradient + low-frequency texture, built at 1/4 size then upscaled
    hs, ws = max(8, h // 4), max(8, w // 4)
    c0 = np.array([r.randint(0, 255) for _ in range(3)], np.float32)
    c1 = np.array([r.randint(0, 255) for _ in range(3)], np.float32)
    t = np.linspace(0, 1, hs, dtype=np.float32)[:, None, None]
    small = np.broadcast_to(c0 * (1 - t) + c1 * t, (hs, ws, 3)).copy()
    small += (smooth_noise(rng, hs, ws, r.randint(4, 24)) - 0.5) * r.uniform(60, 180)
    small += (smooth_noise(rng, hs, ws, r.randint(40, 120)) - 0.5) * r.uniform(10, 60)
    img = cv2.resize(np.clip(small, 0, 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
    for _ in range(r.randint(3, 14)):
        col = tuple(int(v) for v in rng.integers(0, 256, 3))
        kind = r.random()
        cx, cy = r.randint(0, w), r.randint(0, h)
        if kind < 0.45:
            cv2.ellipse(img, (cx, cy), (r.randint(20, w // 3), r.randint(20, h // 3)), r.uniform(0, 180),
                        0, 360, col, -1, cv2.LINE_AA)
        elif kind < 0.8:
            pts = np.array([[cx + r.randint(-w // 4, w // 4), cy + r.randint(-h // 4, h // 4)]
                            for _ in range(r.randint(3, 6))], np.int32)
            cv2.fillPoly(img, [pts], col, cv2.LINE_AA)
        else:
            cv2.line(img, (cx, cy), (r.randint(0, w), r.randint(0, h)), col, r.randint(2, 12), cv2.LINE_AA)
    k = r.choice([1, 3, 5, 7])
    if k > 1:
        img = cv2.GaussianBlur(img, (k, k), 0)
    text = ""
    if r.random() < 0.25:  # a sign
        pil = Image.fromarray(img[:, :, ::-1])
        d = ImageDraw.Draw(pil)
        word = r.choice(["OPEN", "EXIT", "SALE", "CAFE", "STOP", "HOTEL", "PARKING"])
        font = get_font("sans", True, int(r.randint(40, 90) * s))
        x, y = r.randint(0, w // 2), r.randint(0, h - font.size - 1)
        d.text((x, y), word, font=font, fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        img = np.asarray(pil)[:, :, ::-1].copy()
        text = word
    return img, text
