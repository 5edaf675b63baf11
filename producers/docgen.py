"""Deterministic synthetic document renderer with ground truth.

:func:`render_document` draws one page of a given kind (``receipt``, ``invoice``,
``report``, ``form``, ``photo``, ``blank``) with Pillow + DejaVu fonts and returns
the BGR ``uint8`` image plus a ground-truth dict::

    {"kind": str,
     "text": str,            # the printed text, one visual row per line ("\\n"),
                             # items on one row joined by one space, left to right
     "fields": {"vendor": str|None, "date": "YYYY-MM-DD"|None, "currency": ISO 4217|None,
                "subtotal": float|None, "tax": float|None, "total": float|None},
     "line_items": [{"description", "quantity", "unit_price", "amount"}, ...],
     "noisy": bool, "seed": int, "width": int, "height": int}

Sizes correspond to ~150 dpi (``dpi_scale=1``): receipts are ~560-640 px wide
and tall, A4 pages 1240x1754 px. ``noisy=True`` adds scan/photo degradations
(rotation 1.5-5 degrees either way, slight perspective, shading, low contrast,
blur, gaussian noise, JPEG artefacts, sometimes reduced resolution).

Output is a pure function of ``(kind, seed, noisy, dpi_scale)`` (same bytes on
the same library versions). :func:`generate_corpus` writes ``<name>.png`` +
``<name>.json`` pairs for load generators and tests.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import random
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

KINDS: tuple[str, ...] = ("receipt", "invoice", "report", "form", "photo", "blank")

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_FAMILIES: dict[str, tuple[str, str]] = {
    # family -> (regular, bold) file names
    "sans": ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    "serif": ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf"),
    "mono": ("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf"),
    "sans_cond": ("DejaVuSansCondensed.ttf", "DejaVuSansCondensed-Bold.ttf"),
    "serif_cond": ("DejaVuSerifCondensed.ttf", "DejaVuSerifCondensed-Bold.ttf"),
}


@lru_cache(maxsize=256)
def _font(family: str, bold: bool, size: int) -> ImageFont.FreeTypeFont:
    name = _FAMILIES[family][1 if bold else 0]
    return ImageFont.truetype(str(FONT_DIR / name), size)


def _rng_pair(*parts: Any) -> tuple[random.Random, np.random.Generator]:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    s = int.from_bytes(digest[:8], "little")
    return random.Random(s), np.random.default_rng(s)


# --------------------------------------------------------------------------- vocab
_V_A = ["Blue", "Golden", "Green", "Silver", "Red", "Northern", "Sunny", "Old", "Urban", "Royal",
        "Little", "Happy", "Bright", "Grand", "Corner", "Harbor", "Maple", "Oak", "River", "Summit"]
_V_B = ["Harbor", "Leaf", "Bean", "Market", "Oven", "Garden", "Bridge", "Star", "Hill", "Lake",
        "Fox", "Table", "Anchor", "Mill", "Tower", "Field", "Stone", "Crown", "Pine", "Valley"]
_V_C = ["Cafe", "Bakery", "Grocery", "Hardware", "Pharmacy", "Books", "Deli", "Bistro", "Store",
        "Supermarket", "Diner", "Kitchen", "Trading Co.", "Outfitters", "Electronics", "Pizzeria"]
_V_CORP = ["Consulting", "Solutions", "Systems", "Logistics", "Partners", "Labs", "Industries",
           "Services", "Analytics", "Design Studio", "Engineering", "Media"]
_V_SUFFIX = ["Ltd", "LLC", "Inc.", "GmbH", "S.A.", "Ltd.", "B.V.", "AG", ""]
_ITEMS = ["Coffee", "Latte", "Cappuccino", "Espresso", "Green Tea", "Croissant", "Bagel", "Muffin",
          "Sandwich", "Soup of the day", "Orange Juice", "Water 0.5L", "Milk 1L", "Bread", "Eggs 12pk",
          "Apples", "Bananas", "Tomatoes", "Cheese", "Butter", "Pasta", "Rice 1kg", "Olive Oil",
          "Chocolate", "Cookies", "Yogurt", "Chicken Breast", "Salmon", "Batteries AA", "Light Bulb",
          "Screws 50pk", "Hammer", "Tape", "Notebook", "Pen Set", "Shampoo", "Toothpaste", "Soap",
          "Salad", "Pizza Margherita", "Burger", "Fries", "Lemonade", "Iced Tea", "Brownie", "Wrap"]
_SERVICES = ["Consulting services", "Software license", "Web hosting (annual)", "Support plan",
             "Design work", "Project management", "Data migration", "Training session",
             "Cloud storage 1TB", "On-site visit", "Maintenance contract", "Custom development",
             "Translation services", "Printing A4 color", "Office chairs", "Laptop stand",
             "Network audit", "Security review", "Domain renewal", "SEO optimisation"]
_WORDS = ("the of and to in a is that for it as was with be by on not he this are or his from at "
          "which but have an they you were her all she there would their we him been has when who "
          "will more no if out so said what up its about into than them can only other new some "
          "could time these two may then do first any my now such like our over man me even most "
          "made after also did many before must through back years where much your way well down "
          "should because each just those people how too little state good very make world still "
          "own see men work long get here between both life being under never day same another know "
          "while last might us great old year off come since against go came right used take three "
          "report analysis quarterly revenue growth market customers product service operations "
          "development strategy results performance management system process quality review data "
          "project team costs increase period budget forecast summary committee approval meeting").split()
_STREETS = ["Main St", "High Street", "Oak Avenue", "Station Road", "Market Square", "Elm Street",
            "Park Lane", "Church Road", "King Street", "Mill Road", "Bahnhofstr.", "Rue de la Paix"]
_CITIES = ["Springfield", "London", "Berlin", "Paris", "Amsterdam", "Zurich", "Toronto", "Sydney",
           "Boston", "Leeds", "Munich", "Lyon", "Austin", "Dublin", "Vienna"]
_NAMES = ["John Smith", "Maria Garcia", "Chen Wei", "Anna Muller", "James Brown", "Sofia Rossi",
          "Liam O'Brien", "Emma Dubois", "Noah Jansen", "Olivia Taylor", "Lucas Martin", "Mia Novak"]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]

# currency -> (symbol used on the page or None, tax labels, tax rates)
_CURRENCIES: dict[str, tuple[str | None, list[str], list[float]]] = {
    "USD": ("$", ["Tax", "Sales Tax", "TAX"], [0.05, 0.06, 0.07, 0.08, 0.0825, 0.1]),
    "EUR": ("€", ["VAT", "MwSt", "TVA", "Tax"], [0.07, 0.1, 0.19, 0.2, 0.21]),
    "GBP": ("£", ["VAT", "Tax"], [0.05, 0.2]),
    "CHF": (None, ["MWST", "VAT"], [0.026, 0.081]),
    "CAD": ("C$", ["GST", "HST", "Tax"], [0.05, 0.13, 0.15]),
    "AUD": ("A$", ["GST"], [0.1]),
}


# --------------------------------------------------------------------------- formats
def format_date(d: _dt.date, style: str) -> str:
    """Print ``d`` in one of the styles of :data:`DATE_STYLES`."""
    mon, month = _MONTHS[d.month - 1][:3], _MONTHS[d.month - 1]
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
class _Money:
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


def _pick_money(r: random.Random, currency: str | None = None) -> _Money:
    code = currency or r.choice(list(_CURRENCIES))
    sym = _CURRENCIES[code][0]
    if code == "EUR":
        num = r.choice(["eu", "eu", "plain", "us", "space"])
    elif code == "CHF":
        num = r.choice(["us", "plain"])
    else:
        num = r.choice(["us", "us", "plain"])
    shows = ["code_pre", "code_post", "none"]
    if sym:
        shows += ["symbol_pre", "symbol_pre"] + (["symbol_post"] if code == "EUR" else [])
    return _Money(code, sym, num, r.choice(shows))


# --------------------------------------------------------------------------- canvas
@dataclass
class _Canvas:
    """A grey page that records every text item it draws, for the ``text`` truth."""

    w: int
    h: int
    bg: int = 255
    img: Image.Image = field(init=False)
    draw: ImageDraw.ImageDraw = field(init=False)
    items: list[tuple[float, float, float, str]] = field(default_factory=list)  # yc, x, height, text

    def __post_init__(self) -> None:
        self.img = Image.new("L", (self.w, self.h), self.bg)
        self.draw = ImageDraw.Draw(self.img)

    def text(self, x: float, y: float, s: str, font: ImageFont.FreeTypeFont, fill: int = 0,
             align: str = "left") -> float:
        """Draw ``s`` with its top at ``y``; ``x`` is the left, right or centre edge per ``align``.
        Returns the text width in px."""
        if not s:
            return 0.0
        width = font.getlength(s)
        if align == "right":
            x -= width
        elif align == "center":
            x -= width / 2
        self.draw.text((x, y), s, font=font, fill=fill)
        size = font.size
        self.items.append((y + size / 2, x, size, s))
        return width

    def hline(self, x0: float, x1: float, y: float, width: int = 1, fill: int = 0) -> None:
        self.draw.line([(x0, y), (x1, y)], fill=fill, width=width)

    def rect(self, x0: float, y0: float, x1: float, y1: float, width: int = 1, fill: int = 0) -> None:
        self.draw.rectangle([x0, y0, x1, y1], outline=fill, width=width)

    def printed_text(self) -> str:
        """Rows in reading order: items whose vertical centres are within 0.45 x font size
        of a row's first item share that row; each row's items are joined left to right."""
        rows: list[list[tuple[float, float, float, str]]] = []
        for it in sorted(self.items, key=lambda t: (t[0], t[1])):
            if rows and abs(it[0] - rows[-1][0][0]) < 0.45 * max(it[2], rows[-1][0][2]):
                rows[-1].append(it)
            else:
                rows.append([it])
        return "\n".join(" ".join(t[3] for t in sorted(row, key=lambda t: t[1])) for row in rows)

    def array(self) -> np.ndarray:
        return np.asarray(self.img)


def _vendor(r: random.Random, corp: bool = False) -> str:
    if corp:
        base = f"{r.choice(_V_A)} {r.choice(_V_B)} {r.choice(_V_CORP)}"
        suf = r.choice(_V_SUFFIX)
        return f"{base} {suf}".strip()
    return r.choice([f"{r.choice(_V_A)} {r.choice(_V_B)} {r.choice(_V_C)}",
                     f"{r.choice(_V_B)} {r.choice(_V_C)}",
                     f"The {r.choice(_V_A)} {r.choice(_V_B)}"])


def _address(r: random.Random) -> list[str]:
    return [f"{r.randint(1, 999)} {r.choice(_STREETS)}",
            f"{r.choice(_CITIES)} {r.randint(10000, 99999)}"]


def _date(r: random.Random) -> _dt.date:
    return _dt.date(2019, 1, 1) + _dt.timedelta(days=r.randint(0, 8 * 365 - 60))


def _date_style(r: random.Random, currency: str) -> str:
    """US documents write numeric dates month-first, all others day-first."""
    styles = [s for s in DATE_STYLES if s not in ("mdy_slash", "dmy_slash")]
    styles += ["mdy_slash", "mdy_slash"] if currency == "USD" else ["dmy_slash", "dmy_slash"]
    return r.choice(styles)


def _line_items(r: random.Random, names: list[str], n: int, price_range: tuple[float, float],
                qty_max: int) -> list[dict[str, Any]]:
    items = []
    for name in r.sample(names, n):
        q = r.randint(1, qty_max) if r.random() < 0.6 else 1
        up = round(r.uniform(*price_range), 2)
        items.append({"description": name, "quantity": float(q), "unit_price": up,
                      "amount": round(q * up, 2)})
    return items


def _totals(r: random.Random, items: list[dict[str, Any]], currency: str) -> tuple[float, float, float, str, float]:
    subtotal = round(sum(i["amount"] for i in items), 2)
    label = r.choice(_CURRENCIES[currency][1])
    rate = r.choice(_CURRENCIES[currency][2])
    tax = round(subtotal * rate, 2)
    return subtotal, tax, round(subtotal + tax, 2), label, rate


def _rate_str(rate: float) -> str:
    return f"{rate * 100:.2f}".rstrip("0").rstrip(".") + "%"


# --------------------------------------------------------------------------- receipt
def _render_receipt(r: random.Random, s: float) -> tuple[_Canvas, dict[str, Any]]:
    money = _pick_money(r)
    fam = r.choice(["mono", "mono", "sans", "sans_cond", "serif_cond"])
    size = int(r.randint(19, 24) * s)
    f, fb = _font(fam, False, size), _font(fam, True, size)
    fbig = _font(r.choice(["sans", "serif", fam]), True, int(size * r.uniform(1.3, 1.8)))
    items = _line_items(r, _ITEMS, r.randint(2, 9), (0.5, 25.0), 4)
    subtotal, tax, total, tax_label, rate = _totals(r, items, money.code)
    vendor = _vendor(r)
    date = _date(r)
    dstyle = _date_style(r, money.code)
    two_line = r.random() < 0.35
    lh = int(size * r.uniform(1.25, 1.5))
    n_rows = 12 + len(items) * (2 if two_line else 1) + 6
    w = int(r.randint(560, 640) * s)
    h = int(max(w * 1.6, (n_rows * lh + 2.2 * fbig.size + 140 * s)))
    cv = _Canvas(w, h)
    m = int(r.randint(24, 40) * s)
    y = int(r.randint(25, 45) * s)
    cv.text(w / 2, y, vendor, fbig, align="center")
    y += int(fbig.size * 1.4)
    for line in _address(r) + ([f"Tel. {r.randint(100, 999)}-{r.randint(100, 999)}-{r.randint(1000, 9999)}"]
                               if r.random() < 0.6 else []):
        cv.text(w / 2, y, line, f, align="center")
        y += lh
    y += lh // 2
    dtxt = format_date(date, dstyle)
    if r.random() < 0.6:
        dtxt += f" {r.randint(7, 22):02d}:{r.randint(0, 59):02d}"
    cv.text(m, y, r.choice(["Date: ", "DATE ", "", "Date "]) + dtxt, f)
    if r.random() < 0.6:
        cv.text(w - m, y, f"#{r.randint(1000, 99999)}", f, align="right")
    y += lh
    if money.show == "none":
        cv.text(m, y, r.choice(["Currency: ", "All amounts in ", "Prices in "]) + money.code, f)
        y += lh
    sep = r.choice(["-", "=", "*", None])
    cw = f.getlength("-") or 1

    def separator() -> None:
        nonlocal y
        if sep is None:
            cv.hline(m, w - m, y + lh // 2, width=max(1, int(2 * s)))
        else:
            cv.text(m, y, sep * int((w - 2 * m) / max(1.0, f.getlength(sep))), f)
        y += lh

    separator()
    for it in items:
        amt = money.fmt(it["amount"], bare=True)
        qty = int(it["quantity"])
        if two_line:
            cv.text(m, y, it["description"], f)
            y += lh
            cv.text(m + 2 * cw, y, f"{qty} x {format_amount(it['unit_price'], money.num_style)}", f)
            cv.text(w - m, y, amt, f, align="right")
        else:
            desc = it["description"] if qty == 1 else f"{qty} x {it['description']}"
            if qty > 1 and r.random() < 0.5:
                desc = f"{it['description']} {qty} @ {format_amount(it['unit_price'], money.num_style)}"
            cv.text(m, y, desc, f)
            cv.text(w - m, y, amt, f, align="right")
        y += lh
    separator()
    sub_label = r.choice(["Subtotal", "SUBTOTAL", "Sub-total", "Sub Total", "Net"])
    cv.text(m, y, sub_label, f)
    cv.text(w - m, y, money.fmt(subtotal), f, align="right")
    y += lh
    cv.text(m, y, f"{tax_label} {_rate_str(rate)}" if r.random() < 0.7 else tax_label, f)
    cv.text(w - m, y, money.fmt(tax), f, align="right")
    y += lh
    tot_label = r.choice(["TOTAL", "Total", "TOTAL", "Amount due", "Grand Total", "Balance", "TOTAL DUE"])
    if money.show == "none" and r.random() < 0.5:
        tot_label += f" {money.code}"
    fb_tot = fb if r.random() < 0.7 else _font(fam, True, int(size * 1.25))
    cv.text(m, y, tot_label, fb_tot)
    cv.text(w - m, y, money.fmt(total), fb_tot, align="right")
    y += int(fb_tot.size * 1.5)
    if r.random() < 0.5:
        if r.random() < 0.5:
            cash = float(math.ceil(total / 10.0) * 10 + r.choice([0, 10, 20]))
            cv.text(m, y, "CASH", f)
            cv.text(w - m, y, money.fmt(cash, bare=True), f, align="right")
            y += lh
            cv.text(m, y, "CHANGE", f)
            cv.text(w - m, y, money.fmt(round(cash - total, 2), bare=True), f, align="right")
        else:
            cv.text(m, y, f"{r.choice(['VISA', 'MASTERCARD', 'AMEX', 'DEBIT'])} ****{r.randint(1000, 9999)}", f)
        y += lh
    y += lh // 2
    cv.text(w / 2, y, r.choice(["Thank you!", "THANK YOU FOR SHOPPING", "Have a nice day", "Come again soon"]),
            f, align="center")
    truth = {"vendor": vendor, "date": date.isoformat(), "currency": money.code,
             "subtotal": subtotal, "tax": tax, "total": total}
    return cv, {"fields": truth, "line_items": items}


# --------------------------------------------------------------------------- invoice
def _a4(s: float) -> tuple[int, int]:
    return int(1240 * s), int(1754 * s)


def _render_invoice(r: random.Random, s: float) -> tuple[_Canvas, dict[str, Any]]:
    money = _pick_money(r)
    fam = r.choice(["sans", "serif", "sans_cond", "serif_cond", "mono"])
    size = int(r.randint(21, 26) * s)
    f, fb = _font(fam, False, size), _font(fam, True, size)
    fbig = _font(fam, True, int(size * r.uniform(1.6, 2.2)))
    items = _line_items(r, _SERVICES, r.randint(2, 10), (5.0, 900.0), 12)
    subtotal, tax, total, tax_label, rate = _totals(r, items, money.code)
    vendor = _vendor(r, corp=True)
    date = _date(r)
    due = date + _dt.timedelta(days=r.choice([14, 30, 45, 60]))
    dstyle = _date_style(r, money.code)
    w, h = _a4(s)
    cv = _Canvas(w, h)
    m = int(r.randint(80, 120) * s)
    lh = int(size * r.uniform(1.35, 1.6))
    y = int(r.randint(70, 110) * s)
    title = r.choice(["INVOICE", "Invoice", "TAX INVOICE"])
    ftitle = fb if r.random() < 0.5 else fbig
    cv.text(m, y, vendor, fbig)
    if fbig.getlength(vendor) + ftitle.getlength(title) + 80 * s > w - 2 * m:  # no room: title below
        y += int(fbig.size * 1.3)
        cv.text(w - m, y, title, ftitle, align="right")
        y += int(ftitle.size * 1.5)
    else:
        cv.text(w - m, y + (fbig.size - ftitle.size) // 2, title, ftitle, align="right")
        y += int(fbig.size * 1.5)
    for line in _address(r) + [f"VAT ID: {r.choice(['GB', 'DE', 'FR', 'NL'])}{r.randint(100000000, 999999999)}"]:
        cv.text(m, y, line, f)
        y += lh
    y += lh
    meta_x = int(w * r.uniform(0.55, 0.62))
    yb = y
    cv.text(m, y, r.choice(["Bill to:", "BILL TO", "Customer:"]), fb)
    y += lh
    for line in [r.choice(_NAMES)] + _address(r):
        cv.text(m, y, line, f)
        y += lh
    ym = yb
    date_label = r.choice(["Invoice date:", "Date:", "Issue date:", "Invoice Date"])
    meta = [(r.choice(["Invoice No:", "Invoice #", "Number:"]), f"INV-{date.year}-{r.randint(1, 99999):05d}"),
            (date_label, format_date(date, dstyle)),
            (r.choice(["Due date:", "Payment due:", "Due:"]), format_date(due, dstyle))]
    if r.random() < 0.5:
        meta.append(("PO Number:", f"PO{r.randint(10000, 99999)}"))
    if money.show == "none":
        meta.append(("Currency:", money.code))
    for k, v in meta:
        cv.text(meta_x, ym, k, f)
        cv.text(w - m, ym, v, f, align="right")
        ym += lh
    y = max(y, ym) + lh
    # table
    x_desc, x_qty, x_up, x_amt = m + 10 * s, w * 0.58, w * 0.75, w - m - 10 * s
    boxed = r.random() < 0.5
    head = [r.choice(["Description", "Item", "DESCRIPTION"]), r.choice(["Qty", "Quantity", "QTY"]),
            r.choice(["Unit price", "Rate", "Price"]), r.choice(["Amount", "Total", "Line total"])]
    cv.hline(m, w - m, y - lh * 0.3, width=max(1, int(2 * s)))
    cv.text(x_desc, y, head[0], fb)
    cv.text(x_qty, y, head[1], fb, align="right")
    cv.text(x_up, y, head[2], fb, align="right")
    cv.text(x_amt, y, head[3], fb, align="right")
    y_table0 = y - lh * 0.3
    y += lh
    cv.hline(m, w - m, y, width=max(1, int(2 * s)))
    y += lh * 0.3
    for it in items:
        cv.text(x_desc, y, it["description"], f)
        q = it["quantity"]
        cv.text(x_qty, y, f"{int(q)}" if r.random() < 0.8 else f"{q:.2f}", f, align="right")
        cv.text(x_up, y, format_amount(it["unit_price"], money.num_style), f, align="right")
        cv.text(x_amt, y, money.fmt(it["amount"], bare=money.show != "code_post"), f, align="right")
        y += lh
        if boxed:
            cv.hline(m, w - m, y - lh * 0.15, width=1, fill=110)
    cv.hline(m, w - m, y, width=max(1, int(2 * s)))
    if boxed:
        for x in (m, w * 0.61, w * 0.77, w - m):
            cv.draw.line([(x, y_table0), (x, y)], fill=0, width=max(1, int(2 * s)))
    y += lh
    lab_x = int(w * 0.56)
    tot_label = r.choice(["Total", "TOTAL", "Total due", "Amount due", "Balance due", "Grand total"])
    if money.show == "none" and r.random() < 0.5:
        tot_label += f" ({money.code})"
    for lab, v, font in [(r.choice(["Subtotal", "Sub-total", "Net amount", "Subtotal:"]), subtotal, f),
                         (f"{tax_label} ({_rate_str(rate)})" if r.random() < 0.7 else f"{tax_label}:", tax, f),
                         (tot_label, total, fb)]:
        cv.text(lab_x, y, lab, font)
        cv.text(x_amt, y, money.fmt(v), font, align="right")
        y += lh
    y += lh
    foot = [f"Payment terms: Net {(due - date).days} days",
            f"IBAN {r.choice(['DE', 'GB', 'FR', 'NL'])}{r.randint(10, 99)} {r.randint(1000, 9999)} "
            f"{r.randint(1000, 9999)} {r.randint(1000, 9999)} {r.randint(10, 99)}",
            r.choice(["Thank you for your business.", "Please include the invoice number with your payment."])]
    for line in foot[: r.randint(1, 3)]:
        if y < h - 2 * lh:
            cv.text(m, y, line, f)
            y += lh
    truth = {"vendor": vendor, "date": date.isoformat(), "currency": money.code,
             "subtotal": subtotal, "tax": tax, "total": total}
    return cv, {"fields": truth, "line_items": items}


# --------------------------------------------------------------------------- report / letter
def _sentence(r: random.Random) -> str:
    words = [r.choice(_WORDS) for _ in range(r.randint(6, 16))]
    if r.random() < 0.2:
        words.insert(r.randint(0, len(words)), f"{r.randint(2, 99)}%")
    return " ".join(words).capitalize() + r.choice([".", ".", ".", ";", ","])


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    out, cur = [], ""
    for word in text.split():
        cand = f"{cur} {word}" if cur else word
        if cur and font.getlength(cand) > width:
            out.append(cur)
            cur = word
        else:
            cur = cand
    if cur:
        out.append(cur)
    return out


def _render_report(r: random.Random, s: float) -> tuple[_Canvas, dict[str, Any]]:
    fam = r.choice(["serif", "sans", "serif_cond", "sans_cond", "mono"])
    size = int(r.randint(20, 25) * s)
    f = _font(fam, False, size)
    fh = _font(fam, True, int(size * r.uniform(1.15, 1.4)))
    ft = _font(fam, True, int(size * r.uniform(1.6, 2.1)))
    w, h = _a4(s)
    cv = _Canvas(w, h)
    m = int(r.randint(100, 160) * s)
    lh = int(size * r.uniform(1.3, 1.65))
    y = int(r.randint(90, 140) * s)
    letter = r.random() < 0.35
    if letter:
        for line in [_vendor(r, corp=True)] + _address(r):
            cv.text(w - m, y, line, f, align="right")
            y += lh
        y += lh
        cv.text(m, y, format_date(_date(r), r.choice(["month_d_y", "d_month_y", "iso"])), f)
        y += 2 * lh
        cv.text(m, y, f"Dear {r.choice(_NAMES)},", f)
        y += int(1.6 * lh)
    else:
        title = " ".join(r.choice(_WORDS) for _ in range(r.randint(2, 5))).title()
        cv.text(m if r.random() < 0.6 else w / 2, y, title, ft, align="left" if r.random() < 0.6 else "left")
        y += int(ft.size * 1.8)
    bottom = h - int(r.randint(120, 200) * s)
    section = 1
    while y < bottom - 3 * lh:
        if not letter and r.random() < 0.35:
            cv.text(m, y, f"{section}. " + " ".join(r.choice(_WORDS) for _ in range(r.randint(1, 4))).title(), fh)
            section += 1
            y += int(fh.size * 1.6)
        para = " ".join(_sentence(r) for _ in range(r.randint(2, 6)))
        indent = int(r.choice([0, 0, 40]) * s)
        for i, line in enumerate(_wrap(para, f, w - 2 * m - indent)):
            if y > bottom:
                break
            cv.text(m + (indent if i == 0 else 0), y, line, f)
            y += lh
        y += int(lh * r.uniform(0.4, 1.0))
    if letter and y < h - 3 * lh:
        cv.text(m, min(y, h - 3 * lh), "Sincerely, " + r.choice(_NAMES), f)
    elif r.random() < 0.7:
        cv.text(w / 2, h - int(70 * s), f"- {r.randint(1, 40)} -", f, align="center")
    return cv, {"fields": {}, "line_items": []}


# --------------------------------------------------------------------------- form
def _render_form(r: random.Random, s: float) -> tuple[_Canvas, dict[str, Any]]:
    fam = r.choice(["sans", "sans_cond", "serif", "mono"])
    size = int(r.randint(19, 24) * s)
    f = _font(fam, False, size)
    fb = _font(fam, True, int(size * 1.15))
    ft = _font(fam, True, int(size * r.uniform(1.5, 1.9)))
    w, h = _a4(s)
    cv = _Canvas(w, h)
    m = int(r.randint(80, 120) * s)
    lh = int(size * 1.5)
    y = int(r.randint(70, 110) * s)
    cv.text(m, y, r.choice(["Application Form", "Registration Form", "Customer Information Form",
                            "Claim Form", "Employee Onboarding", "Change of Address Request"]), ft)
    y += int(ft.size * 1.6)
    if r.random() < 0.6:
        cv.text(m, y, "Please complete all fields in BLOCK CAPITALS.", f)
        y += int(lh * 1.3)
    labels = ["Full name", "Date of birth", "Address", "City", "Postal code", "Phone", "Email",
              "Company", "Position", "Account number", "Signature", "Date", "Reference", "Country"]
    label_above = r.random() < 0.5
    lw = 3 if r.random() < 0.5 else 2
    bw = max(1, int(lw * s))
    while y < h - int(260 * s):
        kind = r.random()
        if kind < 0.22:  # section heading
            cv.text(m, y, f"Section {r.choice('ABCDEF')}: " + r.choice(["Personal details", "Contact",
                                                                        "Employment", "Declaration", "Payment"]), fb)
            cv.hline(m, w - m, y + fb.size * 1.35, width=bw)
            y += int(fb.size * 2.2)
        elif kind < 0.45:  # checkbox row
            cv.text(m, y, r.choice(["Preferred contact:", "Status:", "Options:", "Type:"]), f)
            x = m + int(w * 0.27)
            for opt in r.sample(["Email", "Phone", "Post", "Yes", "No", "Single", "Married", "Other",
                                 "Full-time", "Part-time"], r.randint(2, 4)):
                bs = int(size * 0.95)
                cv.rect(x, y + 2, x + bs, y + 2 + bs, width=bw)
                if r.random() < 0.4:
                    cv.draw.line([(x + 3, y + 5), (x + bs - 3, y + bs - 1)], fill=0, width=bw)
                    cv.draw.line([(x + bs - 3, y + 5), (x + 3, y + bs - 1)], fill=0, width=bw)
                x += bs + 10 * s + cv.text(x + bs + 10 * s, y, opt, f) + 30 * s
            y += int(lh * 1.6)
        else:  # one or two labelled boxes on a row
            n = r.choice([1, 2, 2])
            col_w = (w - 2 * m - (n - 1) * 30 * s) / n
            bh = int(size * r.uniform(1.7, 2.4))
            for i in range(n):
                x0 = m + i * (col_w + 30 * s)
                lab = r.choice(labels)
                if label_above:
                    cv.text(x0, y, lab, f)
                    cv.rect(x0, y + lh, x0 + col_w, y + lh + bh, width=bw)
                    if r.random() < 0.3:
                        cv.text(x0 + 10 * s, y + lh + (bh - size) / 2, r.choice(_NAMES).upper(), f)
                else:
                    lw_ = f.getlength("Postal code: ") + 10 * s
                    cv.text(x0, y + (bh - size) / 2, lab + ":", f)
                    cv.rect(x0 + lw_, y, x0 + col_w, y + bh, width=bw)
            y += int((lh if label_above else 0) + bh + lh * 0.9)
    cv.text(m, h - int(200 * s), "Signature:", f)
    cv.hline(m + int(160 * s), m + int(560 * s), h - int(200 * s) + size, width=bw)
    cv.text(w - m - int(330 * s), h - int(200 * s), "Date:", f)
    cv.hline(w - m - int(240 * s), w - m, h - int(200 * s) + size, width=bw)
    return cv, {"fields": {}, "line_items": []}


# --------------------------------------------------------------------------- photo / blank
def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int, channels: int = 3) -> np.ndarray:
    small = rng.random((cells, max(2, int(cells * w / h)), channels), dtype=np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _render_photo(r: random.Random, rng: np.random.Generator, s: float) -> tuple[np.ndarray, str]:
    w, h = r.choice([(1200, 900), (900, 1200), (1280, 720), (1000, 1000), (1024, 768), (768, 1024)])
    w, h = int(w * s), int(h * s)
    # sky/ground style gradient + low-frequency texture, built at 1/4 size then upscaled
    hs, ws = max(8, h // 4), max(8, w // 4)
    c0 = np.array([r.randint(0, 255) for _ in range(3)], np.float32)
    c1 = np.array([r.randint(0, 255) for _ in range(3)], np.float32)
    t = np.linspace(0, 1, hs, dtype=np.float32)[:, None, None]
    small = np.broadcast_to(c0 * (1 - t) + c1 * t, (hs, ws, 3)).copy()
    small += (_smooth_noise(rng, hs, ws, r.randint(4, 24)) - 0.5) * r.uniform(60, 180)
    small += (_smooth_noise(rng, hs, ws, r.randint(40, 120)) - 0.5) * r.uniform(10, 60)
    img = cv2.resize(np.clip(small, 0, 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
    for _ in range(r.randint(3, 14)):
        col = tuple(int(v) for v in rng.integers(0, 256, 3))
        kind = r.random()
        cx, cy = r.randint(0, w), r.randint(0, h)
        if kind < 0.45:
            cv2.ellipse(img, (cx, cy), (r.randint(20, w // 3), r.randint(20, h // 3)), r.uniform(0, 180),
                        0, 360, col, -1, cv2.LINE_AA)
        elif kind < 0.8:
            pts = np.array([[cx + r.randint(-w // 4, w // 4), cy + r.randint(-h // 4, h // 4)]
                            for _ in range(r.randint(3, 6))], np.int32)
            cv2.fillPoly(img, [pts], col, cv2.LINE_AA)
        else:
            cv2.line(img, (cx, cy), (r.randint(0, w), r.randint(0, h)), col, r.randint(2, 12), cv2.LINE_AA)
    k = r.choice([1, 3, 5, 7])
    if k > 1:
        img = cv2.GaussianBlur(img, (k, k), 0)
    text = ""
    if r.random() < 0.25:  # a sign
        pil = Image.fromarray(img[:, :, ::-1])
        d = ImageDraw.Draw(pil)
        word = r.choice(["OPEN", "EXIT", "SALE", "CAFE", "STOP", "HOTEL", "PARKING"])
        font = _font("sans", True, int(r.randint(40, 90) * s))
        x, y = r.randint(0, w // 2), r.randint(0, h - font.size - 1)
        d.text((x, y), word, font=font, fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        img = np.asarray(pil)[:, :, ::-1].copy()
        text = word
    return img, text


def _render_blank(r: random.Random, rng: np.random.Generator, s: float) -> np.ndarray:
    w, h = _a4(s) if r.random() < 0.75 else (int(r.randint(560, 640) * s), int(r.randint(1000, 1600) * s))
    base = r.randint(225, 255)
    img = np.full((h, w), base, np.uint8)
    if r.random() < 0.6:  # faint texture / scanner noise
        noise = (_smooth_noise(rng, h, w, r.randint(8, 40), 1).reshape(h, w) - 0.5) * r.uniform(4, 14)
        img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    for _ in range(r.randint(0, 12)):  # dust specks
        cv2.circle(img, (r.randint(0, w - 1), r.randint(0, h - 1)), r.randint(1, 2), r.randint(120, 200), -1)
    if r.random() < 0.2:  # punch holes
        for yy in (h // 3, 2 * h // 3):
            cv2.circle(img, (int(40 * s), yy), int(14 * s), r.randint(170, 215), -1, cv2.LINE_AA)
    return img


# --------------------------------------------------------------------------- degradation
def _paper(r: random.Random, grey: np.ndarray) -> np.ndarray:
    """Tint a grey page (paper colour, ink slightly off-black) into BGR."""
    paper = np.array([r.randint(232, 255), r.randint(236, 255), r.randint(238, 255)], np.float32)
    ink = np.array([r.randint(0, 60)] * 3, np.float32)
    lut = np.empty((256, 1, 3), np.uint8)
    t = np.arange(256, dtype=np.float32)[:, None] / 255.0
    lut[:, 0, :] = np.clip(ink * (1 - t) + paper * t, 0, 255).astype(np.uint8)
    bgr = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    return cv2.LUT(bgr, lut)


@lru_cache(maxsize=1)
def _noise_tile() -> np.ndarray:
    """A fixed 2048x2048 N(0, 1) field, quantised to int8 in units of 1/16."""
    n = np.random.default_rng(20260314).standard_normal((2048, 2048), dtype=np.float32) * 16.0
    return np.clip(np.rint(n), -127, 127).astype(np.int8)


def _noise(r: random.Random, h: int, w: int) -> np.ndarray:
    tile = _noise_tile()
    if h > tile.shape[0] or w > tile.shape[1]:
        tile = np.tile(tile, (h // tile.shape[0] + 1, w // tile.shape[1] + 1))
    oy, ox = r.randint(0, tile.shape[0] - h), r.randint(0, tile.shape[1] - w)
    return tile[oy:oy + h, ox:ox + w]


def degrade(img: np.ndarray, r: random.Random, rng: np.random.Generator) -> np.ndarray:
    """Scan/photo degradations of a grey or BGR ``uint8`` page (same channels out):
    rotation (1.5-5 degrees, either sign) + slight perspective on an enlarged canvas,
    shading, low contrast, blur and gaussian noise. JPEG and downscaling are in
    :func:`_compress`."""
    h, w = img.shape[:2]
    ang = r.uniform(1.5, 5.0) * r.choice([-1, 1])
    a = math.radians(ang)
    cw = int(abs(w * math.cos(a)) + abs(h * math.sin(a))) + 8
    ch = int(abs(h * math.cos(a)) + abs(w * math.sin(a))) + 8
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    cx, cy = w / 2, h / 2
    dst = []
    jit = 0.015 * min(w, h)
    for x, y in src:
        dx, dy = x - cx, y - cy
        dst.append([cw / 2 + dx * math.cos(a) - dy * math.sin(a) + r.uniform(-jit, jit),
                    ch / 2 + dx * math.sin(a) + dy * math.cos(a) + r.uniform(-jit, jit)])
    mat = cv2.getPerspectiveTransform(src, np.float32(dst))
    grey = img.ndim == 2
    if r.random() < 0.5:
        v = img[2, 2]
        border = (int(v),) * 3 if grey else tuple(int(c) for c in v)
    else:
        g = r.randint(40, 180)
        border = (g,) * 3 if grey else (g, min(255, g + r.randint(0, 15)), min(255, g + r.randint(0, 25)))
    img = cv2.warpPerspective(img, mat, (cw, ch), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=border)
    h, w = img.shape[:2]
    # contrast: map [0, 255] to [lo, hi]
    lo, hi = r.randint(0, 70), r.randint(195, 255)
    img = cv2.convertScaleAbs(img, alpha=(hi - lo) / 255.0, beta=lo)
    # shading: linear gradient + low-frequency blotches, computed small
    sh, sw = 32, max(2, int(32 * w / h))
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    gdir = r.uniform(0, 2 * math.pi)
    grad = (xx / sw * math.cos(gdir) + yy / sh * math.sin(gdir))
    grad = (grad - grad.min()) / max(1e-6, float(grad.max() - grad.min()))
    shade = 1.0 - r.uniform(0.1, 0.4) * grad
    shade = shade * (1.0 - r.uniform(0.0, 0.12) * rng.random((sh, sw), dtype=np.float32))
    shade = cv2.GaussianBlur(shade, (0, 0), 3)
    shade = cv2.resize((shade * 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
    if not grey:
        shade = cv2.cvtColor(shade, cv2.COLOR_GRAY2BGR)
    img = cv2.multiply(img, shade, scale=1.0 / 255.0)
    img = cv2.GaussianBlur(img, (0, 0), r.uniform(0.5, 1.3))
    noise = _noise(r, h, w)
    if not grey:
        noise = cv2.merge([noise, noise, noise])
    return cv2.addWeighted(img, 1.0, noise, r.uniform(3.0, 10.0) / 16.0, 0.0, dtype=cv2.CV_8U)


def _compress(img: np.ndarray, r: random.Random) -> np.ndarray:
    """Sometimes lower the resolution (x0.7-0.9); usually JPEG-compress (quality 30-75)."""
    if r.random() < 0.3:
        k = r.uniform(0.7, 0.9)
        img = cv2.resize(img, (int(img.shape[1] * k), int(img.shape[0] * k)), interpolation=cv2.INTER_AREA)
    if r.random() < 0.7:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, r.randint(30, 75)])
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return img


# --------------------------------------------------------------------------- public API
def render_document(kind: str, seed: int, *, noisy: bool = False, dpi_scale: float = 1.0
                    ) -> tuple[np.ndarray, dict[str, Any]]:
    """Render one page of ``kind`` for ``seed``.

    Returns ``(image, truth)``: a BGR ``uint8`` array (~150 dpi times ``dpi_scale``) and
    the ground-truth dict described in the module docstring. ``fields`` values are
    ``None`` for kinds without them (report, form, photo, blank). The clean and the
    noisy variant of one seed show the same document.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    r, rng = _rng_pair("docgen", kind, seed, dpi_scale)
    r2, rng2 = _rng_pair("degrade", kind, seed, dpi_scale)
    empty = {"vendor": None, "date": None, "currency": None, "subtotal": None, "tax": None, "total": None}
    fields, items = dict(empty), []
    if kind in ("receipt", "invoice", "report", "form"):
        render = {"receipt": _render_receipt, "invoice": _render_invoice,
                  "report": _render_report, "form": _render_form}[kind]
        cv, extra = render(r, dpi_scale)
        text = cv.printed_text()
        fields = {**empty, **extra["fields"]}
        items = extra["line_items"]
        grey = cv.array()
        if noisy:  # degrade the grey page (3x cheaper), then tint it
            grey = degrade(grey, r2, rng2)
        img = _paper(r, grey)
    elif kind == "photo":
        img, text = _render_photo(r, rng, dpi_scale)
        if noisy:
            img = degrade(img, r2, rng2)
    else:
        grey, text = _render_blank(r, rng, dpi_scale), ""
        if noisy:
            grey = degrade(grey, r2, rng2)
        img = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    if noisy:
        img = _compress(img, r2)
    img = np.ascontiguousarray(img)
    truth = {"kind": kind, "text": text, "fields": fields, "line_items": items, "noisy": noisy,
             "seed": seed, "width": int(img.shape[1]), "height": int(img.shape[0])}
    return img, truth


def generate_corpus(out_dir: str | Path, n: int, seed: int, kinds: Sequence[str] = KINDS,
                    noisy_fraction: float = 0.5, dpi_scale: float = 1.0) -> list[Path]:
    """Write ``n`` pages to ``out_dir`` as ``<name>.png`` + ``<name>.json`` (the truth dict).

    Kinds cycle through ``kinds`` in order; page ``i`` uses seed ``seed * 1_000_003 + i``
    and is noisy with probability ``noisy_fraction`` (drawn from ``seed``). Names are
    ``{kind}-{seed}-{i:06d}[-noisy]``. Returns the PNG paths in order; same arguments,
    same bytes.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    r = random.Random(f"corpus:{seed}")
    paths: list[Path] = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        noisy = r.random() < noisy_fraction
        page_seed = seed * 1_000_003 + i
        img, truth = render_document(kind, page_seed, noisy=noisy, dpi_scale=dpi_scale)
        name = f"{kind}-{seed}-{i:06d}" + ("-noisy" if noisy else "")
        png = out / f"{name}.png"
        cv2.imwrite(str(png), img, [cv2.IMWRITE_PNG_COMPRESSION, 3])
        truth["image"] = png.name
        (out / f"{name}.json").write_text(json.dumps(truth, indent=1, ensure_ascii=False))
        paths.append(png)
    return paths


def _main() -> None:  # pragma: no cover - CLI helper
    import argparse

    p = argparse.ArgumentParser(description="write a synthetic document corpus (PNG + JSON truth)")
    p.add_argument("out_dir")
    p.add_argument("-n", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kinds", default=",".join(KINDS))
    p.add_argument("--noisy-fraction", type=float, default=0.5)
    a = p.parse_args()
    paths = generate_corpus(a.out_dir, a.n, a.seed, kinds=a.kinds.split(","), noisy_fraction=a.noisy_fraction)
    print(f"wrote {len(paths)} pages to {a.out_dir}")


if __name__ == "__main__":  # pragma: no cover
    _main()
