"""Replayable load generator: timing parameters and the document-image mode.

Two modes share the timing model (``rate`` events/s across all businesses,
event times spread over ``[start, start + duration)``):

* ``events`` (:mod:`producers.events`): ``OcrResult`` events straight onto the
  ``ocr-results`` topic, for the aggregation path at high rates;
* ``images`` (:func:`generate_images`): rendered receipts, invoices, reports
  and forms (``producers.docgen``) written as PNG + ground-truth JSON, plus a
  ``manifest.json`` (image, business, event time, kind, total); optionally
  published as ``DocumentRef``s through :class:`~producers.publish.DocumentPublisher`.

Backfill mode produces as fast as possible; live mode (``--rate/--duration``
without ``--backfill``) starts at the current time and paces emission so that
event time follows the wall clock.
"""

from __future__ import annotations

import datetime as _dt
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocrstream.settings import Settings
from producers.errors import ProducerError

IMAGE_KINDS: tuple[str, ...] = ("receipt", "invoice", "report", "form")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """``"90"``/``"90s"``, ``"15m"``, ``"1h"``, ``"7d"``, ``"1w"``, ``"1h30m"`` → seconds."""
    t = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", t):
        return float(t)
    parts = re.findall(r"(\d+(?:\.\d+)?)([smhdw])", t)
    if not parts or "".join(a + b for a, b in parts) != t:
        raise ProducerError(f"bad duration {text!r}: use e.g. 90s, 15m, 1h, 7d")
    return sum(float(a) * _UNITS[b] for a, b in parts)


def parse_time_ms(text: str) -> int:
    """ISO 8601 date/time (UTC when no zone is given) or epoch milliseconds → epoch ms."""
    t = text.strip()
    if re.fullmatch(r"\d{11,}", t):
        return int(t)
    try:
        d = _dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise ProducerError(f"bad time {text!r}: use ISO 8601 like 2024-05-01T00:00:00Z or epoch ms") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=_dt.timezone.utc)
    return int(d.timestamp() * 1000)


def default_backfill_start(duration_s: float, now_ms: int) -> int:
    """Backfill window ending at the last full hour before ``now_ms`` (stable within the hour)."""
    end = now_ms - now_ms % 3_600_000
    return end - int(duration_s * 1000)


def parse_businesses(value: str) -> tuple[str, ...]:
    """``"3"`` → ``biz-000..biz-002``; ``"a,b"`` → ``("a", "b")``."""
    from producers.events import business_names

    v = value.strip()
    if v.isdigit():
        if int(v) < 1:
            raise ProducerError("--businesses must be at least 1")
        return business_names(int(v))
    names = tuple(x.strip() for x in v.split(",") if x.strip())
    if not names:
        raise ProducerError("--businesses needs a count or a comma-separated list of ids")
    return names


@dataclass
class ImageDoc:
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
    from producers.docgen import generate_corpus

    if count < 1:
        raise ProducerError("nothing to generate: rate x duration is below one document")
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


def publish_images(settings: Settings, docs: list[ImageDoc], *, presign: bool = False,
                   on_progress: Any = None) -> "Any":
    """Publish generated images as ``DocumentRef``s (source ``generator``), one publisher per business."""
    from producers.publish import Candidate, DocumentPublisher, PublishSummary

    total = PublishSummary()
    times = {str(d.image.resolve()): d.event_time for d in docs}
    for business in sorted({d.business_id for d in docs}):
        mine = [d for d in docs if d.business_id == business]
        cands = []
        for d in mine:
            st = d.image.stat()
            cands.append(Candidate(name=str(d.image), path=d.image.resolve(), size=st.st_size, mtime_ns=st.st_mtime_ns))
        with DocumentPublisher(settings, business, source="generator", presign=presign,
                               event_time=lambda c: times[str(c.path)], on_progress=on_progress) as pub:
            total.merge(pub.publish(cands))
    return total
