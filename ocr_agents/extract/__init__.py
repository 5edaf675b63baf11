"""Field extraction from OCR lines of receipts and invoices, with confidences and evidence.

:func:`extract_fields` reads ``vendor``, ``date`` (ISO ``YYYY-MM-DD``), ``currency`` (ISO
4217), ``subtotal``, ``tax``, ``total`` (floats in the document's currency) and line items
from OCR lines in reading order, each as a :class:`~ocr_agents.types.FieldValue` (value,
confidence, the raw text it was read from, page, box). One module per concern:

* :mod:`~ocr_agents.extract.text`: normalisation (look-alikes, O/0 l/1 S/5 B/8 inside
  numbers), label keys and fuzzy label matching, the :class:`~ocr_agents.extract.text.Row`;
* :mod:`~ocr_agents.extract.amounts`: money tokens in any decimal/thousands convention;
* :mod:`~ocr_agents.extract.dates`: dates in many formats and languages, the document date;
* :mod:`~ocr_agents.extract.currency`: ISO 4217 from codes, symbols and country cues;
* :mod:`~ocr_agents.extract.parties`: the vendor;
* :mod:`~ocr_agents.extract.labels`: label vocabularies (several languages);
* :mod:`~ocr_agents.extract.totals`: total, subtotal, tax (with payments and rounding);
* :mod:`~ocr_agents.extract.items`: line items;
* :mod:`~ocr_agents.extract.score`: consistency checks and the document score.

Confidence of a field in [0, 1]::

    c = ocr * q                       # ocr: confidence of the source line(s), q: parse
                                      # quality (exact label 1.0, fuzzy 0.85; 2-decimal
                                      # amount 1.0, else 0.7; OCR-confusion repairs 0.9)
    then each consistency check moves it (:mod:`~ocr_agents.extract.score`);
    derived fields (e.g. tax = total - subtotal): c = 0.5 * min(c of their sources)

A missing field has no entry in ``fields`` (confidence 0 in :attr:`ExtractionResult.confidences`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from ocr_agents.extract.amounts import Amount, find_amounts
from ocr_agents.extract.currency import detect_currency
from ocr_agents.extract.dates import find_dates, pick_date
from ocr_agents.extract.items import line_items
from ocr_agents.extract.parties import find_vendor
from ocr_agents.extract.score import WEIGHTS, document_score, run_checks
from ocr_agents.extract.text import Row, make_rows
from ocr_agents.extract.totals import choose_totals
from ocr_agents.types import FIELD_NAMES, FieldValue, LineItem, OcrLine

__all__ = ["FIELD_NAMES", "WEIGHTS", "Amount", "ExtractionResult", "extract_fields", "find_amounts", "find_dates"]


@dataclass
class ExtractionResult:
    """What :func:`extract_fields` found.

    ``fields`` maps each found field of :data:`FIELD_NAMES` to its
    :class:`~ocr_agents.types.FieldValue` (absent = not found); :attr:`values` and
    :attr:`confidences` give every field's value (``None``) and confidence (0).
    ``score`` is the document score (:mod:`~ocr_agents.extract.score`). ``checks`` names
    each consistency check run and whether it passed.
    """

    fields: dict[str, FieldValue]
    line_items: list[LineItem] = field(default_factory=list)
    score: float = 0.0
    checks: dict[str, bool] = field(default_factory=dict)

    @property
    def values(self) -> dict[str, Any]:
        return {k: (self.fields[k].value if k in self.fields else None) for k in FIELD_NAMES}

    @property
    def confidences(self) -> dict[str, float]:
        return {k: (self.fields[k].confidence if k in self.fields else 0.0) for k in FIELD_NAMES}


def evidence(rows: list[Row], src: Sequence[int], value: str | float, conf: float) -> FieldValue:
    """A value read from ``rows[src]``: their raw texts (joined by newlines), page and
    covering box; ``src`` empty: derived (page -1, no box). Rows without geometry give no box."""
    used = [rows[i] for i in src if 0 <= i < len(rows)]
    if not used:
        return FieldValue(value, conf)
    page = used[0].page
    boxes = [r.box for r in used if r.page == page and r.box[2] > r.box[0] and r.box[3] > r.box[1]]
    box = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
           max(b[3] for b in boxes)) if boxes else None
    return FieldValue(value, conf, "\n".join(r.raw for r in used), page, box)


def extract_fields(lines: Sequence[OcrLine], text: str) -> ExtractionResult:
    """Extract receipt/invoice fields from OCR ``lines`` (reading order, upright boxes).

    ``text`` is used instead when ``lines`` is empty (one row per text line, confidence
    1, no geometry). Amounts are floats in the document currency; the date is ISO
    ``YYYY-MM-DD``. Confidences and the score follow the module docstrings.
    """
    rows = make_rows(lines, text)
    if not rows:
        return ExtractionResult({}, [], 0.0, {})
    values: dict[str, Any] = {}
    conf: dict[str, float] = {k: 0.0 for k in FIELD_NAMES}
    src: dict[str, tuple[int, ...]] = {}

    # currency first: it disambiguates numeric dates (US month-first)
    cur, conf["currency"], cur_row = detect_currency(rows)
    values["currency"], src["currency"] = cur, (cur_row,)

    date = pick_date(rows, prefer_mdy=cur == "USD")
    if date.date is not None:
        values["date"], conf["date"], src["date"] = date.date.isoformat(), date.conf, (date.row,)

    values["vendor"], conf["vendor"], src["vendor"] = find_vendor(rows, set(date.date_rows))

    # line items lie above the first money label; the totals use their sum as a check
    t0, s0, x0 = choose_totals(rows, None)
    first_money_row = min([c.row for c in (t0, s0, x0) if c is not None and c.row >= 0], default=len(rows))
    items = line_items(rows, 0, first_money_row)
    items_sum = round(sum(it["amount"] for it in items), 2) if items else None
    items_conf = min((it["confidence"] for it in items), default=0.0)
    items_max = max((it["amount"] for it in items), default=None)
    t, s, x = choose_totals(rows, items_sum, items_conf, items_max) if items else (t0, s0, x0)
    for name, c in (("total", t), ("subtotal", s), ("tax", x)):
        if c is not None:
            values[name], conf[name], src[name] = c.value, c.conf, (() if c.derived else c.src)

    checks = run_checks(conf, t, s, x, items, items_sum, date.plausible if date.date is not None else None)
    conf = {k: round(max(0.0, min(1.0, v)), 4) for k, v in conf.items()}
    found = {k: evidence(rows, src.get(k, ()), values[k], conf[k]) for k in FIELD_NAMES if values.get(k) is not None}
    out_items = []
    for it in items:
        ev = evidence(rows, it["_rows"], 0.0, 0.0)
        out_items.append(LineItem(it["description"], it["quantity"], it["unit_price"], it["amount"],
                                  it["confidence"], ev.raw_text, max(ev.page, 0), ev.box))
    return ExtractionResult(found, out_items, document_score(conf, checks), checks)
