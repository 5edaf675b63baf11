"""OCR benchmark: speed and accuracy of every engine on generated pages with ground truth.

    python bench/ocr.py [--pages 60] [--quick] [--engines paddle,onnx,onnx:small,tesseract]

Pages come from :func:`synth.documents.render_document` (receipts, invoices,
reports and forms; every other page noisy: rotation, perspective, blur, noise,
JPEG artefacts, low contrast, shading). Each page is PNG-encoded once and every
engine runs the full ``ocr_agents`` path on those bytes
(``DocumentProcessor.process(..., engine=NAME)``: decode, classify, preprocess,
OCR, extract), after one warm-up page.

Columns: median and p95 seconds per page; CER (whitespace collapsed, decorative
rules excluded) over all pages, clean and noisy; total and date accuracy over
receipts and invoices. Then the paddle engine in the agents path is timed
against a bare loop over the same PNG pages (``cv2.imdecode`` +
``PaddleOCR.predict``, same models and threads), page by page, alternating
which goes first (``agents_overhead`` = summed agents time /
summed bare time).

The last line is machine-readable::

    RESULT default_engine=onnx default_s_per_page=... paddle_s_per_page=... speedup_vs_paddle=...
           default_cer=... paddle_cer=... agents_overhead=...
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from synth.accuracy import cer  # noqa: E402
from ocr_agents.pipeline import DocumentProcessor  # noqa: E402
from ocrstream.records import FIELD_DOC_TYPES, TEXT_DOC_TYPES  # noqa: E402
from ocrstream.settings import OcrSettings  # noqa: E402
from synth.documents import render_document  # noqa: E402

KINDS = TEXT_DOC_TYPES
FIELD_KINDS = FIELD_DOC_TYPES


@dataclass
class Page:
    kind: str
    noisy: bool
    image: np.ndarray
    png: bytes
    truth: dict


@dataclass
class EngineStats:
    label: str
    times: list[float] = field(default_factory=list)
    cer_clean: list[float] = field(default_factory=list)
    cer_noisy: list[float] = field(default_factory=list)
    total_ok: list[bool] = field(default_factory=list)
    date_ok: list[bool] = field(default_factory=list)

    @property
    def median_s(self) -> float:
        return statistics.median(self.times)

    @property
    def p95_s(self) -> float:
        return float(np.percentile(self.times, 95))

    @property
    def cer(self) -> float:
        return float(np.mean(self.cer_clean + self.cer_noisy))


def make_pages(n: int, seed: int) -> list[Page]:
    """``n`` pages cycling through :data:`KINDS`, alternately clean and noisy."""
    pages = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        noisy = (i // len(KINDS)) % 2 == 1
        image, truth = render_document(kind, seed + i, noisy=noisy)
        ok, buf = cv2.imencode(".png", image)
        assert ok
        pages.append(Page(kind, noisy, image, buf.tobytes(), truth))
    return pages


def processor_for(spec: str, threads: int) -> tuple[DocumentProcessor, str]:
    """``"onnx:small"`` -> a processor whose onnx engine uses the small models, and engine ``onnx``;
    ``"onnx:FIELD=VALUE+FIELD=VALUE"`` -> OcrSettings overrides (e.g. the previous default,
    ``onnx:onnx_model_size=tiny+onnx_unclip_ratio=1.4+onnx_rec_batch=6``)."""
    name, _, rest = spec.partition(":")
    settings = OcrSettings(threads=threads)
    if rest and "=" not in rest:
        settings = settings.model_copy(update={"onnx_model_size": rest})
    elif rest:
        updates = dict(item.split("=", 1) for item in rest.split("+"))
        settings = OcrSettings(**(settings.model_dump() | updates))
    return DocumentProcessor(settings), name


def run_engine(spec: str, pages: list[Page], threads: int) -> EngineStats:
    proc, name = processor_for(spec, threads)
    proc.process(pages[0].png, engine=name)  # warm-up: load models
    stats = EngineStats(spec)
    for page in pages:
        t0 = time.perf_counter()
        result = proc.process(page.png, engine=name)
        stats.times.append(time.perf_counter() - t0)
        (stats.cer_noisy if page.noisy else stats.cer_clean).append(cer(page.truth["text"], result.text))
        if page.kind in FIELD_KINDS:
            want = page.truth["fields"]
            got = result.values
            stats.total_ok.append(got.get("total") is not None and abs(got["total"] - want["total"]) < 0.005)
            stats.date_ok.append(got.get("date") == want["date"])
    return stats


def agents_overhead(pages: list[Page], threads: int) -> tuple[float, float, float]:
    """(agents seconds, bare seconds, ratio) for paddle over ``pages``."""
    from ocr_agents.engines.paddle import new_paddle_ocr

    bare = new_paddle_ocr(threads)
    proc, _ = processor_for("paddle", threads)
    list(bare.predict(pages[0].image))
    proc.process(pages[0].png, engine="paddle")
    agents_s = bare_s = 0.0
    for i, page in enumerate(pages):
        order = ("bare", "agents") if i % 2 == 0 else ("agents", "bare")
        for which in order:
            t0 = time.perf_counter()
            if which == "bare":
                # what a plain loop over files does: decode, then predict
                list(bare.predict(cv2.imdecode(np.frombuffer(page.png, np.uint8), cv2.IMREAD_COLOR)))
                bare_s += time.perf_counter() - t0
            else:
                proc.process(page.png, engine="paddle")
                agents_s += time.perf_counter() - t0
    return agents_s, bare_s, agents_s / bare_s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=60, help="pages in the generated set (default 60)")
    ap.add_argument("--quick", action="store_true", help="16 pages, no onnx:small row, 8 overhead pages")
    ap.add_argument("--engines", default=None, help="comma list; default paddle,onnx,onnx:small,tesseract")
    ap.add_argument("--threads", type=int, default=OcrSettings().threads)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--overhead-pages", type=int, default=None, help="pages for the agents-vs-bare paddle timing")
    args = ap.parse_args(argv)

    n_pages = min(args.pages, 16) if args.quick else args.pages
    default_specs = "paddle,onnx,tesseract" if args.quick else "paddle,onnx,onnx:small,tesseract"
    specs = (args.engines or default_specs).split(",")
    overhead_n = args.overhead_pages or (8 if args.quick else 20)
    default_engine = OcrSettings().default_engine
    if default_engine not in specs:
        specs.insert(0, default_engine)
    if "paddle" not in specs:
        specs.append("paddle")

    t0 = time.perf_counter()
    pages = make_pages(n_pages, args.seed)
    noisy = sum(p.noisy for p in pages)
    print(
        f"{len(pages)} pages ({len(pages) - noisy} clean, {noisy} noisy; kinds {', '.join(KINDS)}), "
        f"threads={args.threads}, generated in {time.perf_counter() - t0:.1f}s",
        flush=True,
    )
    results: dict[str, EngineStats] = {}
    for spec in specs:
        t0 = time.perf_counter()
        results[spec] = run_engine(spec, pages, args.threads)
        print(f"  {spec}: done in {time.perf_counter() - t0:.0f}s", flush=True)

    width = max(12, *(len(k) for k in results))
    header = f"{'engine':<{width}} {'med s/p':>8} {'p95 s/p':>8} {'pages/s':>8} {'CER':>6} {'clean':>6} {'noisy':>6} {'total':>6} {'date':>6}"
    print(header)
    print("-" * len(header))
    for spec, s in results.items():
        print(
            f"{spec:<{width}} {s.median_s:>8.3f} {s.p95_s:>8.3f} {1 / s.median_s:>8.2f} {s.cer:>6.3f} "
            f"{np.mean(s.cer_clean):>6.3f} {np.mean(s.cer_noisy):>6.3f} "
            f"{np.mean(s.total_ok):>6.2f} {np.mean(s.date_ok):>6.2f}"
        )

    agents_s, bare_s, ratio = agents_overhead(pages[:overhead_n], args.threads)
    print(
        f"paddle agents path {agents_s / overhead_n:.3f} s/page vs bare PaddleOCR loop "
        f"{bare_s / overhead_n:.3f} s/page over {overhead_n} pages: overhead x{ratio:.3f}"
    )
    d, p = results[default_engine], results["paddle"]
    print(
        f"RESULT default_engine={default_engine} default_s_per_page={d.median_s:.3f} "
        f"paddle_s_per_page={p.median_s:.3f} speedup_vs_paddle={p.median_s / d.median_s:.2f} "
        f"default_cer={d.cer:.4f} paddle_cer={p.cer:.4f} agents_overhead={ratio:.3f}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
