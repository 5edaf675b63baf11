"""Total, subtotal and tax: labelled amounts, chosen as the most consistent combination.

Candidates (:func:`field_candidates`): the rightmost amount of a row whose label (the
text before its first amount) matches a total / subtotal / tax label
(:mod:`ocr_agents.extract.labels`, fuzzy), or the amount alone on the next row when the
label row has none. Rows that only hold a currency sign and an amount right below a
total or rounding row are weaker total candidates (receipts print the rounded total
so). Confidence: the rows' OCR confidence x label match x parse quality.

Payments (:func:`payments`) give two more constraints real receipts carry: the amount
tendered minus the change equals the total, and a rounding adjustment turns the
pre-rounding total into the one the customer owes (the total is the amount *after*
rounding). :func:`choose_totals` scores every combination of at most 8 candidates per
field (module docstring of :mod:`ocr_agents.extract` for the confidences)::

    sum of confidences + 0.5 for having a total (+ a small bonus for later rows)
    + 3 when subtotal + tax == total        + 1 when line items sum to subtotal (or total)
    + 2 when tendered - change == total     + 1.5 when total == another total + rounding
    - 1.5 when total + rounding is another candidate (a pre-rounding total)
    - 2 when total < subtotal               - 1 when tax / subtotal is not in [0, 30 %]
    - 1 when tax >= total                   - 1.5 when total < the largest line item

then derives what is missing (total = subtotal + tax, = pre-rounding total + rounding,
= tendered - change, = sum of items; tax = total - subtotal; subtotal = items), each
derived value at half (or less) the confidence of its sources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import product
from typing import Sequence

from ocr_agents.extract.amounts import TOL, close, find_amounts, money_candidates
from ocr_agents.extract.labels import (
    CHANGE,
    COLUMN_HEADINGS,
    INCLUSIVE,
    NOT_TAX,
    NOT_TOTAL,
    PAYMENT,
    ROUNDING,
    SUBTOTAL_LABELS,
    SUMMARY,
    TAX_LABELS,
    TENDERED,
    TOTAL_LABELS,
)
from ocr_agents.extract.text import Row, label_score, letters_key, phrase_match

MAX_CANDIDATES = 8


@dataclass
class Cand:
    """A money value for one field: ``row`` is where it was read (-1 when derived)."""

    value: float
    conf: float
    row: int
    derived: bool = False
    src: tuple[int, ...] = ()  # rows the value was read from (label row first)


def _bare_amount(r: Row) -> bool:
    """Only a currency sign/code and amounts on the row."""
    rest = re.sub(r"\b(?:[A-Z]{2,3}|[A-Z]{1,2}\$)\b|[$€£¥₹]", "", r.text)
    return bool(find_amounts(r.text)) and not any(c.isalpha() for c in rest)


def summary_start(rows: list[Row]) -> int:
    """Index of the first row of a tax summary table below the totals (len(rows) when none)."""
    for i, r in enumerate(rows):
        if i > len(rows) // 3 and any(phrase_match(r.key, h) >= 0.9 for h in SUMMARY):
            return i
    return len(rows)


def field_candidates(rows: list[Row], labels: Sequence[str], exclude: Sequence[str],
                     signed: bool = False, stop: int | None = None) -> list[Cand]:
    """Labelled amounts for one field (see module docstring) in ``rows[:stop]``; negative
    values only when ``signed``. A label naming the total including tax is never excluded."""
    out: list[Cand] = []
    for i, r in enumerate(rows[:stop]):
        # the label is what precedes the first amount on the row
        am = find_amounts(r.text, join_spaced=False)
        label_part = r.text[: am[0].start] if am else r.text
        key = letters_key(label_part)
        if not key or len(key) > 40:
            continue
        inclusive = any(w in key.split() for w in INCLUSIVE)
        ls = label_score(key, labels, () if inclusive else exclude)
        if ls <= 0:
            continue
        if key.split()[0] in ("net",) and ("terms" in key or "days" in key):
            continue
        cands = money_candidates(r.text)
        conf = r.conf
        src: tuple[int, ...] = (i,)
        if (not cands and i + 1 < len(rows) and _bare_amount(rows[i + 1])  # value on the next line,
                and sum(w in COLUMN_HEADINGS for w in key.split()) < 2):  # unless the row is a table header
            nxt = rows[i + 1]
            cands = [(a, q * 0.9) for a, q in money_candidates(nxt.text)]
            conf = (r.conf + nxt.conf) / 2
            src = (i, i + 1)
        for a, q in cands:
            if a.value < 0 and not signed:
                continue
            q2 = q * ls * (0.9 if r.repaired else 1.0)
            out.append(Cand(round(a.value, 2), conf * q2, i, src=src))
    return out


def _bare_totals(rows: list[Row]) -> list[Cand]:
    """Amounts alone on a row right below a total or rounding row (the rounded total)."""
    out = []
    for i, r in enumerate(rows):
        if i == 0 or not _bare_amount(r):
            continue
        prev = rows[i - 1]
        am = find_amounts(prev.text, join_spaced=False)
        key = letters_key(prev.text[: am[0].start] if am else prev.text)
        if not am:
            continue  # the label's own value (field_candidates reads it)
        if label_score(key, TOTAL_LABELS, NOT_TOTAL + PAYMENT) > 0 or label_score(key, ROUNDING) > 0:
            for a, q in money_candidates(r.text):
                if a.value > 0:
                    out.append(Cand(round(a.value, 2), r.conf * q * 0.6, i, src=(i,)))
    return out


@dataclass
class Payments:
    """Amount tendered, change given and rounding adjustment (signed), when printed."""

    tendered: Cand | None = None
    change: Cand | None = None
    rounding: Cand | None = None

    @property
    def paid(self) -> float | None:
        if self.tendered is None or self.change is None:
            return None
        return round(self.tendered.value - self.change.value, 2)


def payments(rows: list[Row]) -> Payments:
    """The best-read tendered / change / rounding amounts (first by confidence)."""
    def best(labels: Sequence[str], exclude: Sequence[str] = (), signed: bool = False) -> Cand | None:
        cands = field_candidates(rows, labels, exclude, signed=signed)
        return max(cands, key=lambda c: c.conf) if cands else None

    cents = [c for c in field_candidates(rows, ROUNDING, (), signed=True) if abs(c.value) < 1.0]  # not a total
    rounding = max(cents, key=lambda c: c.conf) if cents else None
    return Payments(best(TENDERED, CHANGE), best(CHANGE), rounding)


def choose_totals(rows: list[Row], items_sum: float | None, items_conf: float = 0.0,
                  items_max: float | None = None) -> tuple[Cand | None, Cand | None, Cand | None]:
    """(total, subtotal, tax), each ``None`` when neither read nor derivable; ``items_max``
    is the largest line item amount (no total is smaller)."""
    stop = summary_start(rows)
    tot = field_candidates(rows, TOTAL_LABELS, NOT_TOTAL + PAYMENT, stop=stop) + _bare_totals(rows[:stop])
    # "Rounding 45.35": a rounding row that holds a whole amount holds the rounded total
    tot += [Cand(c.value, 0.8 * c.conf, c.row, src=c.src) for c in field_candidates(rows, ROUNDING, (), stop=stop)
            if c.value >= 1.0]
    sub = field_candidates(rows, SUBTOTAL_LABELS, PAYMENT, stop=stop)
    tax = field_candidates(rows, TAX_LABELS, NOT_TAX + PAYMENT)
    tot, sub, tax = (sorted(c, key=lambda k: -k.conf)[:MAX_CANDIDATES] for c in (tot, sub, tax))
    sub_rows = {c.row for c in sub}
    tot = [c for c in tot if c.row not in sub_rows]
    tax = [c for c in tax if c.row not in sub_rows]
    pay = payments(rows)
    paid = pay.paid
    rnd = pay.rounding.value if pay.rounding is not None else None
    tot_values = [c.value for c in tot]

    def combo_score(t: Cand | None, s: Cand | None, x: Cand | None) -> float:
        sc = sum(c.conf for c in (t, s, x) if c is not None)
        if t is not None:
            sc += 0.5 + 0.02 * t.row / max(1, len(rows))  # a total is wanted; later totals win ties
            if paid is not None and paid > 0 and close(t.value, paid):
                sc += 2.0
            if rnd:
                if any(close(t.value, v + rnd) for v in tot_values if v != t.value):
                    sc += 1.5
                if any(close(v, t.value + rnd) for v in tot_values if v != t.value):
                    sc -= 1.5
        if t is not None and items_max is not None and t.value + TOL < items_max:
            sc -= 1.5
        if t and s and x and close(s.value + x.value, t.value):
            sc += 3.0
        if s and items_sum is not None and close(s.value, items_sum):
            sc += 1.0
        if t and not s and items_sum is not None and close(t.value, items_sum):
            sc += 1.0
        if t and s and t.value + TOL < s.value:
            sc -= 2.0
        if s and x and s.value > 0 and not 0 <= x.value / s.value <= 0.3:
            sc -= 1.0
        if t and x and x.value >= t.value > 0:
            sc -= 1.0
        return sc

    t, s, x = max(product(tot + [None], sub + [None], tax + [None]),
                  key=lambda c: combo_score(*c))  # type: ignore[arg-type]

    # the customer owes the total after rounding: a total printed above the rounding row
    # (and not already equal to another total + rounding, or to what was paid) is the
    # amount before it
    if t is not None and rnd and pay.rounding is not None and t.row >= 0 and t.row < pay.rounding.row:
        is_after = any(close(t.value, v + rnd) for v in tot_values if v != t.value) or (
            paid is not None and close(t.value, paid))
        after = round(t.value + rnd, 2)
        if not is_after and (paid is None or close(after, paid)):
            read = [c for c in tot if close(c.value, after)]
            t = max(read, key=lambda c: c.conf) if read else Cand(after, 0.8 * min(t.conf, pay.rounding.conf), -1, True)
    # derive a missing field from the others (what was paid first: money that changed hands)
    if t is None and paid is not None and paid > 0:
        t = Cand(paid, 0.4 * min(pay.tendered.conf, pay.change.conf), -1, True)  # type: ignore[union-attr]
    if t is None and s is not None and x is not None:
        t = Cand(round(s.value + x.value, 2), 0.5 * min(s.conf, x.conf), -1, True)
    if t is None and s is None and items_sum is not None:
        t = Cand(items_sum, 0.3 * items_conf, -1, True)
    if t is not None and s is not None and x is None and 0 < t.value - s.value <= 0.3 * s.value:
        x = Cand(round(t.value - s.value, 2), 0.5 * min(s.conf, t.conf), -1, True)
    if t is not None and x is not None and s is None and 0 < x.value < t.value:
        if items_sum is not None and close(items_sum + x.value, t.value):
            s = Cand(items_sum, 0.5 * min(x.conf, t.conf), -1, True)
    if t is None:  # last resort: the largest two-decimal amount in the lower half
        amounts = [(a.value, r.conf, r.idx) for r in rows[len(rows) // 2:] for a in find_amounts(r.text)
                   if a.two_decimals and a.value > 0]
        if amounts:
            v, c, i = max(amounts)
            t = Cand(v, 0.3 * c, i, src=(i,))
    return t, s, x
