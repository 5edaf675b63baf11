"""Random content shared by the document kinds: vendors, addresses, dates, line items, totals."""

from __future__ import annotations

import datetime as _dt
import random
from typing import Any

from synth.documents.formats import DATE_STYLES
from synth.documents.vocab import CITIES, CURRENCIES, STREETS, V_A, V_B, V_C, V_CORP, V_SUFFIX


def pick_vendor(r: random.Random, corp: bool = False) -> str:
    """A shop name, or with ``corp`` a company name with a legal suffix."""
    if corp:
        base = f"{r.choice(V_A)} {r.choice(V_B)} {r.choice(V_CORP)}"
        suf = r.choice(V_SUFFIX)
        return f"{base} {suf}".strip()
    return r.choice([f"{r.choice(V_A)} {r.choice(V_B)} {r.choice(V_C)}",
                     f"{r.choice(V_B)} {r.choice(V_C)}",
                     f"The {r.choice(V_A)} {r.choice(V_B)}"])


def pick_address(r: random.Random) -> list[str]:
    """Two address lines: number + street, city + postal code."""
    return [f"{r.randint(1, 999)} {r.choice(STREETS)}",
            f"{r.choice(CITIES)} {r.randint(10000, 99999)}"]


def pick_date(r: random.Random) -> _dt.date:
    """A document date between 2019-01-01 and the end of 2026."""
    return _dt.date(2019, 1, 1) + _dt.timedelta(days=r.randint(0, 8 * 365 - 60))


def pick_date_style(r: random.Random, currency: str) -> str:
    """US documents write numeric dates month-first, all others day-first."""
    styles = [s for s in DATE_STYLES if s not in ("mdy_slash", "dmy_slash")]
    styles += ["mdy_slash", "mdy_slash"] if currency == "USD" else ["dmy_slash", "dmy_slash"]
    return r.choice(styles)


def pick_line_items(r: random.Random, names: list[str], n: int, price_range: tuple[float, float],
                qty_max: int) -> list[dict[str, Any]]:
    """``n`` distinct items of ``names`` with quantity (1..``qty_max``), unit price in ``price_range`` and amount."""
    items = []
    for name in r.sample(names, n):
        q = r.randint(1, qty_max) if r.random() < 0.6 else 1
        up = round(r.uniform(*price_range), 2)
        items.append({"description": name, "quantity": float(q), "unit_price": up,
                      "amount": round(q * up, 2)})
    return items


def pick_totals(r: random.Random, items: list[dict[str, Any]], currency: str) -> tuple[float, float, float, str, float]:
    """``(subtotal, tax, total, tax label, tax rate)`` of ``items`` in ``currency`` (rounded to cents)."""
    subtotal = round(sum(i["amount"] for i in items), 2)
    label = r.choice(CURRENCIES[currency][1])
    rate = r.choice(CURRENCIES[currency][2])
    tax = round(subtotal * rate, 2)
    return subtotal, tax, round(subtotal + tax, 2), label, rate
