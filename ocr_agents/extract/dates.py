"""Dates in OCR text (numeric, ISO, month names in several languages) and the choice of
the document date among them."""

from __future__ import annotations

import datetime as _dt
import re

from dataclasses import dataclass

from ocr_agents.extract.text import Row, edit1, label_score, letters_key

_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"]
_MON_ALT = {"sept": 9, "mär": 3, "mrz": 3, "dez": 12, "okt": 10, "mai": 5, "juin": 6, "juil": 7, "fev": 2,
            "déc": 12, "avr": 4}
_MON_RE = r"([A-Za-zéäû]{3,10})\.?"
_YEAR_END = r"(?:(?!\d)|(?=\d{1,2}:\d{2}))"  # a year may be glued to a following time (202509:37)
_D_NUM = re.compile(r"(?<![\d.,])(\d{1,2})\s?([/.,\-])\s?(\d{1,2})\s?([/.,\-])\s?(\d{4}" + _YEAR_END
                    + r"|\d{2}(?![\d]|[.,]\d))")
_D_ISO = re.compile(r"(?<!\d)(\d{4})\s?([/.\-])\s?(\d{1,2})\s?\2\s?(\d{1,2})(?:(?!\d)|(?=\d{1,2}:\d{2}))")
_D_DMONY = re.compile(r"(?<!\d)(\d{1,2})(?:st|nd|rd|th)?[\s\-./]*" + _MON_RE + r"[\s\-./,']*(\d{4})" + _YEAR_END)
# "28 Mar 18": a month name with a two-digit year (not followed by more digits or ":")
_D_DMONYY = re.compile(r"(?<!\d)(\d{1,2})[\s\-./]*" + _MON_RE + r"[\s\-./,']*(\d{2})(?![\d:])")
# "27032018": separators lost by the OCR (day, month, 20xx year), low quality
_D_GLUED = re.compile(r"(?<!\d)([0-3]\d)([01]\d)(20[0-4]\d)(?!\d)")
_D_MONDY = re.compile(_MON_RE + r"[\s\-.]*(\d{1,2})(?:(?:st|nd|rd|th)[\s,.\-]*|[\s,.\-]+)(\d{4})" + _YEAR_END)
DATE_GOOD = ["date", "invoice date", "issue date", "issued", "dated", "receipt date", "purchase date",
              "transaction date", "datum", "order date", "billing date"]
DATE_BAD = ["due", "payment due", "due date", "expiry", "expires", "exp", "valid", "valid until", "delivery",
             "birth", "dob", "period", "ship", "shipped", "delivered", "valid thru", "best before"]


def _month(tok: str) -> tuple[int, float] | None:
    t = tok.lower().rstrip(".")
    if len(t) < 3:
        return None
    for i, name in enumerate(_MONTHS):
        if t == name or t == name[:3] or (t == name[:4] and len(t) == 4):
            return i + 1, 1.0
    if t[:4] in _MON_ALT or t[:3] in _MON_ALT:
        return _MON_ALT.get(t[:4], _MON_ALT.get(t[:3])), 0.9  # type: ignore[return-value]
    t2 = t.translate(str.maketrans({"0": "o", "1": "l", "5": "s", "8": "b"}))
    for i, name in enumerate(_MONTHS):
        if len(t2) >= 5 and edit1(t2, name):
            return i + 1, 0.85
    return None


def _month_word_fix(word: str) -> str:
    if word.isdigit() or word.isalpha() or not any(c.isalpha() for c in word):
        return word
    fixed = word.translate(str.maketrans({"0": "o", "1": "l", "5": "s", "8": "b"}))
    lower = fixed.lower()
    if any(lower == n or lower == n[:3] or lower == n[:4] for n in _MONTHS):
        return fixed
    return word


def _mk_date(y: int, m: int, d: int) -> _dt.date | None:
    if y < 100:
        y += 2000
    if y < 1900:
        return None
    try:
        return _dt.date(y, m, d)
    except ValueError:
        return None


def find_dates(text: str, prefer_mdy: bool = False) -> list[tuple[_dt.date, float, int]]:
    """Dates in ``text`` as (date, parse quality in (0, 1], character position).

    Formats: ``2026-03-14``, ``2026/03/14``, ``14/03/2026``, ``14.03.2026``, ``14-03-26``,
    ``14 Mar 2026``, ``14-Mar-2026``, ``14th March 2026``, ``Mar 14, 2026``, ``March 14 2026``
    (OCR digit look-alikes in month names and ``.``/``,`` mix-ups are repaired). A numeric
    ``a/b/yyyy`` valid both ways is read day-first, or month-first when ``prefer_mdy``
    (US documents); ``.``-separated dates are always day-first.
    """
    # month names with digit look-alikes ("0ct", "N0v", "Ju1") -> letters
    text = re.sub(r"(?<![0-9A-Za-z])([0-9A-Za-z]{3,9})(?![0-9A-Za-z])",
                  lambda m: _month_word_fix(m.group(1)), text)
    out: list[tuple[_dt.date, float, int]] = []
    for m in _D_ISO.finditer(text):
        d = _mk_date(int(m.group(1)), int(m.group(3)), int(m.group(4)))
        if d:
            out.append((d, 1.0, m.start()))
    for m in _D_NUM.finditer(text):
        if any(abs(m.start() - p) < 3 for _, _, p in out):
            continue
        a, sep, b, y = int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(5))
        seps = {sep, m.group(4)}
        if len(seps) > 1 and seps != {".", ","}:  # mixed separators: only "." read as ","
            continue
        if seps == {","}:
            continue  # "1,2,2026" is a list, not a date
        sep = "." if "," in seps else sep
        q = (1.0 if len(m.group(5)) == 4 else 0.8) * (0.9 if "," in seps else 1.0)
        dmy, mdy = _mk_date(y, b, a), _mk_date(y, a, b)
        if dmy and mdy and dmy != mdy:
            d, q = ((mdy if prefer_mdy and sep != "." else dmy), q * 0.85)
        else:
            d = dmy or mdy
        if d:
            out.append((d, q, m.start()))
    for rx, order in ((_D_DMONY, "dmy"), (_D_MONDY, "mdy"), (_D_DMONYY, "dmy")):
        for m in rx.finditer(text):
            if order == "dmy":
                day, mon, year = m.group(1), m.group(2), m.group(3)
            else:
                mon, day, year = m.group(1), m.group(2), m.group(3)
            mq = _month(mon)
            if not mq:
                continue
            d = _mk_date(int(year), mq[0], int(day))
            if d and not any(abs(m.start() - p) < 3 for _, _, p in out):
                out.append((d, mq[1] * (0.9 if len(year) == 2 else 1.0), m.start()))
    if not out:
        for m in _D_GLUED.finditer(text):
            d = _mk_date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
            if d:
                out.append((d, 0.5, m.start()))
    return out



@dataclass(frozen=True)
class DatePick:
    """The document date (``None`` when no date was found), its confidence, the row it was
    read from, whether its year is plausible, and every row that holds some date."""

    date: _dt.date | None
    conf: float
    row: int
    plausible: bool
    date_rows: frozenset[int]


def pick_date(rows: list[Row], prefer_mdy: bool = False) -> DatePick:
    """The document date: every date of every row scored by parse quality x its label
    (issue/invoice date x1.3; due, expiry, delivery, birth ... x0.3) x plausibility (year
    in [2000, this year + 1], else x0.3) x ``1 - 0.01 * row`` (earlier wins ties)."""
    this_year = _dt.date.today().year
    best: tuple[float, _dt.date | None, float, int] = (-1.0, None, 0.0, -1)
    date_rows: set[int] = set()
    for i, r in enumerate(rows):
        for d, q, pos in find_dates(r.text, prefer_mdy=prefer_mdy):
            date_rows.add(i)
            ctx = " ".join(letters_key(r.text[:pos]).split()[-3:])  # the label right before it
            s = q
            if label_score(ctx, DATE_BAD) >= 0.85:
                s *= 0.3
            elif label_score(ctx, DATE_GOOD) >= 0.85:
                s *= 1.3
            plausible = 2000 <= d.year <= this_year + 1
            if not plausible:
                s *= 0.3
            s *= 1.0 - 0.01 * min(i, 30)
            if s > best[0]:
                best = (s, d, r.conf * min(1.0, q) * (1.0 if plausible else 0.4), i)
    d = best[1]
    return DatePick(d, best[2], best[3], d is not None and 2000 <= d.year <= this_year + 1, frozenset(date_rows))
