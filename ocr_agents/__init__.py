"""OCR stage of ocrstream.

Layout (docTR-style separation of io, models and post-processing):

* :mod:`ocr_agents.io` - validate bytes, decode images, open PDFs page by page
  (text layers used as they are); input errors in :mod:`ocrstream.errors`,
  engine errors in :mod:`ocr_agents.errors`;
* :mod:`ocr_agents.preprocess` - blank check, 90/180/270 orientation, deskew, size;
* :mod:`ocr_agents.engines` - ``paddle``, ``onnx``, ``tesseract`` behind one protocol,
  loaded once per process;
* :mod:`ocr_agents.lines` - the one box -> line grouping (rotation-corrected);
* :mod:`ocr_agents.classify` / :mod:`ocr_agents.extract` - page type and fields;
* :mod:`ocr_agents.pipeline` - :class:`~ocr_agents.pipeline.DocumentProcessor`;
* :mod:`ocr_agents.cli` - ``ocrstream ocr``.
"""
