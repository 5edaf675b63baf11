"""Page-type classifier that runs *before* OCR.

:func:`classify_page` maps one page image to one of :data:`DOC_TYPES` with a
confidence in [0, 1]. It computes ~60 OpenCV layout features on a downscaled grey
copy of the page (:func:`page_features`: aspect ratio, colour and grey-level
statistics, ink density on a 3x3 grid, ruling lines, box/checkbox-like components,
text-line blobs and their widths/alignment, deskewed projection profiles, edge
density) and feeds them to a random forest trained on :mod:`synth.documents`
pages by :mod:`synth.train_classifier`.

The forest is stored as plain arrays in ``ocr_agents/models/doctype_forest.npz``
(no pickle: node features, thresholds, children and leaf class distributions),
loaded once per process and evaluated with NumPy, so it does not depend on the
scikit-learn version. Confidence is the forest's mean leaf probability of the
predicted class (as ``predict_proba``). Cost is a few milliseconds per page.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import cv2
import numpy as np

from ocrstream.records import DOC_TYPES

MODEL_PATH = Path(__file__).resolve().parent / "models" / "doctype_forest.npz"
_LONG_SIDE = 512  # features are computed on a copy whose long side is this many px
_INK_LEVEL = 200  # background-normalised grey below this is ink (thin ruling lines stay ink)

FEATURE_NAMES: tuple[str, ...] = (
    "log_aspect", "sat_mean", "sat_std", "sat_frac_hi", "hue_entropy",
    "page_frac", "grey_mean", "grey_std", "grey_p5", "grey_p50", "grey_p95", "grey_entropy", "midtone_frac",
    "norm_std", "ink", *(f"ink_g{i}" for i in range(9)), "ink_rows_std", "ink_cols_std",
    "edge_frac", "grad_mean",
    "hline_frac", "hline_count", "vline_frac", "vline_count",
    "cc_count", "cc_small_frac", "hollow_square_count", "hollow_big_count", "cc_fill_mean",
    "blob_count", "blob_w_mean", "blob_w_std", "blob_w_p90", "blob_h_med", "blob_frac_wide",
    "blob_frac_narrow", "blob_right_align", "blob_left_align", "blob_right_half_frac",
    "blob_x_center_std", "blob_area_frac", "blob_h_rel_width",
    "rows_count", "rows_height_med", "rows_gap_std", "rows_fill_mean", "rows_width_mean",
    "rows_width_std", "rows_frac_full", "rows_pitch_cv", "row_profile_std", "col_profile_peaks",
    "skew_abs", "text_cols_ratio",
)


# --------------------------------------------------------------------------- features
def _to_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def _entropy(hist: np.ndarray) -> float:
    p = hist.astype(np.float64).ravel()
    s = p.sum()
    if s <= 0:
        return 0.0
    p = p[p > 0] / s
    return float(-(p * np.log2(p)).sum())


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) index pairs of True runs in a 1-D bool array."""
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(m)
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def _smear(ink: np.ndarray) -> np.ndarray:
    """Merge the letters and words of a text line into one blob."""
    smear = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 1)))
    return cv2.morphologyEx(smear, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 2)))


def _estimate_skew(ink: np.ndarray) -> float:
    """Dominant text-line angle in degrees (counter-clockwise positive, as
    ``cv2.getRotationMatrix2D`` takes it), from minAreaRect of the 20 widest line blobs."""
    smear = _smear(ink)
    n, _, stats, _ = cv2.connectedComponentsWithStats(smear, connectivity=8)
    st = stats[1:]
    if not len(st):
        return 0.0
    angles = []
    for x, y, bw, bh, _ in st[np.argsort(-st[:, 2])[:20]]:
        if bw < 30 or bh > 0.5 * bw:
            continue
        pts = cv2.findNonZero(smear[y:y + bh, x:x + bw])
        if pts is None:
            continue
        (_, _), (rw, rh), a = cv2.minAreaRect(pts)
        if rw < rh:
            a -= 90
        while a > 45:
            a -= 90
        while a < -45:
            a += 90
        angles.append(a)
    return float(np.median(angles)) if angles else 0.0


def _isolate_page(grey: np.ndarray) -> tuple[np.ndarray, float]:
    """Crop a bright page lying on a darker background (a photographed or scanned sheet
    on a table) and paint what lies outside the page's convex hull in paper grey.
    Returns the (maybe) cropped grey image and the page's share of the image area
    (1.0 when no darker background was found)."""
    blur = cv2.blur(grey, (5, 5))
    t, bright = cv2.threshold(blur, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(bright, connectivity=4)
    if n < 2:
        return grey, 1.0
    i = 1 + int(np.argmax(stats[1:, 4]))
    x, y, bw, bh, area = (int(v) for v in stats[i])
    h, w = grey.shape
    if area < 0.3 * h * w or area > 0.97 * h * w:
        return grey, 1.0
    comp = (labels == i).astype(np.uint8)
    inside_mean = float(cv2.mean(blur, mask=comp)[0])
    outside_mean = float(cv2.mean(blur, mask=1 - comp)[0])
    if inside_mean < 140 or outside_mean > inside_mean - 40:
        return grey, 1.0
    contours, _ = cv2.findContours(comp, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull = cv2.convexHull(max(contours, key=cv2.contourArea))
    mask = np.zeros_like(comp)
    cv2.fillConvexPoly(mask, hull, 1)
    frac = float(mask.sum()) / (h * w)
    if frac > 0.97:
        return grey, 1.0
    out = grey.copy()
    out[mask == 0] = int(np.median(grey[y:y + bh, x:x + bw][comp[y:y + bh, x:x + bw] > 0]))
    return out[y:y + bh, x:x + bw], frac


def page_features(image: np.ndarray) -> np.ndarray:
    """Layout features of one page (BGR, BGRA or grey ``uint8``), ``float32`` in the
    order of :data:`FEATURE_NAMES`. Scale-free: lengths are fractions of the page size."""
    bgr = _to_bgr(image)
    h0, w0 = bgr.shape[:2]
    k = _LONG_SIDE / max(h0, w0)
    w, h = max(8, round(w0 * k)), max(8, round(h0 * k))
    f: list[float] = [math.log(h0 / w0)]  # no absolute size: scans come at any dpi

    # colour statistics from a nearest-neighbour thumbnail (cheap; colour is low-frequency)
    thumb = cv2.resize(bgr, (max(4, w // 2), max(4, h // 2)), interpolation=cv2.INTER_NEAREST)
    hsv = cv2.cvtColor(thumb, cv2.COLOR_BGR2HSV)
    sat = hsv[:, :, 1]
    f += [float(sat.mean()) / 255, float(sat.std()) / 255, float((sat > 60).mean())]
    coloured = sat > 40
    hue_hist = np.bincount((hsv[:, :, 0][coloured] // 15).ravel(), minlength=12)
    f.append(_entropy(hue_hist))

    # grey levels
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    step = int(1 / k)
    if step >= 2:  # integer-factor area averaging is fast; finish with a linear resize
        grey = cv2.resize(grey, (w0 // step, h0 // step), interpolation=cv2.INTER_AREA)
        grey = cv2.resize(grey, (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        grey = cv2.resize(grey, (w, h), interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
    grey, page_frac = _isolate_page(grey)
    f.append(page_frac)
    h, w = grey.shape[:2]
    hist = cv2.calcHist([grey], [0], None, [32], [0, 256]).ravel()
    cdf = np.cumsum(hist) / hist.sum()
    p5, p50, p95 = (float(np.searchsorted(cdf, q)) * 8 / 255 for q in (0.05, 0.5, 0.95))
    f += [float(grey.mean()) / 255, float(grey.std()) / 255, p5, p50, p95, _entropy(hist)]

    # background normalisation (removes shading): divide by a dilated (max-filtered) page
    bg = cv2.dilate(grey, cv2.getStructuringElement(cv2.MORPH_RECT, (15, 15)))
    bg = cv2.blur(bg, (9, 9))
    norm = cv2.divide(grey, bg, scale=255)
    f.append(float(((norm > 60) & (norm < 200)).mean()))
    f.append(float(norm.std()) / 255)
    ink = (norm < _INK_LEVEL).astype(np.uint8)
    f.append(float(ink.mean()))
    for gy in range(3):
        for gx in range(3):
            cell = ink[gy * h // 3:(gy + 1) * h // 3, gx * w // 3:(gx + 1) * w // 3]
            f.append(float(cell.mean()))
    f += [float(ink.mean(axis=1).std()), float(ink.mean(axis=0).std())]

    # edges
    edges = cv2.Canny(grey, 60, 150)
    gx_ = cv2.Sobel(grey, cv2.CV_16S, 1, 0, ksize=3)
    gy_ = cv2.Sobel(grey, cv2.CV_16S, 0, 1, ksize=3)
    f += [float((edges > 0).mean()), float((np.abs(gx_).mean() + np.abs(gy_).mean()) / 255)]

    # deskew the ink (rotated ruling lines break under long morphological openings)
    skew = _estimate_skew(ink)
    if abs(skew) > 0.4:  # rotate the grey levels, not the mask: thin lines stay connected
        m = cv2.getRotationMatrix2D((w / 2, h / 2), skew, 1.0)
        norm = cv2.warpAffine(norm, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)
        ink = (norm < _INK_LEVEL).astype(np.uint8)

    # ruling lines
    hl = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, w // 6), 1)))
    vl = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(3, h // 12))))
    thick = cv2.dilate(ink, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)))
    nh = cv2.connectedComponents(hl)[0] - 1
    nv = cv2.connectedComponents(vl)[0] - 1
    f += [float(hl.mean()), float(min(nh, 80)), float(vl.mean()), float(min(nv, 80))]

    # connected components of ink; checkboxes / boxes (hollow rectangles) among those of
    # the thickened ink, where broken box sides are joined
    n, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    st = stats[1:]
    n2, _, stats2, _ = cv2.connectedComponentsWithStats(thick, connectivity=8)
    st2 = stats2[1:]
    if len(st) and len(st2):
        bw, bh, area = st[:, 2].astype(np.float32), st[:, 3].astype(np.float32), st[:, 4].astype(np.float32)
        fill = area / np.maximum(1.0, bw * bh)
        small_cc = (bw * bh) < 9
        bw2, bh2, area2 = (st2[:, i].astype(np.float32) for i in (2, 3, 4))
        fill2 = area2 / np.maximum(1.0, bw2 * bh2)
        sq = ((np.abs(bw2 - bh2) <= np.maximum(2, 0.25 * np.maximum(bw2, bh2))) & (bw2 >= 6) & (bw2 <= 24)
              & (fill2 < 0.75))
        big = (bw2 > w * 0.15) & (bh2 >= 8) & (fill2 < 0.4)
        f += [float(min(len(st), 3000)) / 1000, float(small_cc.mean()), float(sq.sum()), float(big.sum()),
              float(fill.mean())]
    else:
        f += [0.0, 0.0, 0.0, 0.0, 0.0]

    # text-line blobs: smear ink horizontally (minus ruling lines) so words merge into lines
    text_ink = cv2.subtract(ink, cv2.bitwise_or(hl, vl))
    smear = _smear(text_ink)
    n, _, stats, _ = cv2.connectedComponentsWithStats(smear, connectivity=8)
    st = stats[1:]
    st = st[(st[:, 3] >= 3) & (st[:, 3] <= h * 0.06) & (st[:, 2] >= 4)] if len(st) else st
    if len(st) >= 1:
        bx, by, bw, bh = (st[:, i].astype(np.float32) for i in range(4))
        wn = bw / w
        right = (bx + bw) / w
        left = bx / w
        rr = np.round(right * 100)
        ll = np.round(left * 100)
        f += [float(min(len(st), 600)) / 100, float(wn.mean()), float(wn.std()), float(np.percentile(wn, 90)),
              float(np.median(bh)) / h * 100, float((wn > 0.6).mean()), float((wn < 0.15).mean()),
              float(np.bincount(rr.astype(int)).max()) / len(st), float(np.bincount(ll.astype(int)).max()) / len(st),
              float(((bx + bw / 2) > w / 2).mean()), float(((bx + bw / 2) / w).std()),
              float((bw * bh).sum()) / (w * h), float(np.median(bh)) / w * 100]
    else:
        f += [0.0] * 13

    # row projection of (deskewed) text ink
    rowp = text_ink.mean(axis=1)
    rows = [(a, b) for a, b in _runs(rowp > 0.01) if b - a >= 2]
    if rows:
        heights = np.array([b - a for a, b in rows], np.float32)
        starts = np.array([a for a, _ in rows], np.float32)
        gaps = np.diff(starts) if len(starts) > 1 else np.zeros(1, np.float32)
        fills, widths = [], []
        for a, b in rows:
            band = text_ink[a:b]
            cols = np.flatnonzero(band.max(axis=0))
            widths.append((cols[-1] - cols[0] + 1) / w if len(cols) else 0.0)
            fills.append(float(band.mean()))
        widths_a = np.array(widths, np.float32)
        f += [float(min(len(rows), 200)) / 10, float(np.median(heights)) / h * 100,
              float(gaps.std() / max(1.0, gaps.mean())), float(np.mean(fills)), float(widths_a.mean()),
              float(widths_a.std()), float((widths_a > 0.6).mean()),
              float(gaps.std() / max(1.0, np.median(gaps)))]
    else:
        f += [0.0] * 8
    f.append(float(rowp.std()))
    colp = text_ink.mean(axis=0)
    cruns = [(a, b) for a, b in _runs(colp > 0.004) if b - a >= 3]
    f.append(float(min(len(cruns), 30)))
    f.append(abs(skew))
    f.append(float(sum(b - a for a, b in cruns) / w))
    out = np.asarray(f, np.float32)
    if out.shape[0] != len(FEATURE_NAMES):  # pragma: no cover - programming error
        raise AssertionError(f"{out.shape[0]} features, {len(FEATURE_NAMES)} names")
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


# --------------------------------------------------------------------------- forest
class ForestModel:
    """A random forest stored as flat arrays; ``predict_proba`` equals scikit-learn's.

    Arrays: ``feature`` (int32, -1 at leaves), ``threshold`` (float64; go left when
    ``x[feature] <= threshold``), ``left``/``right`` (int32 node indices, leaves point to
    themselves), ``value`` (float32, per-node class distribution, rows sum to 1),
    ``roots`` (int32, first node of each tree), ``classes`` (str), ``depth`` (int).
    """

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.feature = arrays["feature"].astype(np.int32)
        self.threshold = arrays["threshold"].astype(np.float64)
        self.left = arrays["left"].astype(np.int32)
        self.right = arrays["right"].astype(np.int32)
        self.value = arrays["value"].astype(np.float32)
        self.roots = arrays["roots"].astype(np.int32)
        self.classes = tuple(str(c) for c in arrays["classes"])
        self.depth = int(arrays["depth"])
        self.feature_names = tuple(str(c) for c in arrays.get("feature_names", np.array([])))
        self._feat_safe = np.maximum(self.feature, 0)

    @classmethod
    def load(cls, path: str | Path) -> "ForestModel":
        with np.load(path, allow_pickle=False) as z:
            return cls({k: z[k] for k in z.files})

    @classmethod
    def from_sklearn(cls, forest, feature_names: tuple[str, ...] = ()) -> "ForestModel":  # noqa: ANN001
        """Flatten a fitted ``RandomForestClassifier``/``ExtraTreesClassifier``."""
        feats, thr, left, right, vals, roots = [], [], [], [], [], []
        off, depth = 0, 0
        for est in forest.estimators_:
            t = est.tree_
            n = t.node_count
            is_leaf = t.children_left < 0
            roots.append(off)
            feats.append(np.where(is_leaf, -1, t.feature).astype(np.int32))
            thr.append(t.threshold.astype(np.float64))
            idx = np.arange(n, dtype=np.int32) + off
            left.append(np.where(is_leaf, idx, t.children_left + off).astype(np.int32))
            right.append(np.where(is_leaf, idx, t.children_right + off).astype(np.int32))
            v = t.value[:, 0, :].astype(np.float64)
            vals.append((v / np.maximum(v.sum(axis=1, keepdims=True), 1e-12)).astype(np.float32))
            depth = max(depth, int(t.max_depth))
            off += n
        return cls({"feature": np.concatenate(feats), "threshold": np.concatenate(thr),
                    "left": np.concatenate(left), "right": np.concatenate(right),
                    "value": np.concatenate(vals), "roots": np.asarray(roots, np.int32),
                    "classes": np.asarray([str(c) for c in forest.classes_]), "depth": np.asarray(depth),
                    "feature_names": np.asarray(feature_names)})

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, feature=self.feature, threshold=self.threshold, left=self.left,
                            right=self.right, value=self.value.astype(np.float16), roots=self.roots,
                            classes=np.asarray(self.classes), depth=np.asarray(self.depth),
                            feature_names=np.asarray(self.feature_names))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities for feature rows ``x`` (n, n_features) -> (n, n_classes)."""
        x = np.atleast_2d(np.asarray(x, np.float32))
        out = np.empty((x.shape[0], len(self.classes)), np.float32)
        for i, row in enumerate(x):
            node = self.roots.copy()
            for _ in range(self.depth):
                go_left = row[self._feat_safe[node]] <= self.threshold[node]
                node = np.where(go_left, self.left[node], self.right[node])
            out[i] = self.value[node].mean(axis=0)
        return out


_model: ForestModel | None = None
_lock = threading.Lock()


def load_model(path: str | Path | None = None) -> ForestModel:
    """The module-wide model (loaded once), or a fresh one from ``path``."""
    global _model
    if path is not None:
        return ForestModel.load(path)
    with _lock:
        if _model is None:
            _model = ForestModel.load(MODEL_PATH)
    return _model


def classify_page(image: np.ndarray) -> tuple[str, float]:
    """Document type of one page and the model's confidence in [0, 1].

    ``image`` is a BGR (or grey/BGRA) ``uint8`` array at any resolution. Types are
    :data:`DOC_TYPES`. An empty or uniform image is ``("blank", 1.0)``.
    """
    if image is None or image.size == 0 or min(image.shape[:2]) < 8:
        return "blank", 1.0
    model = load_model()
    proba = model.predict_proba(page_features(image))[0]
    i = int(np.argmax(proba))
    return model.classes[i], float(min(1.0, max(0.0, proba[i])))
