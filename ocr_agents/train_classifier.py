"""Train the page-type forest of :mod:`ocr_agents.classify` on generated pages.

    python -m ocr_agents.train_classifier --out ocr_agents/models/doctype_forest.npz \\
        --n-per-class 200 --seed 1

Training pages: for each type in :data:`~ocr_agents.classify.DOC_TYPES`, docgen seeds
``seed * 1_000_000 + i`` (``i < n_per_class``), alternately clean and noisy, at dpi
scales cycling through :data:`SCALES` (so page size in pixels is no shortcut).
Held-out pages: seeds ``EVAL_SEED_BASE + i`` (never used for training; the tests use
``TEST_SEED_BASE + i``), built the same way. Prints per-type held-out accuracy, the
confusion matrix and the feature importances, checks that the exported NumPy forest
reproduces scikit-learn's probabilities, and writes the ``.npz`` model.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from ocr_agents.classify import DOC_TYPES, FEATURE_NAMES, MODEL_PATH, ForestModel, page_features
from producers.docgen import render_document

EVAL_SEED_BASE = 50_000_000
TEST_SEED_BASE = 90_000_000


SCALES = (1.0, 0.8, 1.0, 1.3)  # docgen dpi_scale cycle: pages come at several resolutions


def _feat(job: tuple[str, int, bool, float]) -> np.ndarray:
    kind, seed, noisy, scale = job
    img, _ = render_document(kind, seed, noisy=noisy, dpi_scale=scale)
    return page_features(img)


def build_set(seeds: list[int], jobs_per_kind: int, workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Features ``X`` and labels ``y`` for ``jobs_per_kind`` pages of every type."""
    jobs = [(k, s, i % 2 == 1, SCALES[(i // 2) % len(SCALES)])
            for k in DOC_TYPES for i, s in enumerate(seeds[:jobs_per_kind])]
    if workers > 1:
        with ProcessPoolExecutor(workers) as ex:
            feats = list(ex.map(_feat, jobs, chunksize=16))
    else:
        feats = [_feat(j) for j in jobs]
    return np.stack(feats), np.array([j[0] for j in jobs])


def report(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Print per-type accuracy and a confusion matrix; return accuracy per type."""
    acc = {}
    print("held-out accuracy per type:")
    for k in DOC_TYPES:
        m = y_true == k
        acc[k] = float((y_pred[m] == k).mean()) if m.any() else float("nan")
        print(f"  {k:8s} {acc[k]:.3f}  (n={int(m.sum())})")
    print("confusion matrix (rows = truth, cols = predicted):")
    print("          " + " ".join(f"{k[:7]:>7s}" for k in DOC_TYPES))
    for k in DOC_TYPES:
        row = [int(((y_true == k) & (y_pred == p)).sum()) for p in DOC_TYPES]
        print(f"  {k:8s}" + " ".join(f"{v:7d}" for v in row))
    return acc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    ap.add_argument("--n-per-class", type=int, default=200)
    ap.add_argument("--n-eval", type=int, default=60, help="held-out pages per type")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--trees", type=int, default=120)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args(argv)

    from sklearn.ensemble import RandomForestClassifier

    t0 = time.perf_counter()
    train_seeds = [a.seed * 1_000_000 + i for i in range(a.n_per_class)]
    X, y = build_set(train_seeds, a.n_per_class, a.workers)
    eval_seeds = [EVAL_SEED_BASE + i for i in range(a.n_eval)]
    Xe, ye = build_set(eval_seeds, a.n_eval, a.workers)
    print(f"features: train {X.shape}, held-out {Xe.shape} in {time.perf_counter() - t0:.1f} s")

    clf = RandomForestClassifier(n_estimators=a.trees, min_samples_leaf=1, max_features="sqrt",
                                 random_state=a.seed, n_jobs=1)
    clf.fit(X, y)
    model = ForestModel.from_sklearn(clf, FEATURE_NAMES)
    pe = model.predict_proba(Xe)
    ps = clf.predict_proba(Xe)
    print(f"numpy forest vs scikit-learn: max |dp| = {np.abs(pe - ps).max():.2e}, "
          f"nodes={len(model.feature)}, depth={model.depth}")
    pred = np.array(model.classes)[pe.argmax(axis=1)]
    acc = report(ye, pred)
    print(f"overall held-out accuracy {float((pred == ye).mean()):.4f}")
    imp = sorted(zip(clf.feature_importances_, FEATURE_NAMES), reverse=True)[:15]
    print("top features: " + ", ".join(f"{n}={v:.3f}" for v, n in imp))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(a.out)
    print(f"wrote {a.out} ({a.out.stat().st_size / 1024:.0f} KiB) in {time.perf_counter() - t0:.1f} s")
    return 0 if min(acc.values()) >= 0.95 else 1


if __name__ == "__main__":
    raise SystemExit(main())
