"""Text-line recognition with a CTC model: crops batched by width, greedy CTC decoding.

Every crop is resized to the model's height keeping its aspect ratio. Crops are
sorted by that width and recognised in batches sharing one padded width
(:func:`plan_batches`): a batch closes when it is full or when the next crop is
more than ``max_pad`` wider than the batch's narrowest, so padding stays small
and calls are few. ``min_width`` is the narrowest input the model is given (short
words are zero-padded up to it, as in training). Each crop is decoded only over
the time steps its own width covers (:func:`ctc_decode`), so padding never turns
into characters.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from ocr_agents.engines.runtime import create_session


@dataclass(frozen=True, slots=True)
class RecognizerConfig:
    """``height``: model input height; ``batch``: crops per call at most; ``min_width``/``max_width``:
    bounds of a crop's input width (px); ``max_pad``: widest/narrowest - 1 allowed in one batch;
    ``width_scale``: horizontal scale of a crop after resizing to ``height`` (1 keeps its aspect);
    ``space_min_prob``: see :func:`ctc_decode` (0 = plain greedy decoding);
    ``sessions``: model sessions run in parallel, the threads split between them (at most one
    session per thread; two single-threaded sessions recognise a receipt's ~57 crops in 0.52 s
    where one two-threaded session takes 0.60 s, because small crops keep one thread idle)."""

    height: int = 48
    batch: int = 1
    min_width: int = 32
    max_width: int = 3200
    max_pad: float = 0.25
    width_scale: float = 1.0
    sessions: int = 2
    space_min_prob: float = 0.3


@dataclass(frozen=True, slots=True)
class Batch:
    """Crop indices recognised together at one padded ``width``."""

    indices: tuple[int, ...]
    width: int


def input_width(crop_height: int, crop_width: int, config: RecognizerConfig) -> int:
    """Width (px) of a crop resized to ``config.height``, within ``[1, max_width]``."""
    scaled = config.height * crop_width * config.width_scale / max(1, crop_height)
    return max(1, min(config.max_width, math.ceil(scaled)))


def plan_batches(widths: Sequence[int], config: RecognizerConfig) -> list[Batch]:
    """Batches over ``widths`` (input widths per crop), narrowest first (see module docstring)."""
    order = sorted(range(len(widths)), key=lambda i: widths[i])
    batches: list[Batch] = []
    current: list[int] = []
    first = 0
    for i in order:
        w = max(config.min_width, widths[i])
        if current and (len(current) >= config.batch or w > first * (1.0 + config.max_pad)):
            batches.append(Batch(tuple(current), max(config.min_width, widths[current[-1]])))
            current = []
        if not current:
            first = w
        current.append(i)
    if current:
        batches.append(Batch(tuple(current), max(config.min_width, widths[current[-1]])))
    return batches


def ctc_decode(probs: np.ndarray, steps: Sequence[int], charset: Sequence[str],
               space_min_prob: float = 0.0) -> list[tuple[str, float]]:
    """Greedy CTC decoding of ``probs`` (``B x T x C``, class 0 = blank) over each row's first
    ``steps[b]`` time steps: repeats collapsed, blanks dropped. Returns ``(text, confidence)``,
    confidence = mean probability of the kept characters (0 when none).

    ``space_min_prob`` > 0: a step whose best class is the blank becomes a space (the last
    class) when the space has at least this probability there. PP-OCR recognisers put the
    gap between printed words mostly on blanks, so greedy decoding glues words together
    (``Tel:03-5542``, ``Amt(RM)``); on real receipts 0.3 brought word recall from 0.873 to
    0.887 with the same fields, where 0.05 also split words (``BAK ERIES``)."""
    best = probs.argmax(axis=2)
    if space_min_prob > 0:
        space = len(charset) - 1
        best[(best == 0) & (probs[..., space] >= space_min_prob)] = space
    conf = np.take_along_axis(probs, best[..., None], axis=2)[..., 0]
    out: list[tuple[str, float]] = []
    for b, n in enumerate(steps):
        idx = best[b, :n]
        keep = idx != 0
        keep[1:] &= idx[1:] != idx[:-1]
        chars = idx[keep]
        text = "".join(charset[c] for c in chars)
        out.append((text, float(conf[b, :n][keep].mean()) if len(chars) else 0.0))
    return out


def load_charset(dict_path: str | Path) -> list[str]:
    """PaddleOCR's class list: blank, the dictionary's characters, then a space."""
    lines = Path(dict_path).read_bytes().split(b"\n")  # splitlines() would also split at U+2028, U+0085, ...
    if lines and not lines[-1]:
        lines.pop()
    return ["", *[line.rstrip(b"\r").decode("utf-8") for line in lines], " "]


class CtcRecognizer:
    """A CTC line recogniser over one ONNX model (PP-OCR rec: BGR, ``(x/255 - 0.5) / 0.5``).

    With ``config.sessions`` > 1 the model is loaded that many times, ``threads`` split
    between the sessions, and a page's batches are recognised on them in parallel
    (alternating narrowest first, so each session gets about the same summed width).
    Thread-safe: several callers may recognise at once.
    """

    def __init__(self, model_path: str | Path, dict_path: str | Path, *, threads: int,
                 config: RecognizerConfig) -> None:
        self.config = config
        n = max(1, min(int(config.sessions), int(threads)))
        per_session = max(1, int(threads) // n)
        self.sessions = [create_session(model_path, per_session) for _ in range(n)]
        self.session = self.sessions[0]
        self._input = self.session.get_inputs()[0].name
        self.charset = load_charset(dict_path)
        self._pool = ThreadPoolExecutor(n, thread_name_prefix="ctc-rec") if n > 1 else None

    def recognize(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """``(text, confidence)`` per BGR crop, in the order given."""
        widths = [input_width(crop.shape[0], crop.shape[1], self.config) for crop in crops]
        results: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        batches = plan_batches(widths, self.config)
        if self._pool is None or len(batches) < 2:
            self._run(self.session, batches, crops, widths, results)
            return results
        n = len(self.sessions)
        futures = [self._pool.submit(self._run, session, batches[k::n], crops, widths, results)
                   for k, session in enumerate(self.sessions)]
        for future in futures:
            future.result()
        return results

    def _run(self, session: Any, batches: Sequence[Batch], crops: Sequence[np.ndarray], widths: Sequence[int],
             results: list[tuple[str, float]]) -> None:
        """Recognise ``batches`` on ``session``, writing each crop's result into ``results``."""
        c = self.config
        for batch in batches:
            x = np.zeros((len(batch.indices), 3, c.height, batch.width), dtype=np.float32)
            for row, i in enumerate(batch.indices):
                resized = cv2.resize(crops[i], (widths[i], c.height)).astype(np.float32)
                x[row, :, :, : widths[i]] = (resized.transpose(2, 0, 1) * np.float32(2 / 255.0)) - 1.0
            probs = session.run(None, {self._input: x})[0]
            t = probs.shape[1]
            steps = [min(t, math.ceil(t * widths[i] / batch.width) + 1) for i in batch.indices]
            for i, res in zip(batch.indices, ctc_decode(probs, steps, self.charset, c.space_min_prob)):
                results[i] = res
