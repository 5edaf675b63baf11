"""Frame analysis for the video producer: motion, stability, perceptual hash.

Pure functions on BGR ``uint8`` frames plus :class:`PageDetector`, a small
state machine fed one frame at a time:

* each frame is reduced to a small blurred grey image (``analysis_width``
  px wide); *motion* is the mean absolute grey difference (0-255) to the
  previous one;
* a page is **stable** after ``stable_frames`` consecutive frames with motion
  below ``motion_threshold`` (camera shake of a few pixels stays below it;
  a page being moved or swapped does not);
* at stability the sharpest of those still frames is the candidate; it is
  dropped as **empty** when it shows too little detail (Laplacian variance
  below ``min_detail``: an empty desk, a covered lens) and as a **duplicate**
  of the last published page when both (a) its 64-bit DCT perceptual hash is
  within ``dup_distance`` bits of that page's and (b) the mean absolute
  difference of the two page crops (the page's bright region, 256x256 grey,
  blurred) is below ``dup_difference``; otherwise it is a **new page**. The
  hash alone cannot tell apart two text pages of the same layout (measured:
  4 bits between different pages, up to 4 for one shaken page) — the crop
  difference can (same page <= 1.7, different pages >= 4.4 on 40 px text);
* while the view stays still the candidate is re-checked every
  ``stable_frames`` frames, so a page swapped in one cut (no motion) is still
  seen; a duplicate is counted once per still period.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np


def analysis_image(frame: np.ndarray, width: int) -> np.ndarray:
    """Grey, downscaled to ``width`` px (aspect kept), ``uint8``."""
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    h, w = grey.shape[:2]
    if w > width:
        grey = cv2.resize(grey, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    return grey


def motion(prev_blur: np.ndarray, blur: np.ndarray) -> float:
    """Mean absolute grey difference (0-255) of two blurred analysis images."""
    return float(cv2.absdiff(prev_blur, blur).mean())


def sharpness(grey: np.ndarray) -> float:
    """Variance of the Laplacian (focus measure; higher is sharper / more detail)."""
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def phash(grey: np.ndarray) -> int:
    """64-bit DCT perceptual hash: 32x32 grey → DCT → 8x8 low frequencies vs their median."""
    small = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:8, :8].flatten()
    bits = low > np.median(low[1:])
    return int(np.packbits(bits.astype(np.uint8)).view(">u8")[0])


def page_crop(frame: np.ndarray, width: int = 640, size: int = 256) -> np.ndarray:
    """The page in view as a ``size`` x ``size`` grey image.

    The page is the largest bright region (Otsu threshold); when none covers
    at least 10% of the view the whole frame is used.
    """
    grey = analysis_image(frame, width)
    _, mask = cv2.threshold(cv2.GaussianBlur(grey, (5, 5), 0), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if contours:
        c = max(contours, key=cv2.contourArea)
        x, y, w, h = cv2.boundingRect(c)
        if w * h >= 0.1 * grey.shape[0] * grey.shape[1]:
            grey = grey[y:y + h, x:x + w]
    return cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA)


def crop_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference (0-255) of two blurred page crops."""
    return float(cv2.absdiff(cv2.GaussianBlur(a, (5, 5), 0), cv2.GaussianBlur(b, (5, 5), 0)).mean())


def hamming(a: int, b: int) -> int:
    """Number of differing bits of two 64-bit hashes."""
    return (a ^ b).bit_count()


def phash_hex(h: int) -> str:
    return f"{h:016x}"


class Verdict(enum.Enum):
    MOVING = "moving"
    SETTLING = "settling"
    STILL = "still"  # stable, already handled
    EMPTY = "empty"
    DUPLICATE = "duplicate"
    NEW_PAGE = "new_page"


@dataclass(frozen=True)
class DetectorConfig:
    analysis_width: int = 320
    motion_threshold: float = 6.0
    stable_frames: int = 6
    dup_distance: int = 12
    dup_difference: float = 3.0
    min_detail: float = 100.0


@dataclass
class Candidate:
    """The frame chosen for a stable page."""

    frame: np.ndarray
    frame_number: int
    timestamp_ms: int
    phash: int
    detail: float
    crop: np.ndarray


class PageDetector:
    """Feed frames in order; :meth:`feed` says what each one means (see module docstring)."""

    def __init__(self, config: DetectorConfig) -> None:
        self.cfg = config
        self._prev: np.ndarray | None = None
        self._still = 0
        self._recent: deque[tuple[float, np.ndarray, int, int, np.ndarray]] = deque(maxlen=config.stable_frames)
        self._dup_counted = False
        self.last_hash: int | None = None
        self.last_crop: np.ndarray | None = None
        self.last_motion = 0.0
        self.candidate: Candidate | None = None

    def feed(self, frame: np.ndarray, frame_number: int, timestamp_ms: int) -> Verdict:
        """Classify one frame; on ``NEW_PAGE`` the page is in :attr:`candidate`."""
        cfg = self.cfg
        grey = analysis_image(frame, cfg.analysis_width)
        blur = cv2.GaussianBlur(grey, (5, 5), 0)
        if self._prev is None or self._prev.shape != blur.shape:
            m = float("inf")
        else:
            m = motion(self._prev, blur)
        self._prev = blur
        self.last_motion = m
        if m >= cfg.motion_threshold:
            self._still = 0
            self._recent.clear()
            self._dup_counted = False
            return Verdict.MOVING
        self._still += 1
        self._recent.append((sharpness(grey), frame, frame_number, timestamp_ms, grey))
        if self._still < cfg.stable_frames:
            return Verdict.SETTLING
        if (self._still - cfg.stable_frames) % cfg.stable_frames:
            return Verdict.STILL
        detail, best, number, ts, _ = max(self._recent, key=lambda r: r[0])
        if detail < cfg.min_detail:
            return Verdict.EMPTY if self._still == cfg.stable_frames else Verdict.STILL
        crop = page_crop(best)
        h = phash(crop)
        if self.is_duplicate(h, crop):
            if self._dup_counted:
                return Verdict.STILL
            self._dup_counted = True
            return Verdict.DUPLICATE
        self.last_hash, self.last_crop = h, crop
        self._dup_counted = True  # later re-checks of this page are duplicates of it: count none
        self.candidate = Candidate(best, number, ts, h, detail, crop)
        return Verdict.NEW_PAGE

    def is_duplicate(self, h: int, crop: np.ndarray) -> bool:
        """True when (hash, crop) repeat the last published page (see module docstring)."""
        if self.last_hash is None or self.last_crop is None:
            return False
        if hamming(h, self.last_hash) > self.cfg.dup_distance:
            return False
        return crop_difference(crop, self.last_crop) < self.cfg.dup_difference
