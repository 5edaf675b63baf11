"""Text accuracy metrics for tests and benchmarks."""

from __future__ import annotations

import re

import numpy as np

# Decorative rules printed as text ("-----", "=====", "*****"): no OCR engine
# reports them, so they are left out of CER on both sides.
_RULE = re.compile(r"([^\w\s])\1{3,}")


def normalize_text(text: str) -> str:
    """Drop decorative rules (4+ repeats of one symbol), collapse whitespace to one space, strip."""
    return " ".join(_RULE.sub(" ", text).split())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insert/delete/substitute cost 1), O(len(a) * len(b)) with NumPy rows."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    bb = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    prev = np.arange(len(b) + 1, dtype=np.int64)
    aa = np.frombuffer(a.encode("utf-32-le"), dtype=np.uint32)
    for i, ch in enumerate(aa, 1):
        sub = prev[:-1] + (bb != ch)
        cur = np.empty_like(prev)
        cur[0] = i
        cur[1:] = np.minimum(sub, prev[1:] + 1)
        # insertions propagate left to right: cur[j] = min(cur[j], cur[j-1] + 1)
        cur = np.minimum.accumulate(cur - np.arange(len(cur))) + np.arange(len(cur))
        prev = cur
    return int(prev[-1])


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate: edit distance / reference length, whitespace collapsed first.

    An empty reference gives 0.0 for an empty hypothesis and 1.0 otherwise.
    """
    ref, hyp = normalize_text(reference), normalize_text(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)
