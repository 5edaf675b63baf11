"""Scoring OCR and field extraction against real ground truth (tests and benchmarks).

The ground truth follows the ICDAR 2019 SROIE layout (``../shared/data/receipts-sroie``):
per receipt ``NNN.jpg``, ``NNN.json`` (``company``, ``date`` as printed, ``address``,
``total`` as printed) and ``NNN.csv`` (one text line per row: 8 quad coordinates, then
the transcript, which may itself contain commas).

Measures (the definitions ``bench/real_documents.py`` reports):

* **total**: exact to the cent after normalisation (:func:`parse_amount`: currency
  signs/codes and thousands separators dropped).
* **date**: equal as ISO ``YYYY-MM-DD`` (:func:`parse_truth_date`: the printed date read
  day-first, as these receipts print it).
* **vendor**: :func:`vendor_similarity` >= :data:`VENDOR_MIN_SIMILARITY`, where the
  similarity is ``1 - Levenshtein(a, b) / max(len(a), len(b))`` over
  :func:`normalize_name` forms (upper case, every run of non-alphanumerics one space).
* **word recall**: :func:`word_recall`, bag-of-words overlap of upper-cased whitespace
  tokens with the transcripts (``sum(min(count_truth, count_ocr)) / count_truth``).
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from synth.accuracy import edit_distance

VENDOR_MIN_SIMILARITY = 0.8
_MONTHS = {m: i + 1 for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT",
                                           "NOV", "DEC"))}


@dataclass(frozen=True)
class LabelledReceipt:
    """One ground-truth document: image path, key fields as printed, transcript lines."""

    name: str
    image: Path
    company: str
    date: str
    address: str
    total: str
    lines: tuple[str, ...]


def load_sroie(folder: Path) -> list[LabelledReceipt]:
    """Every ``NNN.jpg`` with its ``.json`` and ``.csv`` in ``folder``, sorted by name."""
    out = []
    for jpg in sorted(folder.glob("*.jpg")):
        meta = json.loads(jpg.with_suffix(".json").read_text(encoding="utf-8"))
        lines = tuple(row.split(",", 8)[8] for row in
                      jpg.with_suffix(".csv").read_text(encoding="utf-8", errors="replace").splitlines()
                      if row.count(",") >= 8)
        out.append(LabelledReceipt(jpg.stem, jpg, meta.get("company", ""), meta.get("date", ""),
                                   meta.get("address", ""), meta.get("total", ""), lines))
    return out


def tokens(text: str) -> Counter[str]:
    """Upper-cased whitespace tokens with their counts."""
    return Counter(text.upper().split())


def word_recall(truth_lines: tuple[str, ...] | list[str], ocr_text: str) -> float:
    """Share of the truth's tokens (with multiplicity) that the OCR text has too (1.0 for empty truth)."""
    want = tokens("\n".join(truth_lines))
    if not want:
        return 1.0
    got = tokens(ocr_text)
    return sum(min(n, got[t]) for t, n in want.items()) / sum(want.values())


def normalize_name(name: str) -> str:
    """Upper case, every run of characters other than letters and digits one space, stripped."""
    return " ".join(re.sub(r"[\W_]+", " ", name.upper()).split())


def vendor_similarity(predicted: str | None, truth: str) -> float:
    """``1 - Levenshtein / max length`` of the :func:`normalize_name` forms, in [0, 1]."""
    a, b = normalize_name(predicted or ""), normalize_name(truth)
    if not a or not b:
        return 1.0 if a == b else 0.0
    return 1.0 - edit_distance(a, b) / max(len(a), len(b))


def parse_amount(printed: str) -> float | None:
    """``"RM 1,234.50"`` -> 1234.5 (the last ``.``/``,`` followed by 1-2 digits is the decimal point)."""
    s = re.sub(r"[^\d.,\-]", "", printed)
    m = re.fullmatch(r"-?[\d.,]*?(\d*)([.,](\d{1,2}))?", s)
    if not s or not m:
        return None
    if m.group(2):
        head = re.sub(r"[.,]", "", s[: -len(m.group(2))])
        return round(float(f"{head or 0}.{m.group(3)}"), 2)
    digits = re.sub(r"[.,]", "", s)
    return float(digits) if digits.strip("-") else None


def parse_truth_date(printed: str) -> str | None:
    """A printed ground-truth date as ISO ``YYYY-MM-DD``: ``dd-mm-yyyy``, ``dd/mm/yy``,
    ``dd.mm.yyyy``, ``yyyy-mm-dd``, ``dd MMM yyyy``; two-digit years are 20xx."""
    s = printed.strip(" ()[]").upper()
    m = re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", s)
    if m:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    else:
        m = re.fullmatch(r"(\d{1,2})[-/.\s]*(\d{1,2}|[A-Z]{3})[A-Z]*[-/.,\s]*(\d{2}|\d{4})", s)
        if not m:
            return None
        d, y = int(m.group(1)), int(m.group(3))
        mo = _MONTHS.get(m.group(2)) if m.group(2).isalpha() else int(m.group(2))
        if mo is None:
            return None
    if y < 100:
        y += 2000
    try:
        return _dt.date(y, mo, d).isoformat()
    except ValueError:
        return None
