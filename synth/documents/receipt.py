"""Till receipts: narrow pages, a centred vendor, item rows, subtotal, tax and total (fields + line items)."""

from __future__ import annotations

import math
import random
from typing import Any

from synth.documents.canvas import Canvas, get_font
from synth.documents.content import pick_address, pick_date, pick_date_style, pick_line_items, pick_totals, pick_vendor
from synth.documents.formats import format_amount, format_date, pick_money, rate_str
from synth.documents.vocab import ITEMS


def render_receipt(r: random.Random, s: float) -> tuple[Canvas, dict[str, Any]]:
    """A receipt canvas and its truth (``fields``, ``line_items``); ``s`` is the dpi scale."""
    money = pick_money(r)
    fam = r.choice(["mono", "mono", "sans", "sans_cond", "serif_cond"])
    size = int(r.randint(19, 24) * s)
    f, fb = get_font(fam, False, size), get_font(fam, True, size)
    fbig = get_font(r.choice(["sans", "serif", fam]), True, int(size * r.uniform(1.3, 1.8)))
    items = pick_line_items(r, ITEMS, r.randint(2, 9), (0.5, 25.0), 4)
    subtotal, tax, total, tax_label, rate = pick_totals(r, items, money.code)
    vendor = pick_vendor(r)
    date = pick_date(r)
    dstyle = pick_date_style(r, money.code)
    two_line = r.random() < 0.35
    lh = int(size * r.uniform(1.25, 1.5))
    n_rows = 12 + len(items) * (2 if two_line else 1) + 6
    w = int(r.randint(560, 640) * s)
    h = int(max(w * 1.6, (n_rows * lh + 2.2 * fbig.size + 140 * s)))
    cv = Canvas(w, h)
    m = int(r.randint(24, 40) * s)
    y = int(r.randint(25, 45) * s)
    cv.text(w / 2, y, vendor, fbig, align="center")
    y += int(fbig.size * 1.4)
    for line in pick_address(r) + ([f"Tel. {r.randint(100, 999)}-{r.randint(100, 999)}-{r.randint(1000, 9999)}"]
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
    cv.text(m, y, f"{tax_label} {rate_str(rate)}" if r.random() < 0.7 else tax_label, f)
    cv.text(w - m, y, money.fmt(tax), f, align="right")
    y += lh
    tot_label = r.choice(["TOTAL", "Total", "TOTAL", "Amount due", "Grand Total", "Balance", "TOTAL DUE"])
    if money.show == "none" and r.random() < 0.5:
        tot_label += f" {money.code}"
    fb_tot = fb if r.random() < 0.7 else get_font(fam, True, int(size * 1.25))
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
