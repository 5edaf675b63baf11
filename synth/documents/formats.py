"""How generated documents print dates and amounts, and the currency of a page."""

from __future__ import annotations

import datetime as _dt
import random
from dataclasses import dataclass

from synth.documents.vocab import CURRENCIES, MONTHS


def format_date(d: _dt.date, style: str) -> str:
    """Print ``d`` in one of the styles of :data:`DATE_STYLES`."""
    mon, month = MONTHS[d.month - 1][:3], MONTHS[d.month - 1]
    return {
        "iso": f"{d:%Y-%m-%d}",
        "dmy_slash": f"{d:%d/%m/%Y}",
        "mdy_slash": f"{d:%m/%d/%Y}",
        "dmy_dot": f"{d:%d.%m.%Y}",
        "mon_d_y": f"{mon} {d.day}, {d.year}",
        "month_d_y": f"{month} {d.day}, {d.year}",
        "d_mon_y": f"{d.day} {mon} {d.year}",
        "d_month_y": f"{d.day} {month} {d.year}",
        "d_mon_y_dash": f"{d.day:02d}-{mon}-{d.year}",
        "ymd_slash": f"{d:%Y/%m/%d}",
    }[style]


DATE_STYLES: tuple[str, ...] = ("iso", "dmy_slash", "mdy_slash", "dmy_dot", "mon_d_y", "month_d_y",
                                "d_mon_y", "d_month_y", "d_mon_y_dash", "ymd_slash")


def format_amount(v: float, style: str) -> str:
    """Format ``v`` with 2 decimals: ``us`` 1,234.56 / ``eu`` 1.234,56 / ``plain`` 1234.56 / ``space`` 1 234,56."""
    s = f"{abs(v):,.2f}"
    if style == "eu":
        s = s.replace(",", "_").replace(".", ",").replace("_", ".")
    elif style == "plain":
        s = s.replace(",", "")
    elif style == "space":
        s = s.replace(",", " ").replace(".", ",")
    return ("-" if v < 0 else "") + s


@dataclass
class Money:
    code: str
    symbol: str | None
    num_style: str
    show: str  # "symbol_pre" | "symbol_post" | "code_pre" | "code_post" | "none" (code on header)

    def fmt(self, v: float, bare: bool = False) -> str:
        n = format_amount(v, self.num_style)
        if bare or self.show == "none":
            return n
        if self.show == "symbol_pre":
            return f"{self.symbol}{n}"
        if self.show == "symbol_post":
            return f"{n} {self.symbol}"
        if self.show == "code_pre":
            return f"{self.code} {n}"
        return f"{n} {self.code}"


def pick_money(r: random.Random, currency: str | None = None) -> Money:
    """How a page prints money: currency (random unless given), number style, symbol/code placement."""
    code = currency or r.choice(list(CURRENCIES))
    sym = CURRENCIES[code][0]
    if code == "EUR":
        num = r.choice(["eu", "eu", "plain", "us", "space"])
    elif code == "CHF":
        num = r.choice(["us", "plain"])
    else:
        num = r.choice(["us", "us", "plain"])
    shows = ["code_pre", "code_post", "none"]
    if sym:
        shows += ["symbol_pre", "symbol_pre"] + (["symbol_post"] if code == "EUR" else [])
    return Money(code, sym, num, r.choice(shows))


def rate_str(rate: float) -> str:
    """A tax rate as printed: ``0.0825`` -> ``8.25%``, ``0.2`` -> ``20%``."""
    return f"{rate * 100:.2f}".rstrip("0").rstrip(".") + "%"
