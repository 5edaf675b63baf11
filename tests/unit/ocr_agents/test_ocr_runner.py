"""The PP-OCRv6 runner's parts: detector sizing, width batching, CTC decoding, recognition."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ocr_agents.engines.ctc import RecognizerConfig, ctc_decode, input_width, load_charset, plan_batches
from ocr_agents.engines.db import detection_size
from ocr_agents.engines.base import get_engine

THREADS = 2


def test_detection_size_scales_the_short_side_and_caps_the_long_side():
    assert detection_size(2000, 1000, short_side=736, max_long_side=4000) == (1472, 736)
    assert detection_size(1000, 400, short_side=736, max_long_side=4000) == (1856, 736)  # upscaled
    assert detection_size(3000, 1000, short_side=736, max_long_side=1600) == (1600, 544)  # long side capped
    h, w = detection_size(1001, 333, short_side=736, max_long_side=4000)
    assert h % 32 == 0 and w % 32 == 0


def test_input_width_keeps_the_aspect_ratio_within_bounds():
    cfg = RecognizerConfig(height=48, max_width=960)
    assert input_width(24, 100, cfg) == 200
    assert input_width(10, 10_000, cfg) == 960


def test_batches_group_similar_widths_and_cover_every_crop_once():
    cfg = RecognizerConfig(batch=3, min_width=32, max_pad=0.25)
    widths = [100, 40, 105, 400, 110, 98, 420, 35]
    batches = plan_batches(widths, cfg)
    seen = sorted(i for b in batches for i in b.indices)
    assert seen == list(range(len(widths)))
    for b in batches:
        assert len(b.indices) <= 3
        own = [max(cfg.min_width, widths[i]) for i in b.indices]
        assert b.width == max(own)
        assert max(own) <= min(own) * 1.25
    assert [sorted(b.indices) for b in batches] == [[1, 7], [0, 2, 5], [4], [3, 6]]


def test_min_width_pads_short_crops_up_to_it():
    batches = plan_batches([50, 60, 300], RecognizerConfig(batch=8, min_width=320))
    assert len(batches) == 1 and batches[0].width == 320


def test_ctc_decode_collapses_repeats_drops_blanks_and_ignores_padding_steps():
    charset = ["", "a", "b"]
    seq = [1, 1, 0, 1, 2, 2, 0, 2]  # a a _ a b b _ b -> "aabb"; steps 8.. are padding
    probs = np.full((1, 10, 3), 0.05, dtype=np.float32)
    for t, c in enumerate(seq + [1, 2]):
        probs[0, t, c] = 0.9
    (text, conf), = ctc_decode(probs, [len(seq)], charset)
    assert text == "aabb" and conf == pytest.approx(0.9)
    assert ctc_decode(probs, [0], charset) == [("", 0.0)]


def test_charset_has_blank_dictionary_and_space(tmp_path):
    path = tmp_path / "dict.txt"
    path.write_bytes("a\nb\u2028\nc\n".encode())
    assert load_charset(path) == ["", "a", "b\u2028", "c", " "]


def _word_crop(text: str) -> np.ndarray:
    img = np.full((40, 20 + 22 * len(text), 3), 255, dtype=np.uint8)
    cv2.putText(img, text, (8, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 2, cv2.LINE_AA)
    return img


def test_batched_recognition_reads_what_single_crops_read():
    words = ["TOTAL", "12.50", "RM", "CHANGE DUE 0.00", "GST", "SUBTOTAL 11.79"]
    crops = [_word_crop(w) for w in words]
    batched = get_engine("onnx", threads=THREADS, rec_batch=8, rec_min_width=32).recognizer.recognize(crops)
    single = get_engine("onnx", threads=THREADS, rec_batch=1, rec_min_width=320).recognizer.recognize(crops)
    assert [t for t, _ in batched] == words
    assert [t for t, _ in single] == words
    assert all(conf > 0.8 for _, conf in batched)


def test_ctc_decode_puts_a_likely_space_on_a_blank_step():
    charset = ["", "a", "b", " "]
    probs = np.full((1, 5, 4), 0.0, dtype=np.float32)
    # a, blank (space 0.35), b, blank (space 0.1), a
    for t, row in enumerate([[0, .9, .05, .05], [.6, .05, 0, .35], [0, .05, .9, .05], [.85, .05, 0, .1],
                             [0, .9, .05, .05]]):
        probs[0, t] = row
    assert ctc_decode(probs, [5], charset)[0][0] == "aba"  # plain greedy: blanks dropped
    (text, conf), = ctc_decode(probs, [5], charset, space_min_prob=0.3)
    assert text == "a ba" and conf == pytest.approx((0.9 + 0.35 + 0.9 + 0.9) / 4)
