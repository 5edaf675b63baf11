"""End-to-end extraction accuracy: rendered receipts/invoices -> real OCR -> extract_fields.

    python bench/extract_e2e.py --n 30 --engine onnx --model-size tiny

Pages use synth.documents seeds ``--seed-base + i`` (default 70_000_000) (not used by any test or training). Prints
per (kind, clean/noisy) accuracy of total and date (exact), plus vendor/currency/
subtotal/tax, OCR seconds/page, and ends with
``RESULT total_acc_clean=.. date_acc_clean=.. total_acc_noisy=.. date_acc_noisy=..``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ocr_agents.extract import extract_fields  # noqa: E402
from ocr_agents.types import OcrLine  # noqa: E402
from synth.documents import render_document  # noqa: E402

SEED_BASE = 70_000_000


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=30, help="pages per kind and condition")
    ap.add_argument("--engine", default="onnx")
    ap.add_argument("--model-size", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed-base", type=int, default=SEED_BASE)
    ap.add_argument("--show-errors", type=int, default=5)
    ap.add_argument("--fields", default="total,date", help="fields whose errors are shown")
    ap.add_argument("--cache", type=Path, default=None,
                    help="keep OCR lines as JSON here and reuse them (to iterate on extraction)")
    a = ap.parse_args()
    from ocr_agents.engines.base import get_engine

    opts = {"model_size": a.model_size} if a.model_size else {}
    engine = None
    acc: dict[tuple[str, bool], dict[str, int]] = {}
    ocr_s, pages, shown = 0.0, 0, 0
    for noisy in (False, True):
        for kind in ("receipt", "invoice"):
            stats = acc.setdefault((kind, noisy), {"n": 0})
            for i in range(a.n):
                img, truth = render_document(kind, a.seed_base + i, noisy=noisy)
                cached = (a.cache / f"{a.engine}-{a.model_size}-{kind}-{a.seed_base + i}-{int(noisy)}.json"
                          if a.cache else None)
                if cached is not None and cached.exists():
                    lines = [OcrLine(d["text"], d["confidence"], tuple(d["box"]), d["page"])
                             for d in json.loads(cached.read_text())]
                else:
                    if engine is None:
                        engine = get_engine(a.engine, threads=a.threads, **opts)
                    t0 = time.perf_counter()
                    lines = engine.recognize(img)
                    ocr_s += time.perf_counter() - t0
                    pages += 1
                    if cached is not None:
                        cached.parent.mkdir(parents=True, exist_ok=True)
                        cached.write_text(json.dumps([{"text": ln.text, "confidence": ln.confidence,
                                                       "box": list(ln.box), "page": ln.page} for ln in lines]))
                res = extract_fields(lines, "\n".join(ln.text for ln in lines))
                stats["n"] += 1
                bad = []
                for k in ("total", "date", "vendor", "currency", "subtotal", "tax"):
                    got, want = res.values[k], truth["fields"][k]
                    ok = (got or "").lower() == want.lower() if k == "vendor" else got == want
                    stats[k] = stats.get(k, 0) + int(ok)
                    if not ok and k in a.fields.split(","):
                        bad.append((k, got, want))
                if bad and shown < a.show_errors:
                    shown += 1
                    print(f"--- {kind} seed={a.seed_base + i} noisy={noisy} {bad} score={res.score}")
                    print("\n".join(f"  {ln.confidence:.2f} {ln.text}" for ln in lines))
    print(f"engine={a.engine} model_size={a.model_size or 'default'} "
          f"ocr_s_per_page={ocr_s / pages if pages else float('nan'):.2f} (pages OCRed now: {pages})")
    summary = {}
    for (kind, noisy), st in acc.items():
        n = st["n"]
        print(f"{kind:8s} {'noisy' if noisy else 'clean'}: n={n} " +
              " ".join(f"{k}={st.get(k, 0) / n:.3f}" for k in ("total", "date", "vendor", "currency", "subtotal", "tax")))
    for noisy in (False, True):
        for k in ("total", "date"):
            tot = sum(st.get(k, 0) for (kd, nz), st in acc.items() if nz == noisy)
            n = sum(st["n"] for (kd, nz), st in acc.items() if nz == noisy)
            summary[f"{k}_acc_{'noisy' if noisy else 'clean'}"] = tot / n
    print("RESULT " + " ".join(f"{k}={v:.3f}" for k, v in summary.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
