"""The document currency (ISO 4217) from codes, symbols and country cues.

Votes: an ISO code in the text 2, a currency symbol or a local sign glued to or
beside an amount (``RM 12.50``, ``12,50 zł``) 1.5, a country cue 0.5 (legal forms and
tax names that belong to one currency area: ``Sdn Bhd``/``SST`` -> MYR, ``GmbH``/``MwSt``
-> EUR, ``Sp. z o.o.``/``NIP`` -> PLN, ``Pte Ltd`` -> SGD ...). Confidence: mean line
confidence of the winner's cues x its share of all votes (x 0.85 with a single weak cue).
"""

from __future__ import annotations

import re

from ocr_agents.extract.text import Row

CODES = ["USD", "EUR", "GBP", "CHF", "CAD", "AUD", "JPY", "CNY", "INR", "SEK", "NOK", "DKK", "PLN", "CZK",
         "NZD", "SGD", "HKD", "MXN", "BRL", "ZAR", "MYR", "IDR", "THB", "PHP", "HUF", "RON", "TRY", "KRW", "VND"]
CODES_SET = frozenset(CODES)

_SYMBOLS = {"$": "USD", "US$": "USD", "C$": "CAD", "CA$": "CAD", "A$": "AUD", "AU$": "AUD", "NZ$": "NZD",
            "HK$": "HKD", "S$": "SGD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "₩": "KRW", "₫": "VND",
            "฿": "THB", "₱": "PHP"}
# local signs that are words: only counted next to an amount
_LOCAL_SIGNS = [(re.compile(r"(?<![A-Za-z])RM\s?(?=\d)|(?<=\d)\s?RM(?![A-Za-z])|(?<![A-Za-z])RM$"), "MYR"),
                (re.compile(r"(?<=\d)\s?z[łl](?![a-z])", re.I), "PLN"), (re.compile(r"(?<=\d)\s?K[čc](?![a-z])"), "CZK"),
                (re.compile(r"(?<![A-Za-z])Rp\.?\s?(?=\d)"), "IDR"), (re.compile(r"(?<=\d)\s?Ft(?![a-z])"), "HUF"),
                (re.compile(r"(?<=\d)\s?(?:lei|RON)(?![a-z])"), "RON"), (re.compile(r"(?<=\d)\s?TL(?![a-z])"), "TRY")]
_COUNTRY_CUES = [(re.compile(r"\bsdn\.?\s*bhd\b|\bbhd\b|\bmalaysia\b|\bsst\b|\bs/b\b", re.I), "MYR"),
                 (re.compile(r"\bpte\.?\s*ltd\b|\bsingapore\b", re.I), "SGD"),
                 (re.compile(r"\bgmbh\b|\bmwst\b|\bust-?id|\bdeutschland\b|\bb\.?v\.?$|\bbtw\b|\bs\.?a\.?r\.?l\b|"
                             r"\btva\b|\bs\.?r\.?l\.?\b", re.I), "EUR"),
                 (re.compile(r"\bsp\.?\s*z\s*o\.?\s*o\b|\bnip\b|\bpolska\b", re.I), "PLN"),
                 (re.compile(r"\bpvt\.?\s*ltd\b|\bgstin\b|\bindia\b", re.I), "INR"),
                 (re.compile(r"\bpty\.?\s*ltd\b|\babn\b|\baustralia\b", re.I), "AUD")]


def detect_currency(rows: list[Row]) -> tuple[str | None, float, int]:
    """(ISO code, confidence, index of the row with the strongest cue) or (None, 0, -1)."""
    votes: dict[str, float] = {}
    confs: dict[str, list[float]] = {}
    where: dict[str, tuple[float, int]] = {}

    def vote(code: str, w: float, r: Row) -> None:
        votes[code] = votes.get(code, 0.0) + w
        confs.setdefault(code, []).append(r.conf)
        if code not in where or w > where[code][0]:
            where[code] = (w, r.idx)

    for r in rows:
        t = r.raw
        for code in re.findall(r"(?<![A-Z])([A-Z]{3})(?![A-Z])", t.upper() if t.isupper() else t):
            if code in CODES_SET:
                vote(code, 2.0, r)
        t2 = re.sub(r"(CA|C|AU|A|US|NZ|HK|S)\$", lambda m: f" {m.group(1)}$ ", t)
        for sym in re.findall(r"(?:CA|C|AU|A|US|NZ|HK|S)?\$|[€£¥₹₩₫฿₱]", t2):
            if sym in _SYMBOLS:
                vote(_SYMBOLS[sym], 1.0, r)
        for rx, code in _LOCAL_SIGNS:
            if rx.search(t):
                vote(code, 1.5, r)
        for rx, code in _COUNTRY_CUES:
            if rx.search(t):
                vote(code, 0.5, r)
    if not votes:
        return None, 0.0, -1
    best = max(votes, key=lambda c: votes[c])
    share = votes[best] / sum(votes.values())
    conf = sum(confs[best]) / len(confs[best])
    return best, conf * share * (1.0 if votes[best] >= 2 else 0.85), where[best][1]
