"""Tesseract 5 (LSTM) through ``tesserocr``: the fast path for clean printed pages.

Language data comes from Debian's ``tesseract-ocr-eng`` (found under
``/usr/share/tesseract-ocr/*/tessdata`` or ``$TESSDATA_PREFIX``). Page
segmentation mode 6 (one uniform block) reads receipts and invoices in order.
Tesseract runs single-threaded per call here; ``threads`` is accepted for a
uniform interface (parallelism comes from several worker processes).
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np

from ocr_agents.engines.base import BaseEngine
from ocr_agents.errors import EngineUnavailable
from ocr_agents.lines import TextBox

_TESSDATA_GLOBS = (
    "/usr/share/tesseract-ocr/*/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
    "/opt/homebrew/share/tessdata",
)


def find_tessdata(lang: str = "eng") -> Path:
    """Directory holding ``{lang}.traineddata``; raises :class:`EngineUnavailable` if none."""
    candidates = [os.environ["TESSDATA_PREFIX"]] if os.environ.get("TESSDATA_PREFIX") else []
    for pattern in _TESSDATA_GLOBS:
        candidates.extend(sorted(glob.glob(pattern), reverse=True))
    for c in candidates:
        if (Path(c) / f"{lang}.traineddata").is_file():
            return Path(c)
    raise EngineUnavailable(f"no {lang}.traineddata found (apt-get install tesseract-ocr-{lang})")


class TesseractEngine(BaseEngine):
    """Tesseract LSTM, its text lines ordered into lines by the shared helper."""

    name = "tesseract"

    def __init__(self, *, threads: int, lang: str = "eng", psm: int = 6) -> None:
        super().__init__(threads=threads)
        try:
            import tesserocr
        except ImportError as exc:  # pragma: no cover - depends on install
            raise EngineUnavailable(f"tesserocr is not importable: {exc}") from exc
        self._tesserocr = tesserocr
        self._api = tesserocr.PyTessBaseAPI(
            path=str(find_tessdata(lang)), lang=lang, psm=psm, oem=tesserocr.OEM.LSTM_ONLY
        )

    def boxes(self, image: np.ndarray) -> list[TextBox]:
        """One box per Tesseract text line, built from its credible words.

        Confidences are Tesseract's 0-100 scaled to 0-1 (mean over kept words).
        """
        from PIL import Image

        tess = self._tesserocr
        rgb = image if image.ndim == 2 else image[:, :, ::-1]
        self._api.SetImage(Image.fromarray(np.ascontiguousarray(rgb)))
        self._api.Recognize()
        out: list[TextBox] = []
        line: list[tuple[str, float, tuple[int, int, int, int]]] = []

        def flush() -> None:
            if line:
                xs0, ys0, xs1, ys1 = zip(*(w[2] for w in line))
                text = " ".join(w[0] for w in line)
                conf = sum(w[1] for w in line) / len(line) / 100.0
                out.append(TextBox.from_rect(min(xs0), min(ys0), max(xs1), max(ys1), text, conf))
                line.clear()

        level = tess.RIL.WORD
        for word in tess.iterate_level(self._api.GetIterator(), level):
            if word.IsAtBeginningOf(tess.RIL.TEXTLINE):
                flush()
            text = (word.GetUTF8Text(level) or "").strip()
            bbox = word.BoundingBox(level)
            conf = word.Confidence(level)
            if text and bbox is not None and credible_word(text, conf):
                line.append((text, conf, bbox))
        flush()
        self._api.Clear()
        return out


def credible_word(text: str, confidence: float) -> bool:
    """Whether a Tesseract word (confidence 0-100) is kept.

    Tesseract turns non-text marks (rows of ``*`` or ``=``, barcodes, stamps)
    into low-confidence letter salads. Low confidence alone is no proof: it often
    gives 0 to correct amounts like ``4.88``. So a word below 60 is dropped only
    when it has no digit, and a word below 30 also when it is longer than 12
    characters (no real token is).
    """
    if confidence >= 60:
        return True
    if not any(c.isdigit() for c in text):
        return False
    return not (confidence < 30 and len(text) > 12)
