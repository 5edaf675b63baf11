"""Money amounts in OCR text: number tokens with any decimal/thousands convention,
space-grouped thousands, and the rightmost amount of a label row."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ocr_agents.extract.currency import CODES_SET

# currency signs that are letters, printed glued to amounts (RM12.50, Rp5000, 12,50zł)
LOCAL_SIGNS = frozenset({"RM", "RP", "RS", "KR", "FR", "SFR", "TL"})
LOCAL_SIGNS_AFTER = frozenset({"zł", "zl", "kč", "kc", "kr", "ft", "lei", "tl", "rm", "eur", "euro", "euros"})
TOL = 0.015  # two amounts are equal when they differ by at most this (rounding of cents)


def close(a: float, b: float) -> bool:
    """``a`` and ``b`` are the same amount (within :data:`TOL`)."""
    return abs(a - b) <= TOL


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
    # ".01" / ",50": cents without the leading zero (rounding lines); same length kept
    masked = re.sub(r"(?<![\d.,])\s([.,])(\d{2})(?!\d)", lambda m: "0" + m.group(1) + m.group(2), masked)
    # "12. 50" / "12 .50" -> decimals split by an OCR space
    masked = re.sub(r"(\d)([.,]) (\d{2})(?!\d)", lambda m: m.group(1) + m.group(2) + m.group(3) + " ", masked)
    masked = re.sub(r"(\d) ([.,])(\d{2})(?!\d)", lambda m: m.group(1) + m.group(2) + m.group(3) + " ", masked)
    out: list[Amount] = []
    for m in _NUM.finditer(masked):
        tok = m.group(2)
        # a number glued to letters is part of a word ("12pk", "0.5L", "A4"), unless the
        # letters are a currency code ("EUR12.50", "12.50USD")
        # letters are a currency code or sign ("EUR12.50", "RM39.00", "12.50USD"), or a
        # receipt's tax code after a two-decimal amount ("75.00SR", "4.00S")
        before = re.search(r"[A-Za-z]*$", masked[max(0, m.start() - 4):m.start()]).group()  # type: ignore[union-attr]
        after = re.match(r"[A-Za-z]*", masked[m.end():m.end() + 5]).group()  # type: ignore[union-attr]
        if before and not (before.upper() in CODES_SET or before.upper() in LOCAL_SIGNS):
            continue
        if after and not (after.upper() in CODES_SET or after.lower() in LOCAL_SIGNS_AFTER or (
                after.isupper() and len(after) <= 3 and re.search(r"[.,]\d\d$", tok))):
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


def readings(text: str) -> list[list[Amount]]:
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


def money_candidates(text: str) -> list[tuple[Amount, float]]:
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

