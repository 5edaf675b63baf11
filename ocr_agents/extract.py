"""Field extraction from OCR lines of receipts and invoices, with confidences.

:func:`extract_fields` reads ``vendor``, ``date`` (ISO ``YYYY-MM-DD``), ``currency``
(ISO 4217), ``subtotal``, ``tax``, ``total`` (floats in the document's currency) and
line items from OCR lines in reading order. It tolerates OCR noise: O/0, l/I/1, S/5,
B/8 confusions inside numbers, ``,`` or ``.`` decimals, ``,``/``.``/space/``'``
thousands separators, currency symbols and codes, fuzzy keywords (``T0TAL``), labels
and amounts split over two lines, and dates in many formats.

Confidence of a field (``confidences[name]`` in [0, 1])::

    c = ocr * q                       # ocr: confidence of the source line (mean of two
                                      # lines when label and value were split), q: parse
                                      # quality (exact label 1.0, fuzzy 0.85; 2-decimal
                                      # amount 1.0, else 0.7; OCR-confusion repairs 0.9)
    for each consistency check the field takes part in:
        passed: c = c + (1 - c) / 2   # halve the remaining doubt
        failed: c = 0.7 * c
    derived fields (e.g. tax = total - subtotal): c = 0.5 * min(c of their sources)

Checks: ``subtotal + tax == total`` (to 0.015), ``sum(line amounts) == subtotal``
(or ``== total`` when there is no subtotal), tax rate ``tax / subtotal`` in (0, 30 %],
date year in [2000, this year + 1]. A missing field has confidence 0.

Document score (in [0, 1]), a weighted mean of field confidences with penalties::

    score = sum(w_f * c_f) / sum(w_f) * 0.8 ** n_failed_checks
    w = {total: .35, date: .20, vendor: .15, subtotal: .10, tax: .10, currency: .10}
"""

from __future__ import annotations

import datetime as _dt
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import product
from typing import Any, Sequence

from ocr_agents.types import FIELD_NAMES, FieldValue, LineItem, OcrLine
WEIGHTS: dict[str, float] = {"total": 0.35, "date": 0.20, "vendor": 0.15, "subtotal": 0.10, "tax": 0.10,
                             "currency": 0.10}
_TOL = 0.015


@dataclass
class ExtractionResult:
    """What :func:`extract_fields` found.

    ``fields`` maps each found field of :data:`FIELD_NAMES` to its
    :class:`~ocr_agents.types.FieldValue` (absent = not found); :attr:`values` and
    :attr:`confidences` give every field's value (``None``) and confidence (0).
    ``score`` is the document score (module docstring). ``checks`` names each
    consistency check run and whether it passed.
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


# --------------------------------------------------------------------------- text helpers
_CONFUSABLE_DIGITS = str.maketrans({"O": "0", "o": "0", "D": "0", "Q": "0", "l": "1", "I": "1", "|": "1",
                                    "i": "1", "!": "1", "S": "5", "s": "5", "B": "8", "Z": "2", "z": "2",
                                    "G": "6", "g": "9"})
_CONFUSABLE_LETTERS = str.maketrans({"0": "o", "1": "l", "5": "s", "8": "b", "|": "l", "$": "s"})
_CURRENCY_SYMBOLS = "$€£¥₹"


# Greek/Cyrillic look-alikes that recognisers emit inside Latin words ("Jμly", "Tоtal")
_HOMOGLYPHS = str.maketrans({"μ": "u", "υ": "u", "ο": "o", "о": "o", "О": "O", "α": "a", "а": "a", "А": "A",
                             "е": "e", "Е": "E", "ε": "e", "р": "p", "Р": "P", "ρ": "p", "с": "c", "С": "C",
                             "х": "x", "Х": "X", "χ": "x", "і": "i", "ι": "i", "ѕ": "s", "ν": "v", "к": "k",
                             "К": "K", "т": "t", "Т": "T", "м": "m", "М": "M", "н": "h", "Н": "H", "В": "B",
                             "в": "b", "Ι": "I", "Ο": "O", "Α": "A", "Β": "B", "Ε": "E", "Κ": "K", "Μ": "M",
                             "Ν": "N", "Ρ": "P", "Τ": "T", "Χ": "X", "Υ": "Y", "Ζ": "Z", "\u2013": "-",
                             "\u2014": "-", "\u2212": "-", "\u00a0": " ", "\u2018": "'", "\u2019": "'"})


def _norm(s: str) -> str:
    """NFKC, Latin look-alikes for Greek/Cyrillic letters, ASCII dashes and spaces."""
    return unicodedata.normalize("NFKC", s).translate(_HOMOGLYPHS)


# currency prefixes/suffixes glued to a number: "C$l5.69", "EUR12.5O", "12.5O€"
_MONEY_AFFIX = re.compile(r"^(?:[A-Z]{1,3}\$|[$€£¥₹]|(?:USD|EUR|GBP|CHF|CAD|AUD|JPY)(?=[\dOolIS]))|"
                          r"(?:[$€£¥₹]|(?<=[\dOo])(?:USD|EUR|GBP|CHF|CAD|AUD|JPY))$")


def _fix_numeric_words(s: str) -> tuple[str, bool]:
    """Repair OCR letter/digit confusions inside number-like words.

    A word (whitespace-separated, currency symbols and ``:`` trimmed) is repaired when
    it has at least one digit and every other character is a separator or a confusable
    letter, and either digits outnumber letters or the repaired word is shaped like an
    amount (``1O.8O``) or a date. Returns the text and whether it changed.
    """
    out, changed = [], False
    for word in s.split(" "):
        core = _MONEY_AFFIX.sub("", word).strip(_CURRENCY_SYMBOLS + ":;()")
        digits = sum(c.isdigit() for c in core)
        letters = [c for c in core if not c.isdigit() and c not in ".,'-/"]
        if (digits >= 1 and letters and all(c in "OoDQlIi|!SsBZzGg" for c in letters)
                and not re.fullmatch(r"\d+(st|nd|rd|th)", core)):
            fixed = core.translate(_CONFUSABLE_DIGITS)
            # accept when digits dominate, or when the result is shaped like an amount/date
            if len(letters) < digits or re.fullmatch(r"\d[\d,.' ]*[.,]\d{2}|\d{1,4}([-/.])\d{1,2}\1\d{2,4}", fixed):
                word = word.replace(core, fixed)
                changed = True
        out.append(word)
    return " ".join(out), changed


def _letters_key(s: str) -> str:
    """Lower-case letters-only form of a label for keyword matching (T0TAL -> total)."""
    s = s.lower().translate(_CONFUSABLE_LETTERS)
    return re.sub(r"[^a-z]+", " ", s).strip()


def _edit1(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by at most one edit (Levenshtein)."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la > lb:
        a, b, la, lb = b, a, lb, la
    i = j = diffs = 0
    while i < la and j < lb:
        if a[i] != b[j]:
            diffs += 1
            if diffs > 1:
                return False
            if la == lb:
                i += 1
            j += 1
        else:
            i += 1
            j += 1
    return diffs + (lb - j) + (la - i) <= 1


@lru_cache(maxsize=1 << 16)
def _phrase_match(key: str, phrase: str) -> float:
    """1.0 when ``phrase`` occurs in ``key`` (first 8 words) word-for-word, 0.85 when it
    occurs with at most one edit per word (words of 4+ letters), else 0."""
    kw, pw = key.split()[:8], phrase.split()
    if not pw or len(kw) < len(pw):
        return 0.0
    best = 0.0
    for i in range(len(kw) - len(pw) + 1):
        win = kw[i:i + len(pw)]
        if win == pw:
            return 1.0
        if all(a == b or (len(b) >= 4 and _edit1(a, b)) for a, b in zip(win, pw)):
            best = 0.85
    # glued words ("subtotal" vs "sub total", "grandtotal")
    if best == 0.0 and " " in phrase and phrase.replace(" ", "") in key.replace(" ", ""):
        best = 0.9
    return best


# --------------------------------------------------------------------------- amounts
@dataclass(frozen=True)
class Amount:
    """A money-like number found in a line: ``value``, its span in the line, whether it
    has exactly two decimals, and whether it was read by joining space-separated
    thousands groups."""

    value: float
    start: int
    end: int
    two_decimals: bool
    spaced: bool = False


_PCT = re.compile(r"\d+(?:[.,]\d+)?\s?%")
_NUM = re.compile(r"(?<![\d])(-?)(\d[\d,.']*\d|\d)(?![\d])")


def _parse_number(tok: str) -> tuple[float, bool] | None:
    """Value of a number token with ``,``/``.``/``'`` separators; (value, two_decimals)."""
    seps = [c for c in tok if c in ",.'"]
    if not seps:
        return float(tok), False
    last = max(tok.rfind(","), tok.rfind("."))
    tail = tok[last + 1:]
    kinds = set(seps)
    if len(kinds) > 1 or (len(seps) == 1 and len(tail) != 3) or (len(seps) == 1 and tok[last] == "'"):
        # the last separator is the decimal point (unless it is an apostrophe)
        if tok[last] == "'":
            return None
        intpart = re.sub(r"[,.']", "", tok[:last])
        if not intpart or len(tail) > 2:
            if len(kinds) > 1 and len(tail) == 3:
                return None
            if len(tail) > 2:
                return None
        groups = re.split(r"[,.']", tok[:last])
        if len(groups) > 1 and any(len(g) != 3 for g in groups[1:]):
            return None
        return float(f"{intpart or '0'}.{tail}"), len(tail) == 2
    # a single kind of separator, used as thousands grouping (1,234 / 1.234.567)
    groups = re.split(r"[,.']", tok)
    if len(groups[0]) > 3 or any(len(g) != 3 for g in groups[1:]):
        return None
    return float("".join(groups)), False


def find_amounts(text: str, join_spaced: bool = True) -> list[Amount]:
    """Money-like numbers in ``text`` (already OCR-repaired), left to right.

    Percentages are skipped. With ``join_spaced``, ``3 330,09`` / ``12 345.00`` is read
    as one number (space-separated thousands); otherwise as two.
    """
    masked = _PCT.sub(lambda m: " " * len(m.group()), text)
    # "12. 50" / "12 .50" -> decimals split by an OCR space
    masked = re.sub(r"(\d)([.,]) (\d{2})(?!\d)", lambda m: m.group(1) + m.group(2) + m.group(3) + " ", masked)
    masked = re.sub(r"(\d) ([.,])(\d{2})(?!\d)", lambda m: m.group(1) + m.group(2) + m.group(3) + " ", masked)
    out: list[Amount] = []
    for m in _NUM.finditer(masked):
        tok = m.group(2)
        # a number glued to letters is part of a word ("12pk", "0.5L", "A4"), unless the
        # letters are a currency code ("EUR12.50", "12.50USD")
        before, after = masked[max(0, m.start() - 3):m.start()], masked[m.end():m.end() + 3]
        if before[-1:].isalpha() and not (before.isupper() and before in _CODES_SET):
            continue
        if after[:1].isalpha() and not (after.isupper() and after in _CODES_SET):
            continue
        parsed = _parse_number(tok)
        if parsed is None:
            continue
        v, two = parsed
        if m.group(1) and (m.start() == 0 or not masked[m.start() - 1].isalnum()):
            v = -v
        out.append(Amount(v, m.start(), m.end(), two))
    if join_spaced and len(out) > 1:
        # runs like "1 234 567,89": a 1-3 digit head, then 3-digit groups, the last with decimals
        joined: list[Amount] = []
        i = 0
        while i < len(out):
            a = out[i]
            if a.value >= 0 and re.fullmatch(r"\d{1,3}", masked[a.start:a.end]):
                j, val, end = i, a.value, a.end
                while (j + 1 < len(out) and masked[end:out[j + 1].start] == " "
                       and re.fullmatch(r"\d{3}(?:[.,]\d{2})?", masked[out[j + 1].start:out[j + 1].end])):
                    j += 1
                    val, end = val * 1000 + out[j].value, out[j].end
                    if out[j].two_decimals:
                        break
                if j > i and out[j].two_decimals:
                    joined.append(Amount(round(val, 2), a.start, end, True, spaced=True))
                    i = j + 1
                    continue
            joined.append(a)
            i += 1
        out = joined
    return out


def _readings(text: str) -> list[list[Amount]]:
    """All readings of the numbers in ``text`` where each ``d{1,3} ddd[,.]dd`` pair may or
    may not be one space-grouped number (at most 2**6 readings; plain reading first)."""
    base = find_amounts(text, join_spaced=False)
    pairs = [i for i in range(len(base) - 1)
             if base[i].value >= 0 and re.fullmatch(r"\d{1,3}", text[base[i].start:base[i].end])
             and text[base[i].end:base[i + 1].start] == " " and base[i + 1].two_decimals
             and re.fullmatch(r"\d{3}[.,]\d{2}", text[base[i + 1].start:base[i + 1].end])][:6]
    out = []
    for mask in range(1 << len(pairs)):
        chosen = {pairs[b] for b in range(len(pairs)) if mask >> b & 1}
        if any(i + 1 in chosen for i in chosen):
            continue
        cur: list[Amount] = []
        i = 0
        while i < len(base):
            if i in chosen:
                a, b = base[i], base[i + 1]
                cur.append(Amount(round(a.value * 1000 + b.value, 2), a.start, b.end, True, spaced=True))
                i += 2
            else:
                cur.append(base[i])
                i += 1
        out.append(cur)
    return out


def _money_candidates(text: str) -> list[tuple[Amount, float]]:
    """Rightmost amount of a label row, in up to two readings (joined / plain), each with
    a parse quality."""
    res: list[tuple[Amount, float]] = []
    for join in (True, False):
        am = find_amounts(text, join_spaced=join)
        if am:
            a = am[-1]
            q = 1.0 if a.two_decimals else 0.7
            if a.spaced:
                q *= 0.95
            if all(a.value != b.value for b, _ in res):
                res.append((a, q))
    return res


# --------------------------------------------------------------------------- labels
_TOTAL_LABELS = ["grand total", "total due", "amount due", "balance due", "total amount", "total to pay",
                 "amount payable", "total payable", "total", "balance", "to pay", "total ttc", "gesamt",
                 "summe", "montant total"]
_SUBTOTAL_LABELS = ["subtotal", "sub total", "net amount", "net total", "total net", "total excl", "net",
                    "total before tax", "amount before tax", "total ht", "zwischensumme"]
_TAX_LABELS = ["sales tax", "tax", "vat", "gst", "hst", "pst", "qst", "mwst", "tva", "iva", "ust", "btw",
               "tax amount"]
_NOT_TOTAL = ["subtotal", "sub total", "total tax", "tax total", "total items", "total qty", "total quantity",
              "total savings", "total discount", "total net", "net total", "total excl", "total before",
              "items total", "total vat"]
_NOT_TAX = ["vat id", "vat no", "vat number", "vat reg", "tax id", "tax no", "tax number", "tax invoice",
            "gst no", "gst reg", "abn", "ust id", "tva intra", "incl"]
_PAYMENT = ["cash", "change", "tendered", "card", "visa", "mastercard", "amex", "debit", "credit", "paid",
            "tip", "rounding", "payment terms", "iban"]


def _label_score(key: str, labels: Sequence[str], exclude: Sequence[str] = ()) -> float:
    if any(_phrase_match(key, x) >= 0.9 for x in exclude):
        return 0.0
    return max((_phrase_match(key, lab) for lab in labels), default=0.0)


@dataclass
class _Row:
    idx: int
    text: str          # normalised, OCR-repaired text
    raw: str           # original text
    key: str           # letters-only label key
    conf: float
    box: tuple[float, float, float, float]
    repaired: bool
    page: int = 0


@dataclass
class _Cand:
    value: float
    conf: float
    row: int
    derived: bool = False
    src: tuple[int, ...] = ()  # rows the value was read from (label row first)


def _field_cands(rows: list[_Row], labels: Sequence[str], exclude: Sequence[str]) -> list[_Cand]:
    out: list[_Cand] = []
    for i, r in enumerate(rows):
        # the label is what precedes the first amount on the row
        am = find_amounts(r.text, join_spaced=False)
        label_part = r.text[: am[0].start] if am else r.text
        key = _letters_key(label_part)
        if not key or len(key) > 40:
            continue
        ls = _label_score(key, labels, exclude)
        if ls <= 0:
            continue
        if key.split()[0] in ("net",) and ("terms" in key or "days" in key):
            continue
        cands = _money_candidates(r.text)
        conf = r.conf
        src: tuple[int, ...] = (i,)
        if not cands and i + 1 < len(rows):  # value on the next line
            nxt = rows[i + 1]
            bare = re.sub(r"\b(?:[A-Z]{3}|[A-Z]{1,2}\$)", "", nxt.text)
            if not any(c.isalpha() for c in bare):  # a bare amount, maybe with a currency
                cands = [(a, q * 0.9) for a, q in _money_candidates(nxt.text)]
                conf = (r.conf + nxt.conf) / 2
                src = (i, i + 1)
        for a, q in cands:
            if a.value < 0:
                continue
            q2 = q * ls * (0.9 if r.repaired else 1.0)
            out.append(_Cand(round(a.value, 2), conf * q2, i, src=src))
    return out


# --------------------------------------------------------------------------- dates
_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"]
_MON_ALT = {"sept": 9, "mär": 3, "mrz": 3, "dez": 12, "okt": 10, "mai": 5, "juin": 6, "juil": 7, "fev": 2,
            "déc": 12, "avr": 4}
_MON_RE = r"([A-Za-zéäû]{3,10})\.?"
_YEAR_END = r"(?:(?!\d)|(?=\d{1,2}:\d{2}))"  # a year may be glued to a following time (202509:37)
_D_NUM = re.compile(r"(?<![\d.,])(\d{1,2})\s?([/.,\-])\s?(\d{1,2})\s?([/.,\-])\s?(\d{4}" + _YEAR_END
                    + r"|\d{2}(?![\d]|[.,]\d))")
_D_ISO = re.compile(r"(?<!\d)(\d{4})\s?([/.\-])\s?(\d{1,2})\s?\2\s?(\d{1,2})(?:(?!\d)|(?=\d{1,2}:\d{2}))")
_D_DMONY = re.compile(r"(?<!\d)(\d{1,2})(?:st|nd|rd|th)?[\s\-.]*" + _MON_RE + r"[\s\-.,']*(\d{4})" + _YEAR_END)
_D_MONDY = re.compile(_MON_RE + r"[\s\-.]*(\d{1,2})(?:(?:st|nd|rd|th)[\s,.\-]*|[\s,.\-]+)(\d{4})" + _YEAR_END)
_DATE_GOOD = ["date", "invoice date", "issue date", "issued", "dated", "receipt date", "purchase date",
              "transaction date", "datum", "order date", "billing date"]
_DATE_BAD = ["due", "payment due", "due date", "expiry", "expires", "exp", "valid", "valid until", "delivery",
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
        if len(t2) >= 5 and _edit1(t2, name):
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
    for rx, order in ((_D_DMONY, "dmy"), (_D_MONDY, "mdy")):
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
                out.append((d, mq[1], m.start()))
    return out


# --------------------------------------------------------------------------- currency
_CODES = ["USD", "EUR", "GBP", "CHF", "CAD", "AUD", "JPY", "CNY", "INR", "SEK", "NOK", "DKK", "PLN", "CZK",
          "NZD", "SGD", "HKD", "MXN", "BRL", "ZAR"]


_CODES_SET = frozenset(_CODES)


def _currency(rows: list[_Row]) -> tuple[str | None, float, int]:
    """(ISO code, confidence, index of the row with the strongest cue) or (None, 0, -1)."""
    votes: dict[str, float] = {}
    confs: dict[str, list[float]] = {}
    where: dict[str, tuple[float, int]] = {}

    def vote(code: str, w: float, c: float) -> None:
        votes[code] = votes.get(code, 0.0) + w
        confs.setdefault(code, []).append(c)
        if code not in where or w > where[code][0]:
            where[code] = (w, r.idx)

    for r in rows:
        t = r.raw
        for code in re.findall(r"(?<![A-Z])([A-Z]{3})(?![A-Z])", t.upper() if t.isupper() else t):
            if code in _CODES:
                vote(code, 2.0, r.conf)
        t2 = re.sub(r"(CA|C|AU|A|US|NZ|HK|S)\$", lambda m: f" {m.group(1)}$ ", t)
        for sym in re.findall(r"(?:CA|C|AU|A|US|NZ|HK|S)?\$|€|£|¥|₹", t2):
            code = {"$": "USD", "US$": "USD", "C$": "CAD", "CA$": "CAD", "A$": "AUD", "AU$": "AUD",
                    "NZ$": "NZD", "HK$": "HKD", "S$": "SGD", "€": "EUR", "£": "GBP", "¥": "JPY",
                    "₹": "INR"}.get(sym)
            if code:
                vote(code, 1.0, r.conf)
    if not votes:
        return None, 0.0, -1
    best = max(votes, key=lambda c: votes[c])
    share = votes[best] / sum(votes.values())
    conf = sum(confs[best]) / len(confs[best])
    return best, conf * share * (1.0 if votes[best] >= 2 else 0.85), where[best][1]


# --------------------------------------------------------------------------- vendor
_NOT_VENDOR = ["invoice", "tax invoice", "receipt", "sales receipt", "bill to", "ship to", "date", "tel",
               "phone", "fax", "www", "email", "customer", "welcome", "cashier", "vat id", "page"]


def _vendor(rows: list[_Row], date_rows: set[int]) -> tuple[str | None, float, int]:
    """(vendor name, confidence, row index) or (None, 0, -1)."""
    heights = [r.box[3] - r.box[1] for r in rows[:6]]
    max_h = max(heights) if heights and max(heights) > 0 else 0.0
    best: tuple[float, str | None, float, int] = (0.0, None, 0.0, -1)
    for i, r in enumerate(rows[:6]):
        if i in date_rows:
            continue
        # a document title printed on the vendor's row (maybe glued to it by the OCR)
        t = re.sub(r"\s*(tax\s*)?([il1|]?nv[o0]ice|receipt)\s*$", "", r.raw.strip(), flags=re.I).strip(" :-|")
        letters = sum(c.isalpha() for c in t)
        if letters < 3 or letters / max(1, len(t.replace(" ", ""))) < 0.6:
            continue
        key = _letters_key(t)
        if (any(_phrase_match(key, x) >= 0.9 for x in _NOT_VENDOR) or re.match(r"^\d+\s", t)
                or key in _TOTAL_LABELS or key in _SUBTOTAL_LABELS or key in _TAX_LABELS):
            continue
        s = 1.0 - 0.15 * i
        if max_h > 0:
            s *= 0.6 + 0.4 * (heights[i] / max_h)
        if s > best[0]:
            best = (s, t, r.conf * min(1.0, 0.5 + 0.5 * s), i)
    return best[1], best[2], best[3]


# --------------------------------------------------------------------------- line items
def _item_from_numbers(desc: str, nums: list[Amount], lead_qty: float | None) -> tuple[dict, float] | None:
    """Item dict and a parse quality from the numbers of an item row (amount last)."""
    if not nums or not nums[-1].two_decimals:
        return None
    amount = nums[-1].value
    qty, unit, q = lead_qty, None, 0.75
    if len(nums) >= 3:
        qv, uv = nums[-3].value, nums[-2].value
        if _close(qv * uv, amount):
            qty, unit, q = qv, uv, 1.0
        elif lead_qty is None:
            qty, unit, q = qv, uv, 0.6
    if unit is None and len(nums) >= 2:
        a = nums[-2].value
        if qty is not None and _close(qty * a, amount):
            unit, q = a, 1.0
        elif _close(a, amount):
            qty, unit, q = 1.0, a, 0.9
        elif a.is_integer() and a > 0 and not nums[-2].two_decimals and qty is None:
            qty, unit, q = a, round(amount / a, 2), 0.7
        else:
            unit, q = a, 0.5
    if qty is None:
        qty = 1.0
    if unit is None:
        unit = round(amount / qty, 2) if qty else amount
        if qty != 1.0 and not _close(unit * qty, amount):
            q = min(q, 0.5)
    return {"description": desc, "quantity": float(qty), "unit_price": float(unit), "amount": float(amount)}, q


def _parse_item_row(text: str) -> tuple[dict, float] | None:
    """One line item from a row like ``desc [qty] [unit] amount``, ``2 x desc amount``,
    ``desc 2 @ 3.50 7.00`` or ``2 x 3.50 7.00`` (desc empty). Tries plain and
    space-joined number readings and keeps the most consistent."""
    best: tuple[dict, float] | None = None
    for nums in _readings(text):
        if not nums:
            continue
        lead_qty = None
        t = text
        m = re.match(r"^\s*(\d{1,3})\s*[xX×*]\s+(?=\D)", t)
        if m:
            lead_qty = float(m.group(1))
            nums = [n for n in nums if n.start >= m.end()]
            t = t[m.end():]
            nums = [Amount(n.value, n.start - m.end(), n.end - m.end(), n.two_decimals, n.spaced) for n in nums]
        desc_end = nums[0].start if nums else len(t)
        desc = t[:desc_end]
        desc = re.sub(r"\s*(\d+\s*[xX×@*]|[xX×@*])\s*$", "", desc).strip(" :-.$€£")
        m2 = re.search(r"(?<![\w.,])(\d{1,3})\s*[xX×@*]\s*[\d$€£]", t)
        if m2 and len(nums) == 2:
            nums = [Amount(float(m2.group(1)), 0, 0, False)] + nums
        got = _item_from_numbers(desc, nums, lead_qty)
        if got and (best is None or got[1] > best[1]):
            best = got
    return best


def _line_items(rows: list[_Row], start: int, end: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    pending_desc: _Row | None = None
    for r in rows[start:end]:
        key = _letters_key(r.text)
        if any(_phrase_match(key, x) >= 0.9 for x in _PAYMENT + _TOTAL_LABELS + _SUBTOTAL_LABELS):
            pending_desc = None
            continue
        if re.fullmatch(r"[\s\-=*_.~#]*", r.text):
            pending_desc = None
            continue
        got = _parse_item_row(r.text)
        if got is None:
            letters = sum(c.isalpha() for c in r.text)
            pending_desc = r if letters >= 3 and not find_amounts(r.text) else None
            continue
        item, q = got
        conf = r.conf
        item["_rows"] = (r.idx,)
        if not item["description"] and pending_desc is not None:
            item["description"] = pending_desc.raw.strip()
            conf = (conf + pending_desc.conf) / 2
            item["_rows"] = (pending_desc.idx, r.idx)
        pending_desc = None
        if not item["description"] or sum(c.isalpha() for c in item["description"]) < 2:
            continue
        item["confidence"] = round(conf * q, 4)
        items.append(item)
    return items


# --------------------------------------------------------------------------- main
def _close(a: float, b: float) -> bool:
    return abs(a - b) <= _TOL


def _boost(c: float, passed: bool) -> float:
    return c + (1.0 - c) * 0.5 if passed else c * 0.7


def _rows(lines: Sequence[OcrLine], text: str) -> list[_Row]:
    src: list[tuple[str, float, tuple[float, float, float, float], int]]
    if lines:
        src = [(ln.text, float(ln.confidence), tuple(ln.box) if ln.box else (0, 0, 0, 0), int(ln.page))
               for ln in lines]
    else:
        src = [(t, 1.0, (0.0, 0.0, 0.0, 0.0), 0) for t in text.splitlines()]
    rows = []
    for raw, conf, box, page in src:
        raw = _norm(raw).strip()
        if not raw:
            continue
        fixed, rep = _fix_numeric_words(raw)
        rows.append(_Row(len(rows), fixed, raw, _letters_key(fixed), max(0.0, min(1.0, conf)),
                         (tuple(float(v) for v in box) + (0.0, 0.0, 0.0, 0.0))[:4], rep, page))  # type: ignore[arg-type]
    return rows


def _evidence(rows: list[_Row], src: Sequence[int], value: str | float, conf: float) -> FieldValue:
    """A field value read from ``rows[src]``: their raw texts, page and covering box
    (``src`` empty: derived, page -1, no box). Rows without geometry give no box."""
    used = [rows[i] for i in src if 0 <= i < len(rows)]
    if not used:
        return FieldValue(value, conf)
    page = used[0].page
    boxes = [r.box for r in used if r.page == page and r.box[2] > r.box[0] and r.box[3] > r.box[1]]
    box = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
           max(b[3] for b in boxes)) if boxes else None
    return FieldValue(value, conf, "\n".join(r.raw for r in used), page, box)


def extract_fields(lines: Sequence[OcrLine], text: str) -> ExtractionResult:
    """Extract receipt/invoice fields from OCR ``lines`` (reading order).

    ``text`` is used instead when ``lines`` is empty (one row per text line,
    confidence 1). Amounts are floats in the document currency; the date is ISO
    ``YYYY-MM-DD``. Confidences and the score follow the module docstring.
    """
    rows = _rows(lines, text)
    conf: dict[str, float] = {k: 0.0 for k in FIELD_NAMES}
    fields: dict[str, Any] = {k: None for k in FIELD_NAMES}
    src: dict[str, tuple[int, ...]] = {}
    checks: dict[str, bool] = {}
    if not rows:
        return ExtractionResult({}, [], 0.0, checks)

    # currency first: it disambiguates numeric dates (US month-first)
    cur, cur_conf, cur_row = _currency(rows)
    fields["currency"], conf["currency"], src["currency"] = cur, cur_conf, (cur_row,)

    # date
    this_year = _dt.date.today().year
    best_date: tuple[float, _dt.date | None, float, int] = (-1.0, None, 0.0, -1)
    date_rows: set[int] = set()
    for i, r in enumerate(rows):
        for d, q, pos in find_dates(r.text, prefer_mdy=cur == "USD"):
            date_rows.add(i)
            ctx = " ".join(_letters_key(r.text[:pos]).split()[-3:])  # the label right before it
            s = q
            if _label_score(ctx, _DATE_BAD) >= 0.85:
                s *= 0.3
            elif _label_score(ctx, _DATE_GOOD) >= 0.85:
                s *= 1.3
            plausible = 2000 <= d.year <= this_year + 1
            if not plausible:
                s *= 0.3
            s *= 1.0 - 0.01 * min(i, 30)  # earlier dates win ties
            if s > best_date[0]:
                best_date = (s, d, r.conf * min(1.0, q) * (1.0 if plausible else 0.4), i)
    if best_date[1] is not None:
        fields["date"] = best_date[1].isoformat()
        conf["date"] = best_date[2]
        src["date"] = (best_date[3],)
        checks["date_plausible"] = 2000 <= best_date[1].year <= this_year + 1

    fields["vendor"], conf["vendor"], vendor_row = _vendor(rows, date_rows)
    src["vendor"] = (vendor_row,)

    # money: candidates per field, choose the most consistent combination
    tot = _field_cands(rows, _TOTAL_LABELS, _NOT_TOTAL + _PAYMENT)
    sub = _field_cands(rows, _SUBTOTAL_LABELS, _PAYMENT)
    tax = [c for c in _field_cands(rows, _TAX_LABELS, _NOT_TAX + _PAYMENT)]
    tot, sub, tax = (sorted(c, key=lambda k: -k.conf)[:8] for c in (tot, sub, tax))  # bound the search
    sub_rows = {c.row for c in sub}
    tot = [c for c in tot if c.row not in sub_rows]
    tax = [c for c in tax if c.row not in sub_rows]
    first_money_row = min([c.row for c in tot + sub + tax], default=len(rows))
    items = _line_items(rows, 0, first_money_row)
    items_sum = round(sum(it["amount"] for it in items), 2) if items else None

    def combo_score(t: _Cand | None, s: _Cand | None, x: _Cand | None) -> float:
        sc = sum(c.conf for c in (t, s, x) if c is not None)
        if t is not None:
            sc += 0.5 + 0.02 * t.row / max(1, len(rows))  # a total is wanted; later totals win ties
        if t and s and x and _close(s.value + x.value, t.value):
            sc += 3.0
        if s and items_sum is not None and _close(s.value, items_sum):
            sc += 1.0
        if t and not s and items_sum is not None and _close(t.value, items_sum):
            sc += 1.0
        if t and s and t.value + _TOL < s.value:
            sc -= 2.0
        if s and x and s.value > 0 and not 0 <= x.value / s.value <= 0.3:
            sc -= 1.0
        if t and x and x.value >= t.value > 0:
            sc -= 1.0
        return sc

    best = max(product(tot + [None], sub + [None], tax + [None]),
               key=lambda c: combo_score(*c))  # type: ignore[arg-type]
    t, s, x = best

    # derive a missing field from the other two
    if t is None and s is not None and x is not None:
        t = _Cand(round(s.value + x.value, 2), 0.5 * min(s.conf, x.conf), -1, True)
    elif t is None and s is None and items_sum is not None:
        t = _Cand(items_sum, 0.3 * min(it["confidence"] for it in items), -1, True)
    if t is not None and s is not None and x is None and 0 < t.value - s.value <= 0.3 * s.value:
        x = _Cand(round(t.value - s.value, 2), 0.5 * min(s.conf, t.conf), -1, True)
    if t is not None and x is not None and s is None and 0 < x.value < t.value:
        if items_sum is not None and _close(items_sum + x.value, t.value):
            s = _Cand(items_sum, 0.5 * min(x.conf, t.conf), -1, True)
    if t is None:  # last resort: the largest two-decimal amount in the lower half
        amounts = [(a.value, r.conf) for r in rows[len(rows) // 2:] for a in find_amounts(r.text)
                   if a.two_decimals and a.value > 0]
        if amounts:
            v, c = max(amounts)
            t = _Cand(v, 0.3 * c, -1, True)

    for name, c in (("total", t), ("subtotal", s), ("tax", x)):
        if c is not None:
            fields[name], conf[name], src[name] = c.value, c.conf, (() if c.derived else c.src)

    # consistency checks
    if t and s and x and not (t.derived or s.derived or x.derived):
        ok = _close(s.value + x.value, t.value)
        checks["subtotal_plus_tax_eq_total"] = ok
        for n in ("total", "subtotal", "tax"):
            conf[n] = _boost(conf[n], ok)
    if items_sum is not None:
        ref = ("subtotal", s) if s is not None and not s.derived else ("total", t)
        if ref[1] is not None and not ref[1].derived:
            ok = _close(items_sum, ref[1].value)
            checks[f"items_sum_eq_{ref[0]}"] = ok
            conf[ref[0]] = _boost(conf[ref[0]], ok)
            for it in items:
                it["confidence"] = round(_boost(it["confidence"], ok), 4)
    if s and x and s.value > 0:
        ok = 0 < x.value / s.value <= 0.3
        checks["tax_rate_plausible"] = ok
        conf["tax"] = _boost(conf["tax"], ok)
    if "date_plausible" in checks:
        conf["date"] = _boost(conf["date"], checks["date_plausible"])

    conf = {k: round(max(0.0, min(1.0, v)), 4) for k, v in conf.items()}
    n_failed = sum(not v for v in checks.values())
    score = sum(WEIGHTS[k] * conf[k] for k in FIELD_NAMES) / sum(WEIGHTS.values()) * 0.8 ** n_failed
    found = {k: _evidence(rows, src.get(k, ()), fields[k], conf[k]) for k in FIELD_NAMES if fields[k] is not None}
    line_items = []
    for it in items:
        ev = _evidence(rows, it["_rows"], 0.0, 0.0)
        line_items.append(LineItem(it["description"], it["quantity"], it["unit_price"], it["amount"],
                                   it["confidence"], ev.raw_text, max(ev.page, 0), ev.box))
    return ExtractionResult(found, line_items, round(max(0.0, min(1.0, score)), 4), checks)
