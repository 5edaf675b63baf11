"""Real documents: OCR, document type and fields on real scanned receipts with ground truth.

    python bench/real_documents.py [--data DIR] [--split all|even|odd] [--limit N] [--threads 2]
                                   [--variant NAME:FIELD=VALUE,FIELD=VALUE ...] [--show-errors N]

``--data`` (default ``../shared/data/receipts-sroie`` beside the repository) holds
receipts in the SROIE layout (see :mod:`synth.evaluation`). Every receipt's JPEG
bytes go through the same :class:`~ocr_agents.pipeline.DocumentProcessor` the stream
worker runs (decode, classify, route, preprocess, OCR, extract), with the OCR settings
of the environment (``OCRSTREAM_OCR__*``) and ``--threads`` (default 2). That is the
``default`` configuration; each ``--variant`` runs the same receipts with settings
overridden (``--variant small:onnx_model_size=small``), interleaved receipt by receipt
(the first variant rotating) so that every configuration sees the same machine load.

Per configuration and per route (document type -> engine) it prints: receipts,
``total`` exact to the cent, ``date`` equal as ISO ``YYYY-MM-DD``, ``vendor`` correct when
``1 - Levenshtein / max length`` of the normalised names (upper case, non-alphanumerics
collapsed to one space) is >= 0.8, word recall (bag of upper-cased whitespace tokens
against the ``.csv`` transcripts; mean over receipts, and pooled), the share typed
``receipt``, and seconds per receipt (wall time of ``process()``, p50 / p95, and the p50 of
the process CPU time it took, summed over threads: steadier than wall time on a loaded machine).

The last line is machine-readable, for the ``default`` configuration::

    RESULT total_acc=.. date_acc=.. vendor_acc=.. word_recall=.. receipt_type_acc=..
           s_per_receipt_p50=.. s_per_receipt_p95=..
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from synth.evaluation import (  # noqa: E402
    VENDOR_MIN_SIMILARITY,
    LabelledReceipt,
    load_sroie,
    parse_amount,
    parse_truth_date,
    tokens,
    vendor_similarity,
    word_recall,
)
from ocr_agents.pipeline import DocumentProcessor  # noqa: E402
from ocrstream.paths import REPO_ROOT  # noqa: E402
from ocrstream.settings import OcrSettings, load_settings  # noqa: E402

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "receipts-sroie"


@dataclass
class Outcome:
    name: str
    route: str
    seconds: float
    cpu_seconds: float
    total_ok: bool
    date_ok: bool
    vendor_ok: bool
    recall: float
    truth_tokens: int
    hit_tokens: int
    is_receipt: bool
    got: dict[str, Any]
    want: dict[str, Any]


@dataclass
class Config:
    name: str
    overrides: dict[str, Any]
    processor: DocumentProcessor
    outcomes: list[Outcome] = field(default_factory=list)


class StageClock:
    """Seconds in the onnx engine's detector and recogniser (and crops recognised) of one
    processor, per document: the default configuration's split of ``s_per_receipt``."""

    def __init__(self, processor: DocumentProcessor) -> None:
        self.det = self.rec = 0.0
        self.crops = 0
        self.per_doc: list[tuple[float, float, int]] = []
        engine = processor.engine("onnx")
        engine.detector.detect = self._clocked(engine.detector.detect, self._add_det)
        engine.recognizer.recognize = self._clocked(engine.recognizer.recognize, self._add_rec)

    @staticmethod
    def _clocked(fn: Any, record: Any) -> Any:
        """``fn`` (one argument) that calls ``record(seconds, argument)`` after each call."""
        def clocked(arg: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(arg)
            finally:
                record(time.perf_counter() - t0, arg)
        return clocked

    def _add_det(self, seconds: float, _image: Any) -> None:
        self.det += seconds

    def _add_rec(self, seconds: float, crops: Any) -> None:
        self.rec += seconds
        self.crops += len(crops)

    def start(self) -> None:
        self.det = self.rec = 0.0
        self.crops = 0

    def stop(self) -> None:
        self.per_doc.append((self.det, self.rec, self.crops))

    def line(self) -> str:
        det, rec, crops = (statistics.median(v) for v in zip(*self.per_doc))
        return (f"default onnx stages per receipt (p50): detection {det:.3f} s, recognition {rec:.3f} s "
                f"of {crops:.0f} crops")


def parse_variant(spec: str) -> tuple[str, dict[str, Any]]:
    """``NAME:FIELD=VALUE,FIELD=VALUE`` -> (NAME, overrides); values are JSON when they parse."""
    name, _, rest = spec.partition(":")
    overrides: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, _, raw = item.partition("=")
        try:
            overrides[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            overrides[key.strip()] = raw.strip()
    return name, overrides


def score(receipt: LabelledReceipt, result: Any, seconds: float, cpu_seconds: float) -> Outcome:
    """One receipt's outcome against its ground truth."""
    got = result.values
    want_total, want_date = parse_amount(receipt.total), parse_truth_date(receipt.date)
    total = got.get("total")
    truth_tok = tokens("\n".join(receipt.lines))
    hits = tokens(result.text)
    hit = sum(min(n, hits[t]) for t, n in truth_tok.items())
    return Outcome(
        name=receipt.name,
        route=f"{result.doc_type}->{result.engine}",
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        total_ok=total is not None and want_total is not None and abs(total - want_total) < 0.005,
        date_ok=got.get("date") is not None and got.get("date") == want_date,
        vendor_ok=vendor_similarity(got.get("vendor"), receipt.company) >= VENDOR_MIN_SIMILARITY,
        recall=word_recall(receipt.lines, result.text),
        truth_tokens=sum(truth_tok.values()),
        hit_tokens=hit,
        is_receipt=result.doc_type == "receipt",
        got={k: got.get(k) for k in ("vendor", "date", "total")} | {"type": result.doc_type,
                                                                    "type_conf": round(result.type_confidence, 3)},
        want={"vendor": receipt.company, "date": want_date, "total": want_total},
    )


def summary(outcomes: list[Outcome]) -> dict[str, float]:
    """Accuracies, word recall (mean and pooled) and seconds per receipt (p50, p95)."""
    n = len(outcomes)
    if not n:
        return {}
    secs = [o.seconds for o in outcomes]
    return {
        "n": n,
        "total_acc": sum(o.total_ok for o in outcomes) / n,
        "date_acc": sum(o.date_ok for o in outcomes) / n,
        "vendor_acc": sum(o.vendor_ok for o in outcomes) / n,
        "word_recall": statistics.fmean(o.recall for o in outcomes),
        "word_recall_pooled": sum(o.hit_tokens for o in outcomes) / max(1, sum(o.truth_tokens for o in outcomes)),
        "receipt_type_acc": sum(o.is_receipt for o in outcomes) / n,
        "s_per_receipt_p50": float(np.percentile(secs, 50)),
        "s_per_receipt_p95": float(np.percentile(secs, 95)),
        "cpu_s_per_receipt_p50": float(np.percentile([o.cpu_seconds for o in outcomes], 50)),
    }


def print_table(rows: list[tuple[str, dict[str, float]]]) -> None:
    cols = ("n", "total_acc", "date_acc", "vendor_acc", "word_recall", "word_recall_pooled", "receipt_type_acc",
            "s_per_receipt_p50", "s_per_receipt_p95", "cpu_s_per_receipt_p50")
    heads = ("n", "total", "date", "vendor", "recall", "pooled", "receipt", "p50 s", "p95 s", "cpu p50")
    width = max(12, *(len(r[0]) for r in rows))
    print(f"{'':{width}s} " + " ".join(f"{h:>7s}" for h in heads))
    for label, s in rows:
        print(f"{label:{width}s} " + " ".join(
            f"{int(s[c]):7d}" if c == "n" else f"{s[c]:7.3f}" for c in cols))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--split", choices=("all", "even", "odd"), default="all",
                    help="even/odd positions of the sorted receipts (tune on one half, confirm on the other)")
    ap.add_argument("--limit", type=int, default=0, help="first N receipts only (0 = all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variant", action="append", default=[], metavar="NAME:FIELD=VALUE,...",
                    help="another OcrSettings configuration to run on the same receipts")
    ap.add_argument("--show-errors", type=int, default=0, help="print this many wrong receipts per config")
    ap.add_argument("--json-out", type=Path, help="write every outcome as JSON here")
    a = ap.parse_args(argv)

    if not a.data.is_dir() or not any(a.data.glob("*.jpg")):
        print(f"no receipts at {a.data}: expected NNN.jpg + NNN.json + NNN.csv (SROIE layout); "
              "pass --data DIR", file=sys.stderr)
        return 2
    receipts = load_sroie(a.data)
    if a.split != "all":
        receipts = receipts[(0 if a.split == "even" else 1)::2]
    if a.limit:
        receipts = receipts[: a.limit]

    base = load_settings().ocr.model_copy(update={"threads": a.threads})
    configs = [Config("default", {}, DocumentProcessor(base))]
    for spec in a.variant:
        name, overrides = parse_variant(spec)
        settings = OcrSettings(**(base.model_dump() | overrides))
        configs.append(Config(name, overrides, DocumentProcessor(settings)))

    load = os.getloadavg()[0]
    print(f"{len(receipts)} receipts from {a.data} ({a.split}), threads={a.threads}, "
          f"load average {load:.2f} at start; configs: "
          + "; ".join(f"{c.name} {c.overrides or ''}" for c in configs))
    datas = {r.name: r.image.read_bytes() for r in receipts}
    for c in configs:  # warm-up: load models
        c.processor.process(datas[receipts[0].name], filename=receipts[0].image.name)
    stages = StageClock(configs[0].processor)
    t_start = time.perf_counter()
    for i, r in enumerate(receipts):
        order = configs[i % len(configs):] + configs[: i % len(configs)]
        for c in order:
            if c is configs[0]:
                stages.start()
            t0, c0 = time.perf_counter(), time.process_time()
            result = c.processor.process(datas[r.name], filename=r.image.name)
            c.outcomes.append(score(r, result, time.perf_counter() - t0, time.process_time() - c0))
            if c is configs[0]:
                stages.stop()
    print(f"done in {time.perf_counter() - t_start:.0f} s; load average {os.getloadavg()[0]:.2f} at the end "
          "(shared machine: absolute seconds are noisy, compare configurations within this run)")

    rows: list[tuple[str, dict[str, float]]] = []
    for c in configs:
        rows.append((c.name, summary(c.outcomes)))
        for route in sorted({o.route for o in c.outcomes}):
            rows.append((f"  {route}", summary([o for o in c.outcomes if o.route == route])))
    print_table(rows)
    print(stages.line())
    for c in configs:
        wrong = [o for o in c.outcomes if not (o.total_ok and o.date_ok and o.vendor_ok)]
        for o in wrong[: a.show_errors]:
            bad = [k for k, ok in (("total", o.total_ok), ("date", o.date_ok), ("vendor", o.vendor_ok)) if not ok]
            print(f"  [{c.name}] {o.name} wrong {bad}: got {o.got} want {o.want}")
    if a.json_out:
        a.json_out.write_text(json.dumps({c.name: [o.__dict__ for o in c.outcomes] for c in configs}, indent=1))
    s = summary(configs[0].outcomes)
    print("RESULT " + " ".join(f"{k}={s[k]:.3f}" for k in ("total_acc", "date_acc", "vendor_acc", "word_recall",
                                                             "receipt_type_acc", "s_per_receipt_p50",
                                                             "s_per_receipt_p95")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
