"""Blank pages: paper tone, faint texture, dust specks, sometimes punch holes."""

from __future__ import annotations

import random

import cv2
import numpy as np

from synth.documents.canvas import a4_size
from synth.documents.noise import smooth_noise


def render_blank(r: random.Random, rng: np.random.Generator, s: float) -> np.ndarray:
    """A grey blank page; ``s`` is the dpi scale."""
    w, h = a4_size(s) if r.random() < 0.75 else (int(r.randint(560, 640) * s), int(r.randint(1000, 1600) * s))
    base = r.randint(225, 255)
    img = np.full((h, w), base, np.uint8)
    if r.random() < 0.6:  # faint texture / scanner noise
        noise = (smooth_noise(rng, h, w, r.randint(8, 40), 1).reshape(h, w) - 0.5) * r.uniform(4, 14)
        img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    for _ in range(r.randint(0, 12)):  # dust specks
        cv2.circle(img, (r.randint(0, w - 1), r.randint(0, h - 1)), r.randint(1, 2), r.randint(120, 200), -1)
    if r.random() < 0.2:  # punch holes
        for yy in (h // 3, 2 * h // 3):
            cv2.circle(img, (int(40 * s), yy), int(14 * s), r.randint(170, 215), -1, cv2.LINE_AA)
    return img
