"""A4 invoices: company header, bill-to and meta blocks, a table of services, totals (fields + line items)."""

from __future__ import annotations

import datetime as _dt
import random
from typing import Any

from synth.documents.canvas import Canvas, a4_size, get_font
from synth.documents.content import pick_address, pick_date, pick_date_style, pick_line_items, pick_totals, pick_vendor
from synth.documents.formats import format_amount, format_date, pick_money, rate_str
from synth.documents.vocab import NAMES, SERVICES


def render_invoice(r: random.Random, s: float) -> tuple[Canvas, dict[str, Any]]:
    """An invoice canvas and its truth (``fields``, ``line_items``); ``s`` is the dpi scale."""
    money = pick_money(r)
    fam = r.choice(["sans", "serif", "sans_cond", "serif_cond", "mono"])
    size = int(r.randint(21, 26) * s)
    f, fb = get_font(fam, False, size), get_font(fam, True, size)
    fbig = get_font(fam, True, int(size * r.uniform(1.6, 2.2)))
    items = pick_line_items(r, SERVICES, r.randint(2, 10), (5.0, 900.0), 12)
    subtotal, tax, total, tax_label, rate = pick_totals(r, items, money.code)
    vendor = pick_vendor(r, corp=True)
    date = pick_date(r)
    due = date + _dt.timedelta(days=r.choice([14, 30, 45, 60]))
    dstyle = pick_date_style(r, money.code)
    w, h = a4_size(s)
    cv = Canvas(w, h)
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
    for line in pick_address(r) + [f"VAT ID: {r.choice(['GB', 'DE', 'FR', 'NL'])}{r.randint(100000000, 999999999)}"]:
        cv.text(m, y, line, f)
        y += lh
    y += lh
    meta_x = int(w * r.uniform(0.55, 0.62))
    yb = y
    cv.text(m, y, r.choice(["Bill to:", "BILL TO", "Customer:"]), fb)
    y += lh
    for line in [r.choice(NAMES)] + pick_address(r):
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
                         (f"{tax_label} ({rate_str(rate)})" if r.random() < 0.7 else f"{tax_label}:", tax, f),
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
