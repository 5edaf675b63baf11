"""ocr_agents.extract: fields, line items, confidences and score from OCR lines."""

from __future__ import annotations

import random
import re

import pytest

from ocr_agents.extract import ExtractionResult, extract_fields, find_amounts, find_dates
from ocr_agents.types import OcrLine
from synth.documents import render_document


def _lines(text: str, conf: float = 0.97) -> list[OcrLine]:
    return [OcrLine(t, conf, (0.0, 30.0 * i, 500.0, 30.0 * i + 25), 0) for i, t in enumerate(text.split("\n"))]


def _extract(text: str, conf: float = 0.97) -> ExtractionResult:
    return extract_fields(_lines(text, conf), text)


# --------------------------------------------------------------------------- units
@pytest.mark.parametrize("text,value", [
    ("TOTAL 1,234.56", 1234.56), ("Total 1.234,56", 1234.56), ("Total 1 234,56 €", 1234.56),
    ("Total $12.50", 12.5), ("Total 12,50", 12.5), ("Total EUR12.50", 12.5), ("Total 1'234.50 CHF", 1234.5),
    ("TOTAL 12. 50", 12.5), ("Total 1234.56", 1234.56), ("VAT 20% 3.40", 3.4),
])
def test_find_amounts(text: str, value: float) -> None:
    assert find_amounts(text)[-1].value == value


def test_numbers_glued_to_words_are_not_amounts() -> None:
    assert [a.value for a in find_amounts("Eggs 12pk 3.50")] == [3.5]
    assert [a.value for a in find_amounts("Water 0.5L 2 @ 1.20 2.40")] == [2.0, 1.2, 2.4]


@pytest.mark.parametrize("text,iso", [
    ("2026-03-14", "2026-03-14"), ("14/03/2026", "2026-03-14"), ("14.03.2026 12:34", "2026-03-14"),
    ("Mar 14, 2026", "2026-03-14"), ("March 14, 2026", "2026-03-14"), ("14 Mar 2026", "2026-03-14"),
    ("14 March 2026", "2026-03-14"), ("14-Mar-2026", "2026-03-14"), ("2026/03/14", "2026-03-14"),
    ("0ct 24,2021", "2021-10-24"), ("14th March 2026", "2026-03-14"), ("Mar14,2026", "2026-03-14"),
    ("Date: 3 Septembre 2024", "2024-09-03"), ("DATE December 24, 202509:37", "2025-12-24"),
    ("Invoice date: 02,04.2019", "2019-04-02"), ("2023-12-1021:25", "2023-12-10"),
    ("DATE 2020/04/0917:45 #24052", "2020-04-09"),
])
def test_find_dates(text: str, iso: str) -> None:
    assert find_dates(text)[0][0].isoformat() == iso


def test_numeric_date_order_follows_currency() -> None:
    assert find_dates("03/04/2026")[0][0].isoformat() == "2026-04-03"          # day first
    assert find_dates("03/04/2026", prefer_mdy=True)[0][0].isoformat() == "2026-03-04"
    assert find_dates("03.04.2026", prefer_mdy=True)[0][0].isoformat() == "2026-04-03"  # dots: day first
    assert find_dates("13/04/2026", prefer_mdy=True)[0][0].isoformat() == "2026-04-13"  # only one valid
    r = _extract("Shop\n03/04/2026\nItem 2.00\nTotal $2.00")
    assert r.values["date"] == "2026-03-04" and r.values["currency"] == "USD"


# --------------------------------------------------------------------------- documents
RECEIPT = """Blue Harbor Cafe
12 Main St
Springfield 12345
Date: 14/03/2026 12:34
------------------------
Latte 2 @ 3.50 7.00
Croissant 2.80
3 x Bagel 5.40
------------------------
Subtotal 15.20
VAT 20% 3.04
TOTAL EUR 18.24
CASH 20.00
CHANGE 1.76
Thank you!"""


def test_receipt_fields_items_and_confidence() -> None:
    r = _extract(RECEIPT)
    f = r.values
    assert (f["vendor"], f["date"], f["currency"]) == ("Blue Harbor Cafe", "2026-03-14", "EUR")
    assert (f["subtotal"], f["tax"], f["total"]) == (15.2, 3.04, 18.24)
    assert [(i.description, i.quantity, i.unit_price, i.amount) for i in r.line_items] == [
        ("Latte", 2.0, 3.5, 7.0), ("Croissant", 1.0, 2.8, 2.8), ("Bagel", 3.0, 1.8, 5.4)]
    assert all(0 < i.confidence <= 1 for i in r.line_items)
    assert r.checks == {"date_plausible": True, "subtotal_plus_tax_eq_total": True,
                        "items_sum_eq_subtotal": True, "tax_rate_plausible": True}
    assert set(r.confidences) == {"vendor", "date", "currency", "subtotal", "tax", "total"}
    assert r.confidences["total"] > 0.97  # passed checks raise it above the OCR confidence
    assert 0.9 < r.score <= 1.0
    # every field carries where it was read: the source row's text, page and box
    total = r.fields["total"]
    assert (total.value, total.raw_text, total.page) == (18.24, "TOTAL EUR 18.24", 0)
    assert total.box == (0.0, 30.0 * 11, 500.0, 30.0 * 11 + 25)
    latte = r.line_items[0]
    assert (latte.raw_text, latte.page, latte.box) == ("Latte 2 @ 3.50 7.00", 0, (0.0, 150.0, 500.0, 175.0))


def test_inconsistent_document_scores_lower() -> None:
    good = _extract(RECEIPT)
    bad = _extract(RECEIPT.replace("TOTAL EUR 18.24", "TOTAL EUR 19.24"))
    assert bad.values["total"] == 19.24
    assert bad.checks["subtotal_plus_tax_eq_total"] is False
    assert bad.confidences["total"] < good.confidences["total"]
    assert bad.score < good.score


def test_ocr_confidence_propagates() -> None:
    hi, lo = _extract(RECEIPT, 0.99), _extract(RECEIPT, 0.6)
    assert lo.values["total"] == hi.values["total"]
    assert lo.confidences["total"] < hi.confidences["total"] and lo.score < hi.score


def test_invoice_prefers_invoice_date_over_due_date() -> None:
    text = """Acme Systems GmbH TAX INVOICE
Bill to: Invoice No: INV-2026-00012
Jane Doe Due date: 13 April 2026
Invoice date: 14 March 2026
Description Qty Unit price Amount
Consulting 10 120.00 1,200.00
Hosting 1 80.00 80.00
Net amount 1,280.00
VAT (19%) 243.20
Amount due EUR 1,523.20
IBAN DE12 3456 7890 1234 56"""
    r = _extract(text)
    assert r.values["vendor"] == "Acme Systems GmbH"
    assert r.values["date"] == "2026-03-14"
    assert (r.values["subtotal"], r.values["tax"], r.values["total"]) == (1280.0, 243.2, 1523.2)
    assert [i.amount for i in r.line_items] == [1200.0, 80.0]


def test_due_date_first_on_page() -> None:
    r = _extract("Shop\nDue date: 13 April 2026\nBill to: John Date: 14 March 2026\nTotal 5.00")
    assert r.values["date"] == "2026-03-14"


@pytest.mark.parametrize("label", ["TOTAL", "Total", "Amount due", "Grand Total", "Balance", "Balance due",
                                   "TOTAL DUE", "T0TAL", "Tota1", "GRAND T0TAL"])
def test_total_labels(label: str) -> None:
    r = _extract(f"Shop\n2026-01-02\nItem A 4.00\nItem B 6.00\nSub-total 10.00\nGST 1.00\n{label} 11.00\nCash 20.00")
    assert r.values["total"] == 11.0 and r.values["subtotal"] == 10.0 and r.values["tax"] == 1.0


def test_ocr_confusions_in_numbers() -> None:
    r = _extract("Shop\n2O26-O1-O2\nItem 4.OO\nSubtota1 l0.00\nTax O.8O\nTOTAL $1O.8O")
    assert (r.values["date"], r.values["subtotal"], r.values["tax"], r.values["total"]) == (
        "2026-01-02", 10.0, 0.8, 10.8)
    assert r.values["currency"] == "USD"
    r = _extract("Shop\n14.03.2026\nSubtotal S.00\nTax 0.S0\nTotal 5,50 €")
    assert (r.values["subtotal"], r.values["tax"], r.values["total"], r.values["currency"]) == (5.0, 0.5, 5.5, "EUR")


def test_label_and_amount_on_separate_lines() -> None:
    r = _extract("Shop\n2026-01-02\nSubtotal\n10.00\nVAT\n2.00\nTOTAL\n12.00")
    assert (r.values["subtotal"], r.values["tax"], r.values["total"]) == (10.0, 2.0, 12.0)


def test_missing_total_is_derived_with_low_confidence() -> None:
    r = _extract("Shop\n2026-01-02\nSubtotal 10.00\nVAT 2.00\nTOTXQ# 12.00")
    assert r.values["total"] == 12.0
    assert r.confidences["total"] <= 0.5 * min(r.confidences["subtotal"], r.confidences["tax"]) + 1e-6


def test_currency_symbols_and_codes() -> None:
    for text, code in [("Total £5.00", "GBP"), ("Total C$5.00", "CAD"), ("Total A$5.00", "AUD"),
                       ("Total 5.00 CHF", "CHF"), ("Total $5.00", "USD"), ("Total 5,00 €", "EUR")]:
        assert _extract(f"Shop\n{text}").values["currency"] == code, text


def test_empty_and_non_financial_input() -> None:
    r = extract_fields([], "")
    assert r.values["total"] is None and r.score == 0.0 and r.line_items == []
    assert r.confidences == {k: 0.0 for k in ("vendor", "date", "currency", "subtotal", "tax", "total")}
    _, rep = render_document("report", 11)
    r = extract_fields([], rep["text"])
    assert r.values["total"] is None and r.score < 0.4


def test_text_used_when_no_lines() -> None:
    r = extract_fields([], RECEIPT)
    assert r.values["total"] == 18.24 and r.confidences["total"] > 0.9


# --------------------------------------------------------------------------- generated documents
def _check_doc(res: ExtractionResult, truth: dict) -> list[str]:
    f, t = res.values, truth["fields"]
    return [k for k in ("vendor", "date", "currency", "subtotal", "tax", "total")
            if (f[k].lower() if k == "vendor" and f[k] else f[k]) != (t[k].lower() if k == "vendor" else t[k])]


@pytest.mark.parametrize("kind", ["receipt", "invoice"])
def test_ground_truth_text_exact(kind: str) -> None:
    """All fields exact on the printed text of 80 generated documents per kind."""
    errors = []
    for seed in range(80):
        _, truth = render_document(kind, 4_000 + seed)
        res = extract_fields(_lines(truth["text"]), truth["text"])
        bad = _check_doc(res, truth)
        items = [(i.quantity, i.unit_price, i.amount) for i in res.line_items]
        want = [(i["quantity"], i["unit_price"], i["amount"]) for i in truth["line_items"]]
        if items != want:
            bad.append("line_items")
        if bad:
            errors.append((seed, bad))
    assert not errors, errors


_DIGIT_SWAPS = {"0": "O", "1": "l", "5": "S"}


def corrupt(text: str, rng: random.Random) -> list[OcrLine]:
    """OCR-like corruption of printed lines: O/0, l/1, S/5 in numbers, '.' read as ',' in
    2-decimal amounts, digit-for-letter in labels (T0TAL), a space inside decimals, a
    label split from its amount onto the next line, varied line confidences."""
    out: list[OcrLine] = []
    for line in text.split("\n"):
        s = line
        if rng.random() < 0.3:  # O/0, l/1, S/5 inside one number
            nums = list(re.finditer(r"\d+[.,]\d{2}\b", s))
            if nums:
                m = rng.choice(nums)
                tok = "".join(_DIGIT_SWAPS.get(c, c) if rng.random() < 0.5 else c for c in m.group())
                s = s[:m.start()] + tok + s[m.end():]
        if rng.random() < 0.15:
            s = re.sub(r"(?<![\d,.])(\d{1,3})\.(\d{2})(?![\d])", r"\1,\2", s, count=1)
        if rng.random() < 0.2:
            s = s.replace("TOTAL", "T0TAL").replace("Total", "Tota1").replace("Subtotal", "Subt0tal")
        if rng.random() < 0.05:
            s = re.sub(r"(\d)\.(\d{2})\b", r"\1. \2", s, count=1)
        conf = rng.uniform(0.75, 1.0)
        m = re.match(r"^(TOTAL|Total|Amount due|Balance|Grand Total|TOTAL DUE)\s+(.*\d)$", s)
        if m and rng.random() < 0.3:
            out.append(OcrLine(m.group(1), conf, (0, 0, 0, 0), 0))
            out.append(OcrLine(m.group(2), conf, (0, 0, 0, 0), 0))
            continue
        out.append(OcrLine(s, conf, (0, 0, 0, 0), 0))
    return out


@pytest.mark.parametrize("kind", ["receipt", "invoice"])
def test_corrupted_text_totals_and_dates(kind: str) -> None:
    """Totals and dates stay exact on OCR-corrupted printed text (>= 95 %)."""
    n, ok_total, ok_date, misses = 100, 0, 0, []
    for seed in range(n):
        _, truth = render_document(kind, 6_000 + seed)
        lines = corrupt(truth["text"], random.Random(seed))
        res = extract_fields(lines, "\n".join(ln.text for ln in lines))
        ok_total += res.values["total"] == truth["fields"]["total"]
        ok_date += res.values["date"] == truth["fields"]["date"]
        if res.values["total"] != truth["fields"]["total"] or res.values["date"] != truth["fields"]["date"]:
            misses.append((seed, res.values["total"], truth["fields"]["total"], res.values["date"],
                           truth["fields"]["date"]))
        assert 0.0 <= res.score <= 1.0
        assert all(0.0 <= c <= 1.0 for c in res.confidences.values())
    print(f"{kind}: corrupted text total {ok_total}/{n}, date {ok_date}/{n}; misses {misses}")
    assert ok_total >= 0.95 * n and ok_date >= 0.95 * n, misses
