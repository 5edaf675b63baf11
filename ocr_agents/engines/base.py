"""The engine protocol and the process-wide engine cache.

An engine turns one upright BGR page image (``np.ndarray``, ``uint8``,
``H x W x 3``) into text boxes; :meth:`Engine.recognize` groups those into
reading-order lines with the shared :func:`ocr_agents.lines.group_lines`.

Models are loaded once per process: :func:`get_engine` keeps one instance per
``(name, threads, options)`` and is safe to call from several threads.
"""

from __future__ import annotations

import importlib
import threading
from abc import ABC, abstractmethod
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ocr_agents.errors import UnknownEngine
from ocr_agents.lines import TextBox, group_lines
from ocr_agents.types import OcrLine


@runtime_checkable
class Engine(Protocol):
    """What the pipeline needs from an OCR engine."""

    name: str

    def recognize(self, image: np.ndarray, *, page: int = 0) -> list[OcrLine]:
        """Lines (box, text, confidence in [0, 1]) read from a BGR uint8 image."""
        ...


class BaseEngine(ABC):
    """Shared behaviour: subclasses implement :meth:`boxes` only.

    Instances are not assumed thread-safe; :meth:`recognize` serialises calls
    on one instance (each engine already uses ``threads`` cores per call).
    """

    name: str = "base"

    def __init__(self, *, threads: int) -> None:
        self.threads = int(threads)
        self._lock = threading.Lock()

    @abstractmethod
    def boxes(self, image: np.ndarray) -> list[TextBox]:
        """Raw detections (any granularity) of a BGR uint8 image."""

    def recognize(self, image: np.ndarray, *, page: int = 0) -> list[OcrLine]:
        """Lines read from ``image``, grouped by :func:`group_lines`."""
        with self._lock:
            raw = self.boxes(image)
        return group_lines(raw, page=page)


# engine name -> "module:Class"; imported lazily so that e.g. a tesseract-only
# worker never imports paddle.
ENGINE_CLASSES: dict[str, str] = {
    "paddle": "ocr_agents.engines.paddle:PaddleEngine",
    "onnx": "ocr_agents.engines.onnx:OnnxEngine",
    "tesseract": "ocr_agents.engines.tesseract:TesseractEngine",
}

_cache: dict[tuple[Any, ...], BaseEngine] = {}
_cache_lock = threading.Lock()


def engine_names() -> list[str]:
    """Names accepted by :func:`get_engine`."""
    return list(ENGINE_CLASSES)


def get_engine(name: str, *, threads: int = 2, **options: Any) -> BaseEngine:
    """The process-wide instance of engine ``name`` (loaded on first use).

    ``options`` are engine-specific keyword arguments (e.g. ``model_size`` for
    ``onnx``); different options give different instances.
    Raises :class:`UnknownEngine` for an unregistered name.
    """
    if name not in ENGINE_CLASSES:
        raise UnknownEngine(f"unknown OCR engine {name!r}; expected one of {engine_names()}")
    key = (name, int(threads), tuple(sorted(options.items())))
    engine = _cache.get(key)
    if engine is not None:
        return engine
    with _cache_lock:
        engine = _cache.get(key)
        if engine is None:
            module_name, cls_name = ENGINE_CLASSES[name].split(":")
            cls = getattr(importlib.import_module(module_name), cls_name)
            engine = cls(threads=threads, **options)
            _cache[key] = engine
    return engine


def loaded_engines() -> list[tuple[Any, ...]]:
    """Cache keys of the engines loaded in this process (for tests and metrics)."""
    return list(_cache)
