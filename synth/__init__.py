"""Synthetic data and its scoring: what tests, benchmarks and the demo feed the pipeline.

Nothing here is part of the pipeline, and no production stage (``producers``,
``ocr_agents``, ``streams``, ``serving``) imports it; only the roof does
(``ocrstream demo``, ``ocrstream generate``), besides tests and benchmarks.

* :mod:`synth.documents` — the page renderer with ground truth, one module per
  document kind (receipt, invoice, report, form, photo, blank) plus the shared
  canvas, content, formats and scan-noise helpers;
* :mod:`synth.video` — videos of text pages held before a shaking camera;
* :mod:`synth.pdf` — a dependency-free PDF writer (text layers, scans, a fake
  password);
* :mod:`synth.events` — deterministic ``OcrResult`` event streams with ground
  truth, encoded on the codec's template fast path;
* :mod:`synth.history` — a recent history with daily traffic patterns (the
  demo's backfill, the dashboard tests);
* :mod:`synth.images` — rendered documents as load, with a manifest;
* :mod:`synth.accuracy` and :mod:`synth.evaluation` — CER and field accuracy
  against ground truth (generated truth, and real labelled receipts): scoring
  needs truth, which only test data has, so it lives beside the data and apart
  from the models it scores (as docTR keeps ``doctr/utils/metrics.py`` apart
  from ``doctr/models``);
* :mod:`synth.train_classifier` — trains the page-type forest that
  ``ocr_agents/models/`` ships (the model stays with the stage that uses it);
* :mod:`synth.cli` — ``ocrstream generate``, the one roof command over this
  package (it publishes through :mod:`producers`).
"""
