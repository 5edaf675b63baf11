"""Where on the page each extracted field was read, for the document view.

:func:`field_evidence` returns, per field (vendor, date, currency, subtotal,
tax, total), the value, its confidence, whether it is below the low-confidence
mark, and the boxes it was read from (page and ``[x0, y0, x1, y1]`` in source
page pixels). ``located`` says where the boxes come from:

* ``"extraction"``: the extractor's own evidence stored with the result
  (``documents.field_evidence``: value, confidence, raw text, page, box);
* ``"derived"``: the extractor computed the value from other fields (e.g.
  ``tax = total - subtotal``): it was read nowhere;
* ``"matched"``: results without evidence (written before it existed, or by
  another producer): the OCR lines whose parsed amounts, dates or text equal
  the stored value (parsed with the extractor's own
  :func:`ocr_agents.extract.find_amounts` / :func:`~ocr_agents.extract.find_dates`),
  preferring lines with the field's label (``TOTAL`` but not ``SUBTOTAL``, ...)
  and, among equals, the lowest line on the page (totals are printed last);
* ``"none"``: no value, or the value is in no line.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

AMOUNT_FIELDS = ("subtotal", "tax", "total")
FIELD_ORDER = ("vendor", "date", "currency", "subtotal", "tax", "total")
_LABELS: dict[str, re.Pattern[str]] = {
    "total": re.compile(r"(?<!sub)(?<!sub )\b(grand\s*)?total|amount\s*due|balance\s*due|to\s*pay", re.I),
    "subtotal": re.compile(r"sub\s*-?\s*total|net\s*amount|amount\s*before", re.I),
    "tax": re.compile(r"\b(tax|vat|gst|hst|pst|mwst|tva|iva)\b", re.I),
}
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().casefold()


def _amount_lines(value: float, lines: Sequence[Mapping[str, Any]]) -> list[int]:
    from ocr_agents.extract import find_amounts

    return [i for i, line in enumerate(lines)
            if any(abs(a.value - value) < 0.005 for a in find_amounts(str(line.get("text") or "")))]


def _date_lines(value: str, lines: Sequence[Mapping[str, Any]]) -> list[int]:
    from ocr_agents.extract import find_dates

    out = []
    for i, line in enumerate(lines):
        text = str(line.get("text") or "")
        if any(d.isoformat() == value for d, _, _ in find_dates(text) + find_dates(text, prefer_mdy=True)):
            out.append(i)
    return out


def _text_lines(value: str, lines: Sequence[Mapping[str, Any]]) -> list[int]:
    want = _norm(value)
    if not want:
        return []
    exact = [i for i, line in enumerate(lines) if _norm(str(line.get("text") or "")) == want]
    return exact or [i for i, line in enumerate(lines) if want in _norm(str(line.get("text") or ""))]


def _currency_lines(code: str, lines: Sequence[Mapping[str, Any]]) -> list[int]:
    marks = [code.upper()] + ([_SYMBOLS[code.upper()]] if code.upper() in _SYMBOLS else [])
    return [i for i, line in enumerate(lines) if any(m in str(line.get("text") or "") for m in marks)]


def _best(name: str, candidates: list[int], lines: Sequence[Mapping[str, Any]]) -> list[int]:
    """The candidate line with the field's label on it or on the line before; else the lowest one."""
    if not candidates:
        return []
    label = _LABELS.get(name)
    if label is not None:
        def text(i: int) -> str:
            return str(lines[i].get("text") or "") if 0 <= i < len(lines) else ""

        on_line = [i for i in candidates if label.search(text(i))]
        if on_line:
            return [on_line[-1]]
        before = [i for i in candidates if label.search(text(i - 1))]
        if before:
            return [before[-1] - 1, before[-1]]
    return [candidates[-1]] if name in AMOUNT_FIELDS or name == "currency" else [candidates[0]]


def locate(name: str, value: Any, lines: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indexes of the OCR lines ``value`` of field ``name`` was most likely read from."""
    if value is None or value == "":
        return []
    if name in AMOUNT_FIELDS:
        try:
            candidates = _amount_lines(float(value), lines)
        except (TypeError, ValueError):
            return []
    elif name == "date":
        candidates = _date_lines(str(value), lines)
    elif name == "currency":
        candidates = _currency_lines(str(value), lines)
    else:
        candidates = _text_lines(str(value), lines)
    return _best(name, candidates, lines)


def field_evidence(fields: Mapping[str, Any], confidences: Mapping[str, float],
                   lines: Sequence[Mapping[str, Any]], low_confidence: float,
                   evidence: Mapping[str, Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One entry per field in :data:`FIELD_ORDER` (see module docstring)."""
    out: list[dict[str, Any]] = []
    for name in FIELD_ORDER:
        value = fields.get(name)
        confidence = float(confidences.get(name, 0.0) or 0.0)
        entry: dict[str, Any] = {"name": name, "value": value, "confidence": confidence,
                                 "low": value is not None and confidence < low_confidence,
                                 "located": "none", "lines": [], "boxes": [], "raw": None}
        given = (evidence or {}).get(name) if value is not None else None
        if given is not None and len(given.get("box") or []) == 4 and int(given.get("page", -1)) >= 0:
            entry.update(located="extraction", raw=given.get("raw_text") or None,
                         boxes=[{"page": int(given["page"]), "box": [float(v) for v in given["box"]]}])
        elif given is not None and int(given.get("page", -1)) < 0:
            entry.update(located="derived")
        elif value is not None:
            idx = locate(name, value, lines)
            if idx:
                entry.update(located="matched", lines=idx,
                             boxes=[{"page": int(lines[i].get("page") or 0), "box": list(lines[i].get("box") or [])}
                                    for i in idx if len(lines[i].get("box") or []) == 4])
        out.append(entry)
    return out
