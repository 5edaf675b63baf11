"""synth.documents: deterministic rendered pages with consistent ground truth."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time

import numpy as np
import pytest

from synth.documents import DATE_STYLES, KINDS, format_amount, format_date, generate_corpus, render_document


def _digest(img: np.ndarray) -> str:
    return hashlib.sha256(img.tobytes() + str(img.shape).encode()).hexdigest()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("noisy", [False, True])
def test_render_shapes_and_truth_keys(kind: str, noisy: bool) -> None:
    img, truth = render_document(kind, 7, noisy=noisy)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert truth["kind"] == kind and truth["noisy"] is noisy
    assert set(truth["fields"]) == {"vendor", "date", "currency", "subtotal", "tax", "total"}
    assert (truth["height"], truth["width"]) == img.shape[:2]
    h, w = img.shape[:2]
    if kind == "receipt":
        assert 500 <= w <= 720 and h > 1.4 * w
    if kind in ("invoice", "report", "form") and not noisy:
        assert (w, h) == (1240, 1754)
    if kind == "blank":
        assert truth["text"] == "" and truth["line_items"] == []
        assert float(img.std()) < 20


@pytest.mark.parametrize("kind", KINDS)
def test_deterministic_bytes(kind: str) -> None:
    for noisy in (False, True):
        a, ta = render_document(kind, 123, noisy=noisy)
        b, tb = render_document(kind, 123, noisy=noisy)
        assert _digest(a) == _digest(b) and ta == tb
    c, _ = render_document(kind, 124)
    assert _digest(c) != _digest(render_document(kind, 123)[0])


def test_noisy_variant_is_same_document_degraded() -> None:
    clean, tc = render_document("invoice", 5)
    noisy, tn = render_document("invoice", 5, noisy=True)
    assert tc["text"] == tn["text"] and tc["fields"] == tn["fields"]
    assert _digest(clean) != _digest(noisy)
    assert noisy.shape != clean.shape  # rotated onto an enlarged canvas


def test_dpi_scale() -> None:
    img, _ = render_document("invoice", 1, dpi_scale=0.5)
    assert img.shape[:2] == (877, 620)


@pytest.mark.parametrize("kind", ["receipt", "invoice"])
def test_financial_truth_is_consistent(kind: str) -> None:
    for seed in range(40):
        _, t = render_document(kind, seed)
        f = t["fields"]
        assert round(f["subtotal"] + f["tax"], 2) == f["total"]
        assert round(sum(i["amount"] for i in t["line_items"]), 2) == f["subtotal"]
        for it in t["line_items"]:
            assert round(it["quantity"] * it["unit_price"], 2) == it["amount"]
        assert dt.date.fromisoformat(f["date"]).year >= 2019
        assert f["vendor"] in t["text"]
        assert f["currency"] in t["text"] or {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "C$",
                                              "AUD": "A$"}.get(f["currency"], "@@") in t["text"]
        assert len(t["line_items"]) >= 2


def test_text_truth_rows() -> None:
    _, t = render_document("receipt", 3)
    lines = t["text"].split("\n")
    assert lines[0] == t["fields"]["vendor"]
    total_line = [ln for ln in lines if ln.endswith(format_amount(t["fields"]["total"], "us"))
                  or ln.endswith(format_amount(t["fields"]["total"], "eu"))
                  or format_amount(t["fields"]["total"], "plain") in ln]
    assert total_line, t["text"]
    _, rep = render_document("report", 3)
    assert len(rep["text"].split("\n")) > 20 and rep["fields"]["total"] is None


def test_formats() -> None:
    d = dt.date(2026, 3, 14)
    got = {s: format_date(d, s) for s in DATE_STYLES}
    assert got["iso"] == "2026-03-14" and got["dmy_slash"] == "14/03/2026" and got["mdy_slash"] == "03/14/2026"
    assert got["dmy_dot"] == "14.03.2026" and got["mon_d_y"] == "Mar 14, 2026"
    assert format_amount(1234.5, "us") == "1,234.50"
    assert format_amount(1234.5, "eu") == "1.234,50"
    assert format_amount(1234.5, "space") == "1 234,50"
    assert format_amount(1234.5, "plain") == "1234.50"


def test_generate_corpus(tmp_path) -> None:  # noqa: ANN001
    a = generate_corpus(tmp_path / "a", 12, seed=3, noisy_fraction=0.5)
    b = generate_corpus(tmp_path / "b", 12, seed=3, noisy_fraction=0.5)
    assert [p.name for p in a] == [p.name for p in b]
    assert len(a) == 12 and all(p.suffix == ".png" for p in a)
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes()
        truth = json.loads(pa.with_suffix(".json").read_text())
        assert truth["kind"] == pa.name.split("-")[0] and truth["image"] == pa.name
    kinds = [json.loads(p.with_suffix(".json").read_text())["kind"] for p in a]
    assert kinds == list(KINDS) * 2
    assert 0 < sum(p.stem.endswith("-noisy") for p in a) < 12
    only = generate_corpus(tmp_path / "c", 4, seed=1, kinds=["receipt"], noisy_fraction=0.0)
    assert all("receipt" in p.name and "noisy" not in p.name for p in only)


def test_render_speed_measurement() -> None:
    """Prints ms/page (no timing assertion: the CPU is shared)."""
    for noisy in (False, True):
        t0 = time.perf_counter()
        n = 0
        for kind in KINDS:
            for seed in range(3):
                render_document(kind, 1000 + seed, noisy=noisy)
                n += 1
        print(f"docgen {'noisy' if noisy else 'clean'}: {(time.perf_counter() - t0) / n * 1000:.1f} ms/page")
