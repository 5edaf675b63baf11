"""One validation of every ``OcrResult`` before it counts anywhere (the sink's gate).

Every field of the schema has a range; they are checked in two places of the one
insert path, and a record that fails either is dead-lettered with a one-line
reason naming the field — it never reaches a window, a watermark, a checkpoint
or a table, so a replay meets the same verdict and can never crash-loop:

1. **here, before the window operator** — the *window prefix* that
   :class:`ocrstream.result_decode.ResultDecoder` reads from the record
   (:data:`PREFIX`, the fields the windows and dedupe use):

   * the whole record: at most ``sink.max_result_bytes`` on the wire
     (:class:`RecordTooLarge`; this bounds ``text``, ``lines``, ``line_items``,
     ``field_evidence``, whose structure the Avro parser checks);
   * ``document_id`` 1..256 characters, ``business_id`` 1..128 (and in
     ``worker.known_businesses`` when that is set), ``doc_type`` <= 64;
   * ``event_time``: epoch ms within ClickHouse's ``DateTime64`` range
     (1900..2299) and at most ``windows.max_future_ms`` ahead of the wall clock
     (:class:`FutureEventTime`);
   * ``score``, ``ocr_score`` in [0, 1]; ``timings.*`` seconds in [0, 86,400];
     ``fields.total`` null or |x| <= 1e15 (NaN and infinities fail every range);

2. **by ClickHouse, as the body is inserted** — the ``CHECK`` constraints of
   ``documents_avro`` (migration ``011_documents_avro.sql``) on the rest:
   ``fields.subtotal``/``tax`` like ``total``; ``fields.vendor`` <= 1,024 bytes,
   ``date`` <= 64, ``currency`` <= 16; ``fields.confidences``: <= 64 keys, values
   in [0, 1]; ``pages`` 1..65,535; ``type_confidence`` in [0, 1];
   ``processed_at`` >= 1970; ``uri`` <= 8,192 bytes, ``source``/``engine`` <= 64.
   An insert that violates one is narrowed down to its records, which are
   dead-lettered (``RefusedByClickHouse``, with the constraint and the value),
   and the sink resumes from its last checkpoint without them.

Records of an older writer schema are re-encoded to the current one first, so
both checks apply to every record alike.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from ocrstream.errors import InvalidRecord, UnknownBusiness

#: The window prefix in schema order (:func:`ocrstream.avro_prefix.compile_prefix_reader`
#: stops before :data:`PREFIX_END`).
PREFIX: tuple[str, ...] = (
    "document_id", "business_id", "event_time", "doc_type", "score", "ocr_score",
    "timings.ocr_s", "timings.fetch_s", "timings.classify_s", "timings.extract_s", "fields.total",
)  # fmt: skip
PREFIX_END = "fields.subtotal"

#: ClickHouse DateTime64(3) range, epoch ms (1900-01-01 .. 2299-12-31).
MIN_TIME_MS = -2_208_988_800_000
MAX_TIME_MS = 10_413_791_999_999
MAX_MONEY = 1e15
MAX_STAGE_S = 86_400.0


class FutureEventTime(InvalidRecord):
    """``event_time`` is more than ``windows.max_future_ms`` ahead of the wall clock."""


class RecordTooLarge(InvalidRecord):
    """The record is larger than ``sink.max_result_bytes``."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _iso(ms: int) -> str:
    try:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return str(ms)


_CONSTRAINT = re.compile(r"Constraint `(\w+)`.*?Column values: (.*?)\.? \(VIOLATED_CONSTRAINT\)", re.S)


def constraint_reason(message: str) -> str:
    """ClickHouse's constraint violation, short: ``constraint pages_range violated: pages = -1``."""
    m = _CONSTRAINT.search(message)
    if not m:
        return " ".join(message.split())[:300]
    return f"constraint {m.group(1)} violated: {m.group(2)}"[:300]


class ResultValidator:
    """Checks the window prefix of ``OcrResult`` records; see the module docstring.

    ``max_bytes`` is ``sink.max_result_bytes``, ``max_future_ms``
    ``windows.max_future_ms``, ``known_businesses`` ``worker.known_businesses``
    (empty = any business). ``now_ms`` (epoch ms) is the wall clock for the
    future check; injectable for tests.
    """

    def __init__(self, names: tuple[str, ...], *, max_bytes: int, max_future_ms: int,
                 known_businesses: Iterable[str] = (), now_ms: Callable[[], int] = _now_ms) -> None:
        if tuple(names) != PREFIX:
            raise ValueError(f"OcrResult prefix {names} != the validated fields {PREFIX}: update "
                             "ocrstream/result_validation.py with the schema")
        self.max_bytes = int(max_bytes)
        self.max_future_ms = int(max_future_ms)
        self.known = frozenset(known_businesses)
        self.now_ms = now_ms

    def check_size(self, n_bytes: int) -> None:
        if n_bytes > self.max_bytes:
            raise RecordTooLarge(f"record of {n_bytes:,} bytes exceeds sink.max_result_bytes "
                                 f"({self.max_bytes:,})", stage="aggregate")

    def check(self, v: tuple[Any, ...]) -> None:
        """Raise :class:`InvalidRecord` (a ``Permanent``) naming the first bad field of prefix ``v``."""
        doc_id, business, et, doc_type, score, ocr_score, t0, t1, t2, t3, total = v
        if (  # the common case in one expression; _explain() says what failed
            MIN_TIME_MS <= et <= MAX_TIME_MS and et - self.now_ms() <= self.max_future_ms
            and 0 < len(doc_id) <= 256 and 0 < len(business) <= 128 and len(doc_type) <= 64
            and 0.0 <= score <= 1.0 and 0.0 <= ocr_score <= 1.0
            and 0.0 <= t0 <= MAX_STAGE_S and 0.0 <= t1 <= MAX_STAGE_S and 0.0 <= t2 <= MAX_STAGE_S
            and 0.0 <= t3 <= MAX_STAGE_S and (total is None or -MAX_MONEY <= total <= MAX_MONEY)
            and (not self.known or business in self.known)
        ):
            return
        self._explain(v)

    def _explain(self, v: tuple[Any, ...]) -> None:
        doc_id, business, et, doc_type, score, ocr_score, *timings, total = v
        if not MIN_TIME_MS <= et <= MAX_TIME_MS:
            raise InvalidRecord(f"event_time = {et}: outside 1900..2299", stage="aggregate")
        ahead = et - self.now_ms()
        if ahead > self.max_future_ms:
            raise FutureEventTime(
                f"event_time {_iso(et)} is {ahead / 3_600_000:.1f} h ahead of the wall clock "
                f"(windows.max_future_ms = {self.max_future_ms / 3_600_000:g} h)", stage="aggregate")
        checks: list[tuple[str, Any, bool, str]] = [
            ("document_id", doc_id, 0 < len(doc_id) <= 256, "not 1..256 characters"),
            ("business_id", business, 0 < len(business) <= 128, "not 1..128 characters"),
            ("doc_type", doc_type, len(doc_type) <= 64, "longer than 64 characters"),
            ("score", score, 0.0 <= score <= 1.0, "outside [0, 1]"),
            ("ocr_score", ocr_score, 0.0 <= ocr_score <= 1.0, "outside [0, 1]"),
            *((name, x, 0.0 <= x <= MAX_STAGE_S, "outside [0, 86400] s") for name, x in zip(PREFIX[6:10], timings)),
            ("fields.total", total, total is None or -MAX_MONEY <= total <= MAX_MONEY, f"|x| > {MAX_MONEY:g}"),
        ]
        for name, value, ok, why in checks:
            if not ok:
                text = repr(value)
                raise InvalidRecord(f"{name} = {text[:60]}{'...' if len(text) > 60 else ''}: {why}",
                                    stage="aggregate")
        if self.known and business not in self.known:
            raise UnknownBusiness(f"unknown business {business!r}", stage="aggregate")
        raise InvalidRecord(f"invalid record {v!r:.200}", stage="aggregate")  # check() and these agree


__all__ = ["FutureEventTime", "PREFIX", "PREFIX_END", "RecordTooLarge", "ResultValidator", "constraint_reason"]
