"""Classifier latency and accuracy on held-out generated pages.

    python bench/classify.py --n 30

Renders ``n`` pages per type (synth.documents seeds ``80_000_000 + i``, half noisy; never used
for training or tests), times :func:`ocr_agents.classify.classify_page` per page (wall and
process CPU; rendering excluded; the model is loaded before timing) and ends with
``RESULT classify_ms_per_page=X accuracy=Y``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ocr_agents.classify import DOC_TYPES, classify_page, load_model  # noqa: E402
from synth.documents import render_document  # noqa: E402

SEED_BASE = 80_000_000


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=30, help="pages per type")
    a = ap.parse_args()
    load_model()
    times, cpu, correct, per = [], [], 0, {}
    for kind in DOC_TYPES:
        ok = 0
        for i in range(a.n):
            img, _ = render_document(kind, SEED_BASE + i, noisy=i % 2 == 1)
            c0, t0 = time.process_time(), time.perf_counter()
            got, _conf = classify_page(img)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            ok += got == kind
        per[kind] = ok / a.n
        correct += ok
    ms = [t * 1000 for t in times]
    print("per type: " + " ".join(f"{k}={v:.3f}" for k, v in per.items()))
    print(f"ms/page: mean {statistics.mean(ms):.1f} median {statistics.median(ms):.1f} "
          f"p95 {sorted(ms)[int(0.95 * len(ms))]:.1f} max {max(ms):.1f}")
    print(f"process CPU ms/page: mean {statistics.mean(cpu) * 1000:.1f} (wall is inflated when the CPU is shared)")
    print(f"RESULT classify_ms_per_page={statistics.mean(ms):.1f} accuracy={correct / len(ms):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
