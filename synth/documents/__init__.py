"""Deterministic synthetic document renderer with ground truth.

:func:`render_document` draws one page of a given kind (``receipt``, ``invoice``,
``report``, ``form``, ``photo``, ``blank``) with Pillow + DejaVu fonts and returns
the BGR ``uint8`` image plus a ground-truth dict::

    {"kind": str,
     "text": str,            # the printed text, one visual row per line ("\\n"),
                             # items on one row joined by one space, left to right
     "fields": {"vendor": str|None, "date": "YYYY-MM-DD"|None, "currency": ISO 4217|None,
                "subtotal": float|None, "tax": float|None, "total": float|None},
     "line_items": [{"description", "quantity", "unit_price", "amount"}, ...],
     "noisy": bool, "seed": int, "width": int, "height": int}

Sizes correspond to ~150 dpi (``dpi_scale=1``): receipts are ~560-640 px wide
and tall, A4 pages 1240x1754 px. ``noisy=True`` adds scan/photo degradations
(rotation 1.5-5 degrees either way, slight perspective, shading, low contrast,
blur, gaussian noise, JPEG artefacts, sometimes reduced resolution).

Output is a pure function of ``(kind, seed, noisy, dpi_scale)`` (same bytes on
the same library versions). :func:`generate_corpus` writes ``<name>.png`` +
``<name>.json`` pairs for load generators and tests.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from synth.documents.blank import render_blank
from synth.documents.canvas import rng_pair
from synth.documents.form import render_form
from synth.documents.formats import DATE_STYLES, format_amount, format_date
from synth.documents.invoice import render_invoice
from ocrstream.records import DOC_TYPES
from synth.documents.noise import compress, degrade, tint_paper
from synth.documents.photo import render_photo
from synth.documents.receipt import render_receipt
from synth.documents.report import render_report

__all__ = ["DATE_STYLES", "KINDS", "degrade", "format_amount", "format_date", "generate_corpus", "render_document"]

KINDS: tuple[str, ...] = DOC_TYPES

#: Kinds drawn as text on a grey canvas (their ``text`` truth is what the canvas printed).
PRINTED = {"receipt": render_receipt, "invoice": render_invoice, "report": render_report, "form": render_form}


def render_document(kind: str, seed: int, *, noisy: bool = False, dpi_scale: float = 1.0
                    ) -> tuple[np.ndarray, dict[str, Any]]:
    """Render one page of ``kind`` for ``seed``.

    Returns ``(image, truth)``: a BGR ``uint8`` array (~150 dpi times ``dpi_scale``) and
    the ground-truth dict described in the module docstring. ``fields`` values are
    ``None`` for kinds without them (report, form, photo, blank). The clean and the
    noisy variant of one seed show the same document.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    r, rng = rng_pair("docgen", kind, seed, dpi_scale)
    r2, rng2 = rng_pair("degrade", kind, seed, dpi_scale)
    empty = {"vendor": None, "date": None, "currency": None, "subtotal": None, "tax": None, "total": None}
    fields, items = dict(empty), []
    if kind in PRINTED:
        cv, extra = PRINTED[kind](r, dpi_scale)
        text = cv.printed_text()
        fields = {**empty, **extra["fields"]}
        items = extra["line_items"]
        grey = cv.array()
        if noisy:  # degrade the grey page (3x cheaper), then tint it
            grey = degrade(grey, r2, rng2)
        img = tint_paper(r, grey)
    elif kind == "photo":
        img, text = render_photo(r, rng, dpi_scale)
        if noisy:
            img = degrade(img, r2, rng2)
    else:
        grey, text = render_blank(r, rng, dpi_scale), ""
        if noisy:
            grey = degrade(grey, r2, rng2)
        img = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    if noisy:
        img = compress(img, r2)
    img = np.ascontiguousarray(img)
    truth = {"kind": kind, "text": text, "fields": fields, "line_items": items, "noisy": noisy,
             "seed": seed, "width": int(img.shape[1]), "height": int(img.shape[0])}
    return img, truth


def generate_corpus(out_dir: str | Path, n: int, seed: int, kinds: Sequence[str] = KINDS,
                    noisy_fraction: float = 0.5, dpi_scale: float = 1.0) -> list[Path]:
    """Write ``n`` pages to ``out_dir`` as ``<name>.png`` + ``<name>.json`` (the truth dict).

    Kinds cycle through ``kinds`` in order; page ``i`` uses seed ``seed * 1_000_003 + i``
    and is noisy with probability ``noisy_fraction`` (drawn from ``seed``). Names are
    ``{kind}-{seed}-{i:06d}[-noisy]``. Returns the PNG paths in order; same arguments,
    same bytes.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    r = random.Random(f"corpus:{seed}")
    paths: list[Path] = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        noisy = r.random() < noisy_fraction
        page_seed = seed * 1_000_003 + i
        img, truth = render_document(kind, page_seed, noisy=noisy, dpi_scale=dpi_scale)
        name = f"{kind}-{seed}-{i:06d}" + ("-noisy" if noisy else "")
        png = out / f"{name}.png"
        cv2.imwrite(str(png), img, [cv2.IMWRITE_PNG_COMPRESSION, 3])
        truth["image"] = png.name
        (out / f"{name}.json").write_text(json.dumps(truth, indent=1, ensure_ascii=False))
        paths.append(png)
    return paths
