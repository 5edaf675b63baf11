"""OCR engines, for real: each engine reads rendered receipts under a CER bound.

Engines are loaded once per test session (the process-wide cache behind
``get_engine``); the whole module reads about a dozen pages.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ocr_agents.engines.base import BaseEngine, engine_names, get_engine
from ocr_agents.errors import UnknownEngine
from ocr_agents.lines import TextBox, clean_text, estimate_text_angle, group_lines, lines_text
from synth.accuracy import cer, normalize_text
from ocr_agents.preprocess import estimate_skew, prepare_page, rotate_small
from synth.documents import render_document

# Clean receipt bounds per engine; measured CERs are well below (see bench/ocr.py).
CLEAN_CER = {"onnx": 0.04, "paddle": 0.05, "tesseract": 0.06}
NOISY_CER = {"onnx": 0.08, "paddle": 0.10}
RECEIPT_SEEDS = (11, 12)
THREADS = 2


@pytest.fixture(scope="session")
def receipts() -> list[tuple[np.ndarray, dict]]:
    return [render_document("receipt", seed) for seed in RECEIPT_SEEDS]


# PaddlePaddle takes ~11 s to load: marked heavy, left out of `make test-unit`, run by `make test`.
@pytest.fixture(scope="session", params=[pytest.param(n, marks=pytest.mark.heavy) if n == "paddle" else n
                                         for n in engine_names()])
def engine(request) -> BaseEngine:
    return get_engine(request.param, threads=THREADS)


def _read(engine: BaseEngine, image: np.ndarray) -> str:
    return lines_text(engine.recognize(prepare_page(image).image))


# --------------------------------------------------------------------------- line grouping


def _tilted_row_boxes(angle_deg: float) -> list[TextBox]:
    """Three rows of three words on a page tilted by ``angle_deg`` (clockwise)."""
    t = math.radians(angle_deg)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    boxes = []
    for row, y in enumerate((100, 140, 180)):
        for col, x in enumerate((50, 400, 750)):
            quad = np.array([[x, y], [x + 250, y], [x + 250, y + 24], [x, y + 24]], dtype=np.float64) @ rot.T
            boxes.append(TextBox(quad.astype(np.float32), f"r{row}c{col}", 0.9))
    return boxes


def test_group_lines_undoes_page_rotation():
    boxes = _tilted_row_boxes(4.0)
    assert estimate_text_angle(boxes) == pytest.approx(4.0, abs=0.1)
    rng = np.random.default_rng(0)
    shuffled = [boxes[i] for i in rng.permutation(len(boxes))]
    lines = group_lines(shuffled, page=2)
    assert [line.text for line in lines] == ["r0c0 r0c1 r0c2", "r1c0 r1c1 r1c2", "r2c0 r2c1 r2c2"]
    assert all(line.page == 2 and line.confidence == pytest.approx(0.9) for line in lines)
    x0, y0, x1, y1 = lines[0].box
    assert x0 < x1 and y0 < y1


def test_group_lines_merges_split_rows_and_cleans_text():
    boxes = [
        TextBox.from_rect(400, 52, 500, 76, "12.50", 0.8),
        TextBox.from_rect(10, 50, 100, 75, "TOTAL", 1.0),
        TextBox.from_rect(10, 90, 200, 115, "2 \u00d7 3.00", 1.0),
        TextBox.from_rect(10, 130, 200, 150, "   ", 1.0),  # empty text is dropped
    ]
    lines = group_lines(boxes)
    assert [line.text for line in lines] == ["TOTAL 12.50", "2 x 3.00"]
    assert lines[0].box == (10, 50, 500, 76)
    assert lines[0].confidence == pytest.approx((5 * 1.0 + 5 * 0.8) / 10)
    assert clean_text("\uff34\uff2f\uff34\uff21\uff2c\uff1a 1") == "TOTAL: 1"


def test_deskew_estimate_matches_rotation(receipts):
    image, _ = receipts[0]
    for angle in (-3.0, 2.0):
        turned = rotate_small(image, -angle)  # turn content clockwise by ``angle``
        assert estimate_skew(turned) == pytest.approx(angle, abs=0.3)


def test_cer_metric():
    assert cer("TOTAL 12.50", "TOTAL 12.50") == 0.0
    assert cer("TOTAL  12.50\n", "TOTAL 12,50") == pytest.approx(1 / 11)
    assert normalize_text("Milk 2.00\n--------\nTOTAL") == "Milk 2.00 TOTAL"
    assert cer("", "") == 0.0 and cer("", "x") == 1.0


# --------------------------------------------------------------------------- engines


def test_engine_cache_loads_once():
    assert get_engine("tesseract", threads=THREADS) is get_engine("tesseract", threads=THREADS)
    with pytest.raises(UnknownEngine):
        get_engine("nope")


def test_engine_reads_clean_receipts(engine, receipts):
    for image, truth in receipts:
        text = _read(engine, image)
        score = cer(truth["text"], text)
        assert score < CLEAN_CER[engine.name], f"{engine.name} CER {score:.3f}:\n{text}"
        total = f"{truth['fields']['total']:.2f}"
        assert total in text.replace(",", ".") or total.replace(".", ",") in text


def test_engine_reads_noisy_receipt(engine, receipts):
    if engine.name not in NOISY_CER:
        pytest.skip("tesseract is the clean-page fast path; noisy pages route elsewhere")
    image, truth = render_document("receipt", RECEIPT_SEEDS[0], noisy=True)
    text = _read(engine, image)
    score = cer(truth["text"], text)
    assert score < NOISY_CER[engine.name], f"{engine.name} CER {score:.3f}:\n{text}"


def test_onnx_engine_uses_the_configured_threads():
    engine = get_engine("onnx", threads=THREADS)
    assert engine.detector.session.get_session_options().intra_op_num_threads == THREADS
    # The recogniser's parallel sessions share the threads: one each by default.
    rec_threads = [s.get_session_options().intra_op_num_threads for s in engine.recognizer.sessions]
    assert len(rec_threads) == 2 and sum(rec_threads) == THREADS


def test_parallel_recogniser_sessions_read_what_one_session_reads(receipts):
    from ocr_agents.engines.onnx import OnnxEngine

    page = prepare_page(receipts[0][0]).image
    parallel = get_engine("onnx", threads=THREADS)
    single = OnnxEngine(threads=THREADS, rec_sessions=1)
    assert len(single.recognizer.sessions) == 1
    read_parallel = [(b.text, round(b.confidence, 3)) for b in parallel.boxes(page)]
    read_single = [(b.text, round(b.confidence, 3)) for b in single.boxes(page)]
    assert len(read_parallel) >= 15 and read_parallel == read_single


def test_paddle_threads_never_exceed_omp_thread_limit(monkeypatch):
    # Paddle returns empty strings when cpu_threads > OMP_THREAD_LIMIT (measured).
    from ocr_agents.engines.paddle import effective_threads

    monkeypatch.setenv("OMP_THREAD_LIMIT", "1")
    assert effective_threads(2) == 1
    monkeypatch.delenv("OMP_THREAD_LIMIT")
    assert effective_threads(2) == 2
