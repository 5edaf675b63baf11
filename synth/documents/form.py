"""A4 forms: labelled boxes, checkbox rows, section headings, signature lines (no fields)."""

from __future__ import annotations

import random
from typing import Any

from synth.documents.canvas import Canvas, a4_size, get_font
from synth.documents.vocab import NAMES


def render_form(r: random.Random, s: float) -> tuple[Canvas, dict[str, Any]]:
    """A form canvas (no fields); ``s`` is the dpi scale."""
    fam = r.choice(["sans", "sans_cond", "serif", "mono"])
    size = int(r.randint(19, 24) * s)
    f = get_font(fam, False, size)
    fb = get_font(fam, True, int(size * 1.15))
    ft = get_font(fam, True, int(size * r.uniform(1.5, 1.9)))
    w, h = a4_size(s)
    cv = Canvas(w, h)
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
                        cv.text(x0 + 10 * s, y + lh + (bh - size) / 2, r.choice(NAMES).upper(), f)
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
