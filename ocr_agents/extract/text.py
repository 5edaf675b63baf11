"""Text normalisation for field extraction: look-alike characters, OCR digit/letter
confusions inside numbers, letters-only label keys and fuzzy label matching, and the
:class:`Row` every extractor reads (one OCR line, normalised, with its geometry)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

from ocr_agents.types import Box, OcrLine

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


def norm(s: str) -> str:
    """NFKC, Latin look-alikes for Greek/Cyrillic letters, ASCII dashes and spaces."""
    return unicodedata.normalize("NFKC", s).translate(_HOMOGLYPHS)


# currency prefixes/suffixes glued to a number: "C$l5.69", "EUR12.5O", "12.5O€"
_MONEY_AFFIX = re.compile(r"^(?:[A-Z]{1,3}\$|[$€£¥₹]|(?:USD|EUR|GBP|CHF|CAD|AUD|JPY)(?=[\dOolIS]))|"
                          r"(?:[$€£¥₹]|(?<=[\dOo])(?:USD|EUR|GBP|CHF|CAD|AUD|JPY))$")


def fix_numeric_words(s: str) -> tuple[str, bool]:
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


def letters_key(s: str) -> str:
    """Lower-case letters-only form of a label for keyword matching (T0TAL -> total)."""
    s = s.lower().translate(_CONFUSABLE_LETTERS)
    return re.sub(r"[^a-z]+", " ", s).strip()


def edit1(a: str, b: str) -> bool:
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
def phrase_match(key: str, phrase: str) -> float:
    """1.0 when ``phrase`` occurs in ``key`` (first 8 words) word-for-word, 0.85 when it
    occurs with at most one edit per word (words of 4+ letters), else 0."""
    kw, pw = key.split()[:8], phrase.split()
    if not pw or len(kw) < len(pw):
        return 0.0
    best = 0.0
    n = len(pw)
    for i in range(len(kw) - n + 1):
        win = kw[i:i + n]
        if win == pw:
            return 1.0
        if best:
            continue
        for a, b in zip(win, pw):
            if a != b and (len(b) < 4 or not edit1(a, b)):
                break
        else:
            best = 0.85
    # glued words ("subtotal" vs "sub total", "grandtotal")
    if best == 0.0 and " " in phrase and phrase.replace(" ", "") in key.replace(" ", ""):
        best = 0.9
    return best



def label_score(key: str, labels: Sequence[str], exclude: Sequence[str] = ()) -> float:
    if any(phrase_match(key, x) >= 0.9 for x in exclude):
        return 0.0
    return max((phrase_match(key, lab) for lab in labels), default=0.0)


@dataclass
class Row:
    idx: int
    text: str          # normalised, OCR-repaired text
    raw: str           # original text
    key: str           # letters-only label key
    conf: float
    box: tuple[float, float, float, float]
    repaired: bool
    page: int = 0



def make_rows(lines: Sequence[OcrLine], text: str) -> list[Row]:
    src: list[tuple[str, float, tuple[float, float, float, float], int]]
    if lines:
        src = [(ln.text, float(ln.confidence), tuple(ln.box) if ln.box else (0, 0, 0, 0), int(ln.page))
               for ln in lines]
    else:
        src = [(t, 1.0, (0.0, 0.0, 0.0, 0.0), 0) for t in text.splitlines()]
    rows = []
    for raw, conf, box, page in src:
        raw = norm(raw).strip()
        if not raw:
            continue
        fixed, rep = fix_numeric_words(raw)
        rows.append(Row(len(rows), fixed, raw, letters_key(fixed), max(0.0, min(1.0, conf)),
                         (tuple(float(v) for v in box) + (0.0, 0.0, 0.0, 0.0))[:4], rep, page))  # type: ignore[arg-type]
    return rows


