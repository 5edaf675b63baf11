"""Field evidence: which OCR lines show each extracted field."""

from __future__ import annotations


def test_field_evidence_prefers_labelled_lines() -> None:
    from serving.evidence import field_evidence, locate

    lines = [{"text": t, "box": [0, i * 10, 100, i * 10 + 8], "page": 0} for i, t in enumerate(
        ["Blue Bottle Cafe", "Latte 4.50", "Subtotal 4.50", "VAT 0.90", "TOTAL", "5.40", "14 Mar 2026", "EUR"])]
    assert locate("subtotal", 4.5, lines) == [2]
    assert locate("total", 5.4, lines) == [4, 5]  # label and amount split over two lines
    assert locate("tax", 0.9, lines) == [3]
    assert locate("date", "2026-03-14", lines) == [6]
    assert locate("vendor", "blue bottle cafe", lines) == [0]
    assert locate("currency", "EUR", lines) == [7]
    assert locate("total", 99.0, lines) == []
    ev = field_evidence({"total": 5.4, "vendor": None}, {"total": 0.4}, lines, 0.6)
    total = next(e for e in ev if e["name"] == "total")
    assert total["low"] is True and [b["box"][1] for b in total["boxes"]] == [40, 50]
    assert next(e for e in ev if e["name"] == "vendor")["low"] is False  # no value: nothing to mark
