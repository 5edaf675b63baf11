"""Scan and photo degradations of a page: paper tint, rotation and perspective, shading, blur, noise, JPEG."""

from __future__ import annotations

import math
import random
from functools import lru_cache

import cv2
import numpy as np


def smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int, channels: int = 3) -> np.ndarray:
    """Low-frequency noise of about [0, 1]: random cells (``cells`` rows) upscaled bicubically to
    ``h`` x ``w`` x ``channels``."""
    small = rng.random((cells, max(2, int(cells * w / h)), channels), dtype=np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def tint_paper(r: random.Random, grey: np.ndarray) -> np.ndarray:
    """Tint a grey page (paper colour, ink slightly off-black) into BGR."""
    paper = np.array([r.randint(232, 255), r.randint(236, 255), r.randint(238, 255)], np.float32)
    ink = np.array([r.randint(0, 60)] * 3, np.float32)
    lut = np.empty((256, 1, 3), np.uint8)
    t = np.arange(256, dtype=np.float32)[:, None] / 255.0
    lut[:, 0, :] = np.clip(ink * (1 - t) + paper * t, 0, 255).astype(np.uint8)
    bgr = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    return cv2.LUT(bgr, lut)


@lru_cache(maxsize=1)
def noise_tile() -> np.ndarray:
    """A fixed 2048x2048 N(0, 1) field, quantised to int8 in units of 1/16."""
    n = np.random.default_rng(20260314).standard_normal((2048, 2048), dtype=np.float32) * 16.0
    return np.clip(np.rint(n), -127, 127).astype(np.int8)


def noise_field(r: random.Random, h: int, w: int) -> np.ndarray:
    """An ``h`` x ``w`` window of :func:`noise_tile` at a random offset."""
    tile = noise_tile()
    if h > tile.shape[0] or w > tile.shape[1]:
        tile = np.tile(tile, (h // tile.shape[0] + 1, w // tile.shape[1] + 1))
    oy, ox = r.randint(0, tile.shape[0] - h), r.randint(0, tile.shape[1] - w)
    return tile[oy:oy + h, ox:ox + w]


def degrade(img: np.ndarray, r: random.Random, rng: np.random.Generator) -> np.ndarray:
    """Scan/photo degradations of a grey or BGR ``uint8`` page (same channels out):
    rotation (1.5-5 degrees, either sign) + slight perspective on an enlarged canvas,
    shading, low contrast, blur and gaussian noise. JPEG and downscaling are in
    :func:`compress`."""
    h, w = img.shape[:2]
    ang = r.uniform(1.5, 5.0) * r.choice([-1, 1])
    a = math.radians(ang)
    cw = int(abs(w * math.cos(a)) + abs(h * math.sin(a))) + 8
    ch = int(abs(h * math.cos(a)) + abs(w * math.sin(a))) + 8
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    cx, cy = w / 2, h / 2
    dst = []
    jit = 0.015 * min(w, h)
    for x, y in src:
        dx, dy = x - cx, y - cy
        dst.append([cw / 2 + dx * math.cos(a) - dy * math.sin(a) + r.uniform(-jit, jit),
                    ch / 2 + dx * math.sin(a) + dy * math.cos(a) + r.uniform(-jit, jit)])
    mat = cv2.getPerspectiveTransform(src, np.float32(dst))
    grey = img.ndim == 2
    if r.random() < 0.5:
        v = img[2, 2]
        border = (int(v),) * 3 if grey else tuple(int(c) for c in v)
    else:
        g = r.randint(40, 180)
        border = (g,) * 3 if grey else (g, min(255, g + r.randint(0, 15)), min(255, g + r.randint(0, 25)))
    img = cv2.warpPerspective(img, mat, (cw, ch), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=border)
    h, w = img.shape[:2]
    # contrast: map [0, 255] to [lo, hi]
    lo, hi = r.randint(0, 70), r.randint(195, 255)
    img = cv2.convertScaleAbs(img, alpha=(hi - lo) / 255.0, beta=lo)
    # shading: linear gradient + low-frequency blotches, computed small
    sh, sw = 32, max(2, int(32 * w / h))
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    gdir = r.uniform(0, 2 * math.pi)
    grad = (xx / sw * math.cos(gdir) + yy / sh * math.sin(gdir))
    grad = (grad - grad.min()) / max(1e-6, float(grad.max() - grad.min()))
    shade = 1.0 - r.uniform(0.1, 0.4) * grad
    shade = shade * (1.0 - r.uniform(0.0, 0.12) * rng.random((sh, sw), dtype=np.float32))
    shade = cv2.GaussianBlur(shade, (0, 0), 3)
    shade = cv2.resize((shade * 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
    if not grey:
        shade = cv2.cvtColor(shade, cv2.COLOR_GRAY2BGR)
    img = cv2.multiply(img, shade, scale=1.0 / 255.0)
    img = cv2.GaussianBlur(img, (0, 0), r.uniform(0.5, 1.3))
    noise = noise_field(r, h, w)
    if not grey:
        noise = cv2.merge([noise, noise, noise])
    return cv2.addWeighted(img, 1.0, noise, r.uniform(3.0, 10.0) / 16.0, 0.0, dtype=cv2.CV_8U)


def compress(img: np.ndarray, r: random.Random) -> np.ndarray:
    """Sometimes lower the resolution (x0.7-0.9); usually JPEG-compress (quality 30-75)."""
    if r.random() < 0.3:
        k = r.uniform(0.7, 0.9)
        img = cv2.resize(img, (int(img.shape[1] * k), int(img.shape[0] * k)), interpolation=cv2.INTER_AREA)
    if r.random() < 0.7:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, r.randint(30, 75)])
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return img
