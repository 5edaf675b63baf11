"""Synthetic ``OcrResult`` events for the aggregation path (load generator mode b).

:func:`generate_events` returns an :class:`EventStream`: an iterator of
``OcrResult`` dicts (the seed design's ml_response: extracted fields with a
total, line items with values and confidences, a document score and an OCR
score, stage timings) whose event times are spread over
``[start_ms, start_ms + duration_s)`` at ``rate`` events per second (all
businesses together). The same arguments give the same events, byte for byte.

Arrival order is the order of the iterator. Event times follow it (nominal
time ``start + (i + u) * 1000 / rate`` ms, ``u`` uniform in [0, 1)), except:

* a fraction ``out_of_order`` of events carries an event time 1..``max_disorder_ms``
  ms *earlier* than its nominal time (out of order, but within a watermark's
  bounded out-of-orderness when ``max_disorder_ms`` is below it);
* a fraction ``late`` carries an event time ``late_delay_ms[0]..[1]`` ms earlier
  (meant to arrive after its windows closed);
* a fraction ``old`` carries an event time drawn uniformly from the ``old_span_ms``
  before ``start_ms``: history interleaved with live traffic, like a backfill or
  an import running beside it (late updates within allowed lateness, too late
  beyond it).

:meth:`EventStream.encoded` gives ``(key, value)`` bytes on a fast path: each
event is the concatenation of a few varying Avro fields (ids, business, times) and
pre-encoded runs of fields per ``(template, UTC day)`` (:class:`ocrstream.codec.RunEncoder`)
— the same bytes the serde writes for the same dict, registry framing included
(checked when a tail is built), at several times fastavro's speed.
:func:`producers.events.publish_events` produces a stream (or any iterable of
such dicts) to Kafka.

:attr:`EventStream.truth` (complete once the stream is exhausted) is the
ground truth per business: ``count``, ``sum_total`` (``fields.total``, ``None``
as 0, summed exactly in cents), ``sum_score``, ``sum_ocr_score``,
``doc_types``, ``out_of_order``, ``late``, ``min_event_time``,
``max_event_time``, ``line_items``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import random
import struct
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ocrstream.codec import AvroCodec, RunEncoder, Serde, encode_long, encode_string, load_schema
from ocrstream.records import FIELD_DOC_TYPES, TEXT_DOC_TYPES

DOC_TYPES: tuple[str, ...] = TEXT_DOC_TYPES  # the generated ones
_DOC_TYPE_WEIGHTS = (0.5, 0.3, 0.1, 0.1)
_VENDORS = ("ACME Market", "Blue Bottle Cafe", "Northwind Traders", "Contoso Ltd", "Fabrikam Inc",
            "Globex Supplies", "Initech Office", "Umbrella Pharmacy", "Stark Hardware", "Wayne Fuel")
_ITEMS = ("Coffee", "Bagel", "Printer paper", "Toner cartridge", "Consulting hour", "Cable 2m",
          "Desk lamp", "Sandwich", "Water 1L", "License fee", "Shipping", "Notebook A5")
_CURRENCIES = ("USD", "EUR", "GBP")
CHUNK = 65_536  # events planned per numpy batch (part of the determinism contract)


def _f32(x: float) -> float:
    """Round to the nearest float32 (Avro ``float``), so dicts equal decoded records."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


@dataclass(frozen=True)
class EventSpec:
    """Parameters of a synthetic event stream (all times in ms / s as named)."""

    businesses: tuple[str, ...]
    rate: float  # events per second of event time, all businesses together
    duration_s: float
    start_ms: int
    seed: int = 0
    out_of_order: float = 0.0
    max_disorder_ms: int = 4_000
    late: float = 0.0
    late_delay_ms: tuple[int, int] = (120_000, 600_000)
    templates: int = 1024
    source: str = "generator"
    old: float = 0.0
    old_span_ms: int = 6 * 86_400_000

    @property
    def count(self) -> int:
        return int(round(self.rate * self.duration_s))

    def digest(self) -> str:
        """Short id of these parameters; prefixes document ids (unique per spec)."""
        params = asdict(self)
        if not self.old:  # streams without old events keep the ids they had before the option existed
            del params["old"], params["old_span_ms"]
        return hashlib.blake2b(json.dumps(params, sort_keys=True).encode(), digest_size=5).hexdigest()


@dataclass
class _Template:
    doc_type: str
    type_confidence: float
    engine: str
    vendor: str | None
    currency: str | None
    subtotal_c: int | None
    tax_c: int | None
    total_c: int | None
    items: list[dict[str, Any]]
    text: str
    lines: list[dict[str, Any]]
    confidences: dict[str, float]
    score: float
    ocr_score: float
    timings: dict[str, float]
    processing_ms: int


def _make_templates(n: int, seed: int) -> list[_Template]:
    r = random.Random(f"ocrstream-events-templates:{seed}")
    out: list[_Template] = []
    for _ in range(n):
        doc_type = r.choices(DOC_TYPES, _DOC_TYPE_WEIGHTS)[0]
        timings = {"fetch_s": round(r.uniform(0.002, 0.05), 4), "classify_s": round(r.uniform(0.005, 0.03), 4),
                   "ocr_s": round(r.lognormvariate(-1.3, 0.5), 4), "extract_s": round(r.uniform(0.001, 0.02), 4)}
        score = _f32(r.uniform(0.55, 1.0))
        ocr_score = _f32(r.uniform(0.65, 1.0))
        items: list[dict[str, Any]] = []
        vendor = currency = None
        subtotal_c = tax_c = total_c = None
        conf: dict[str, float] = {}
        lines_text: list[str] = []
        if doc_type in FIELD_DOC_TYPES:
            vendor = r.choice(_VENDORS)
            currency = r.choice(_CURRENCIES)
            subtotal_c = 0
            for _ in range(r.randint(1, 6)):
                qty = r.randint(1, 4)
                unit_c = r.randint(99, 25_000 if doc_type == "invoice" else 2_500)
                amount_c = qty * unit_c
                subtotal_c += amount_c
                desc = r.choice(_ITEMS)
                items.append({"description": desc, "quantity": float(qty), "unit_price": unit_c / 100,
                              "amount": amount_c / 100, "confidence": _f32(r.uniform(0.6, 1.0)),
                              "raw_text": f"{desc} {qty} x {unit_c / 100:.2f} {amount_c / 100:.2f}", "page": 0,
                              "box": []})
                lines_text.append(f"{desc} {qty} x {unit_c / 100:.2f} {amount_c / 100:.2f}")
            tax_c = round(subtotal_c * r.choice((0.0, 0.05, 0.08, 0.2)))
            total_c = subtotal_c + tax_c
            lines_text = [vendor, *lines_text, f"SUBTOTAL {subtotal_c / 100:.2f}", f"TAX {tax_c / 100:.2f}",
                          f"TOTAL {total_c / 100:.2f} {currency}"]
            conf = {k: _f32(r.uniform(0.6, 1.0)) for k in ("vendor", "date", "total", "subtotal", "tax")}
        else:
            lines_text = [f"{doc_type.upper()} {r.randint(1000, 9999)}",
                          *(" ".join(r.choice(_ITEMS).lower() for _ in range(4)) for _ in range(r.randint(2, 5)))]
        lines = [{"text": t, "confidence": _f32(r.uniform(0.6, 1.0)), "box": [], "page": 0} for t in lines_text]
        processing_ms = int(sum(timings.values()) * 1000) + r.randint(5, 500)
        out.append(_Template(doc_type, _f32(r.uniform(0.6, 1.0)), "onnx", vendor, currency, subtotal_c, tax_c,
                             total_c, items, "\n".join(lines_text), lines, conf, score, ocr_score, timings,
                             processing_ms))
    return out


def _tail_dict(t: _Template, day: int) -> dict[str, Any]:
    """Fresh dicts for the template's fields (callers may mutate them)."""
    date = _dt.date(1970, 1, 1) + _dt.timedelta(days=day) if t.total_c is not None else None
    return {
        "doc_type": t.doc_type,
        "type_confidence": t.type_confidence,
        "engine": t.engine,
        "text": t.text,
        "pages": 1,
        "lines": [dict(line, box=list(line["box"])) for line in t.lines],
        "fields": {
            "vendor": t.vendor,
            "date": date.isoformat() if date else None,
            "currency": t.currency,
            "subtotal": None if t.subtotal_c is None else t.subtotal_c / 100,
            "tax": None if t.tax_c is None else t.tax_c / 100,
            "total": None if t.total_c is None else t.total_c / 100,
            "confidences": dict(t.confidences),
        },
        "line_items": [dict(item, box=list(item["box"])) for item in t.items],
        "field_evidence": {},
        "page_sizes": [],
        "score": t.score,
        "ocr_score": t.ocr_score,
        "timings": dict(t.timings),
    }


@dataclass
class BusinessTruth:
    """Ground truth of one business over the whole stream."""

    count: int = 0
    sum_total: float = 0.0
    sum_score: float = 0.0
    sum_ocr_score: float = 0.0
    line_items: int = 0
    out_of_order: int = 0
    late: int = 0
    min_event_time: int | None = None
    max_event_time: int | None = None
    doc_types: dict[str, int] = field(default_factory=dict)


class EventStream:
    """Iterator of ``OcrResult`` dicts for an :class:`EventSpec` (see module docstring).

    Iterate it for dicts, or call :meth:`encoded` for ``(key, value)`` Avro
    bytes; either way :attr:`truth` is filled as events are produced. One pass
    only: iterate a new :func:`generate_events` call to replay.
    """

    def __init__(self, spec: EventSpec) -> None:
        if not spec.businesses:
            raise ValueError("at least one business is needed")
        if spec.rate <= 0 or spec.duration_s <= 0:
            raise ValueError("rate and duration must be positive")
        self.spec = spec
        self.templates = _make_templates(spec.templates, spec.seed)
        self._prefix = spec.digest()
        self._started = False
        self._iter: Iterator[dict[str, Any]] | None = None
        B, T = len(spec.businesses), len(self.templates)
        self._cents = np.array([t.total_c or 0 for t in self.templates], dtype=np.float64)
        self._score = np.array([t.score for t in self.templates], dtype=np.float64)
        self._ocr = np.array([t.ocr_score for t in self.templates], dtype=np.float64)
        self._nitems = np.array([len(t.items) for t in self.templates], dtype=np.float64)
        self._types = np.array([DOC_TYPES.index(t.doc_type) for t in self.templates], dtype=np.int64)
        self._proc = np.array([t.processing_ms for t in self.templates], dtype=np.int64)
        self._acc = {
            "count": np.zeros(B, np.int64), "cents": np.zeros(B), "score": np.zeros(B), "ocr": np.zeros(B),
            "items": np.zeros(B), "ooo": np.zeros(B, np.int64), "late": np.zeros(B, np.int64),
            "types": np.zeros(B * len(DOC_TYPES), np.int64),
            "min": np.full(B, np.iinfo(np.int64).max), "max": np.full(B, np.iinfo(np.int64).min),
        }
        # skewed but fixed business weights (busy and quiet businesses)
        w = np.array([1.0 / (k + 1) ** 0.5 for k in range(B)])
        self._weights = w / w.sum()
        del T

    # ------------------------------------------------------------ plan

    def _plan(self) -> Iterator[tuple[int, list[int], list[int], list[int], list[int]]]:
        """Chunks of ``(first index, business idx, template idx, event_time, processed_at)``."""
        if self._started:
            raise RuntimeError("an EventStream is one pass: call generate_events() again to replay")
        self._started = True
        s = self.spec
        rng = np.random.default_rng(np.random.SeedSequence([s.seed, 0x0C5]))
        B = len(s.businesses)
        ms_per_event = 1000.0 / s.rate
        lo, hi = s.late_delay_ms
        for i0 in range(0, s.count, CHUNK):
            n = min(CHUNK, s.count - i0)
            idx = np.arange(i0, i0 + n, dtype=np.float64)
            u = rng.random(n)
            nominal = s.start_ms + np.floor((idx + u) * ms_per_event).astype(np.int64)
            biz = rng.choice(B, size=n, p=self._weights)
            tpl = rng.integers(0, len(self.templates), n)
            cat = rng.random(n)
            late = cat < s.late
            ooo = (~late) & (cat < s.late + s.out_of_order)
            late_d = rng.integers(lo, hi + 1, n) if hi >= lo else np.zeros(n, np.int64)
            ooo_d = rng.integers(1, max(1, s.max_disorder_ms) + 1, n)
            delay = np.where(late, late_d, np.where(ooo, ooo_d, 0))
            event_time = nominal - delay
            if s.old:
                old = (~late) & (~ooo) & (cat < s.late + s.out_of_order + s.old)
                back = rng.integers(1, max(1, s.old_span_ms) + 1, n)
                event_time = np.where(old, s.start_ms - back, event_time)
            processed = nominal + self._proc[tpl]
            a = self._acc
            a["count"] += np.bincount(biz, minlength=B)
            a["cents"] += np.bincount(biz, weights=self._cents[tpl], minlength=B)
            a["score"] += np.bincount(biz, weights=self._score[tpl], minlength=B)
            a["ocr"] += np.bincount(biz, weights=self._ocr[tpl], minlength=B)
            a["items"] += np.bincount(biz, weights=self._nitems[tpl], minlength=B)
            a["ooo"] += np.bincount(biz[ooo], minlength=B)
            a["late"] += np.bincount(biz[late], minlength=B)
            a["types"] += np.bincount(biz * len(DOC_TYPES) + self._types[tpl], minlength=B * len(DOC_TYPES))
            np.minimum.at(a["min"], biz, event_time)
            np.maximum.at(a["max"], biz, event_time)
            yield i0, biz.tolist(), tpl.tolist(), event_time.tolist(), processed.tolist()

    def document_id(self, i: int) -> str:
        """Document id of event ``i`` (unique per spec)."""
        return f"gen-{self._prefix}-{i:010d}"

    # ------------------------------------------------------------ dicts

    @property
    def fresh(self) -> bool:
        """True until the stream is iterated or encoded (it is one pass)."""
        return not self._started and self._iter is None

    def __iter__(self) -> "EventStream":
        return self

    def __next__(self) -> dict[str, Any]:
        if self._iter is None:
            self._iter = self._dicts()
        return next(self._iter)

    def _dicts(self) -> Iterator[dict[str, Any]]:
        s = self.spec
        for i0, biz, tpl, et, pa in self._plan():
            for j in range(len(biz)):
                doc_id = self.document_id(i0 + j)
                rec = {"document_id": doc_id, "business_id": s.businesses[biz[j]], "uri": f"gen://{doc_id}",
                       "source": s.source, "event_time": et[j], "processed_at": pa[j]}
                rec.update(_tail_dict(self.templates[tpl[j]], et[j] // 86_400_000))
                yield rec

    # ------------------------------------------------------------ bytes

    def encoded(self, serde: Serde | None = None, topic: str | None = None) -> Iterator[tuple[bytes, bytes]]:
        """``(key, value)`` per event: key = business id, value = the ``OcrResult`` as ``serde`` writes it
        for ``topic`` (default: single-object Avro; a registry serde gives the registry's framing).

        A fast path (:class:`ocrstream.codec.RunEncoder`): the fields that vary per event (ids,
        business, times, uri, source) are encoded here, every other run of fields once per
        ``(template, UTC day)`` and reused. The first event of each pair is checked against
        ``serde.encode`` of the whole record.
        """
        serde = serde or AvroCodec(load_schema("OcrResult"))
        s = self.spec
        keys = [b.encode() for b in s.businesses]
        biz_enc = [encode_string(b) for b in s.businesses]
        source_enc = encode_string(s.source)
        prefix = f"gen-{self._prefix}-"
        id_len = encode_long(len(prefix) + 10)
        uri_len = encode_long(len(prefix) + 10 + len("gen://"))
        runs = RunEncoder(serde, topic, {"document_id", "business_id", "event_time", "processed_at", "uri",
                                         "source"})
        cache: dict[tuple[int, int], list[bytes]] = {}

        for i0, biz, tpl, et, pa in self._plan():
            for j in range(len(biz)):
                i = i0 + j
                b = biz[j]
                e = et[j]
                idb = f"{prefix}{i:010d}".encode()
                own = {"document_id": id_len + idb, "business_id": biz_enc[b], "event_time": encode_long(e),
                       "processed_at": encode_long(pa[j]), "uri": uri_len + b"gen://" + idb, "source": source_enc}
                day = e // 86_400_000
                parts = cache.get((tpl[j], day))
                if parts is not None:
                    yield keys[b], runs.compose(own, parts)
                    continue
                rec = {"document_id": idb.decode(), "business_id": s.businesses[b], "uri": "gen://" + idb.decode(),
                       "source": s.source, "event_time": e, "processed_at": pa[j]}
                rec.update(_tail_dict(self.templates[tpl[j]], day))
                parts = cache[(tpl[j], day)] = runs.shared_parts(rec)
                value = runs.compose(own, parts)
                runs.verify(value, rec)  # the composed bytes must equal the serde's
                yield keys[b], value

    # ------------------------------------------------------------ truth

    @property
    def truth(self) -> dict[str, Any]:
        """Ground truth per business (complete once the stream is exhausted)."""
        a = self._acc
        out: dict[str, Any] = {}
        for k, name in enumerate(self.spec.businesses):
            n = int(a["count"][k])
            out[name] = asdict(BusinessTruth(
                count=n,
                sum_total=round(float(a["cents"][k]) / 100, 2),
                sum_score=float(a["score"][k]),
                sum_ocr_score=float(a["ocr"][k]),
                line_items=int(a["items"][k]),
                out_of_order=int(a["ooo"][k]),
                late=int(a["late"][k]),
                min_event_time=int(a["min"][k]) if n else None,
                max_event_time=int(a["max"][k]) if n else None,
                doc_types={t: int(a["types"][k * len(DOC_TYPES) + d])
                           for d, t in enumerate(DOC_TYPES) if a["types"][k * len(DOC_TYPES) + d]},
            ))
        return out

    def write_ground_truth(self, path: Path, **extra: Any) -> Path:
        """Write ``{"spec": ..., "businesses": truth, **extra}`` as JSON to ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        spec = asdict(self.spec)
        doc = {"spec": spec, "events": sum(v["count"] for v in self.truth.values()),
               "businesses": self.truth, **extra}
        path.write_text(json.dumps(doc, indent=1))
        return path


def generate_events(businesses: Iterable[str] | int, rate: float, duration_s: float, start_ms: int, *,
                    seed: int = 0, out_of_order: float = 0.0, max_disorder_ms: int = 4_000,
                    late: float = 0.0, late_delay_ms: tuple[int, int] = (120_000, 600_000),
                    templates: int = 1024, old: float = 0.0, old_span_ms: int = 6 * 86_400_000) -> EventStream:
    """Deterministic ``OcrResult`` dicts (see module docstring); ``businesses`` may be a count."""
    names = business_names(businesses) if isinstance(businesses, int) else tuple(businesses)
    return EventStream(EventSpec(businesses=names, rate=float(rate), duration_s=float(duration_s),
                                 start_ms=int(start_ms), seed=seed, out_of_order=out_of_order,
                                 max_disorder_ms=max_disorder_ms, late=late,
                                 late_delay_ms=(int(late_delay_ms[0]), int(late_delay_ms[1])),
                                 templates=templates, old=float(old), old_span_ms=int(old_span_ms)))


def business_names(n: int) -> tuple[str, ...]:
    """``biz-000`` .. ``biz-{n-1}``."""
    return tuple(f"biz-{k:03d}" for k in range(n))
