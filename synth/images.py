"""Rendered documents as load: PNG + ground-truth JSON per document and a ``manifest.json``.

:func:`generate_images` renders ``count`` receipts, invoices, reports and forms
(:mod:`synth.documents`) with event times at ``rate`` documents per second from
``start_ms`` and a business each; ``ocrstream generate --mode images`` writes them
and may publish them as ``DocumentRef``s (:mod:`synth.cli`).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocrstream.records import TEXT_DOC_TYPES
from synth.documents import generate_corpus

IMAGE_KINDS: tuple[str, ...] = TEXT_DOC_TYPES


@dataclass
class ImageDoc:
    """One rendered document: its PNG (truth beside it as ``.json``), business, event time (ms), kind, total."""

    image: Path
    business_id: str
    event_time: int
    kind: str
    total: float | None


def generate_images(out_dir: Path, businesses: tuple[str, ...], count: int, rate: float, start_ms: int,
                    seed: int, noisy_fraction: float = 0.3) -> list[ImageDoc]:
    """Render ``count`` documents into ``out_dir`` (PNG + truth JSON) and write ``manifest.json``.

    Document ``i`` has event time ``start_ms + i * 1000 / rate`` and a business
    drawn deterministically from ``seed``. Same arguments, same files.
    """
    if count < 1:
        raise ValueError("nothing to generate: rate x duration is below one document")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = generate_corpus(out_dir, count, seed, kinds=IMAGE_KINDS, noisy_fraction=noisy_fraction)
    r = random.Random(f"images:{seed}")
    docs: list[ImageDoc] = []
    for i, png in enumerate(paths):
        truth = json.loads(png.with_suffix(".json").read_text())
        docs.append(ImageDoc(png, r.choice(businesses), start_ms + int(i * 1000 / rate), truth["kind"],
                             truth["fields"].get("total")))
    manifest: list[dict[str, Any]] = [
        {"image": d.image.name, "business_id": d.business_id, "event_time": d.event_time, "kind": d.kind,
         "total": d.total} for d in docs]
    per_business: dict[str, dict[str, Any]] = {}
    for d in docs:
        b = per_business.setdefault(d.business_id, {"count": 0, "sum_total": 0.0})
        b["count"] += 1
        b["sum_total"] = round(b["sum_total"] + (d.total or 0.0), 2)
    (out_dir / "manifest.json").write_text(json.dumps({"seed": seed, "rate": rate, "start_ms": start_ms,
                                                       "businesses": per_business, "documents": manifest},
                                                      indent=1))
    return docs
