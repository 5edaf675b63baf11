"""One validation of every ``OcrResult`` before anything is inserted (the sink's gate).

It runs on the record's *scalar prefix* — every field before ``text`` in the
current ``OcrResult`` schema, as :class:`streams.decode.ResultDecoder` reads it
(records of older writer schemas are re-encoded to the current one first, so
both paths meet exactly these checks). A record that fails is dead-lettered
with a one-line reason naming the field, and the stream goes on; nothing of it
reaches the window operator, a watermark, a checkpoint or ClickHouse, so a
replay meets the same verdict and can never crash-loop.

Ranges (the schema's fields and the ClickHouse columns they land in):

* the whole record: at most ``stream.max_result_bytes`` on the wire (this bounds
  ``text``, ``lines``, ``line_items``, ``field_evidence`` too; their structure is
  checked by the Avro parser);
* ``document_id`` 1..256 characters, ``business_id`` 1..128 (and in
  ``stream.known_businesses`` when that is set), ``doc_type`` <= 64; in bytes:
  ``source``/``engine`` <= 64, ``uri`` <= 8,192, ``fields.vendor`` <= 1,024,
  ``fields.date`` <= 64, ``fields.currency`` <= 16;
* ``event_time``: epoch ms within ClickHouse's ``DateTime64`` range (1900..2299)
  and at most ``stream.max_future_ms`` ahead of the wall clock
  (:class:`FutureEventTime`); ``processed_at`` in 1970..2299;
* ``score``, ``ocr_score``, ``type_confidence`` and ``fields.confidences`` values
  (<= 64 keys of <= 64 bytes): in [0, 1]; ``timings.*``: seconds in [0, 86,400];
  ``fields.total/subtotal/tax``: null or |x| <= 1e15 (NaN and infinities fail every
  range); ``pages`` 1..65,535 (``UInt16``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from streams.dlq import InvalidRecord, UnknownBusiness

#: The prefix the checks expect, in schema order (strings marked * are lengths in bytes).
SCALARS: tuple[str, ...] = (
    "document_id", "business_id", "event_time", "doc_type", "score", "ocr_score",
    "timings.ocr_s", "timings.fetch_s", "timings.classify_s", "timings.extract_s",
    "fields.total", "fields.subtotal", "fields.tax", "fields.vendor*", "fields.date*", "fields.currency*",
    "fields.confidences", "pages", "type_confidence", "processed_at", "uri*", "source*", "engine*",
)  # fmt: skip
LENGTHS_ONLY: frozenset[str] = frozenset(n[:-1] for n in SCALARS if n.endswith("*"))

#: ClickHouse DateTime64(3) range, epoch ms (1900-01-01 .. 2299-12-31).
MIN_TIME_MS = -2_208_988_800_000
MAX_TIME_MS = 10_413_791_999_999
MAX_MONEY = 1e15
MAX_STAGE_S = 86_400.0
MAX_PAGES = 65_535
LIMITS = {"document_id": 256, "business_id": 128, "doc_type": 64, "fields.vendor": 1_024, "fields.date": 64,
          "fields.currency": 16, "uri": 8_192, "source": 64, "engine": 64, "confidence key": 64,
          "confidences": 64}  # fmt: skip


class FutureEventTime(InvalidRecord):
    """``event_time`` is more than ``stream.max_future_ms`` ahead of the wall clock."""


class RecordTooLarge(InvalidRecord):
    """The record is larger than ``stream.max_result_bytes``."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _iso(ms: int) -> str:
    try:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return str(ms)


def _unit(x: Any) -> bool:
    return x.__class__ is float and 0.0 <= x <= 1.0


def _money(x: Any) -> bool:
    return x is None or (x.__class__ is float and -MAX_MONEY <= x <= MAX_MONEY)


def _seconds(x: Any) -> bool:
    return x.__class__ is float and 0.0 <= x <= MAX_STAGE_S


def _len(limit: int, lo: int = 0) -> Callable[[Any], bool]:
    return lambda n: n is None or lo <= n <= limit


def _confidences(c: Any) -> bool:
    return len(c) <= LIMITS["confidences"] and all(
        len(k) <= LIMITS["confidence key"] and 0.0 <= v <= 1.0 for k, v in c.items())


class ResultValidator:
    """Checks the scalar prefix of ``OcrResult`` records; see the module docstring.

    ``now_ms`` (epoch ms) is the wall clock for the future check; injectable for tests.
    """

    def __init__(self, stream: Any, names: tuple[str, ...], now_ms: Callable[[], int] = _now_ms) -> None:
        expected = tuple(n.rstrip("*") for n in SCALARS)
        if tuple(names) != expected:
            raise ValueError(f"OcrResult prefix {names} != the validated fields {expected}: update "
                             "streams/validation.py with the schema")
        self.max_bytes = int(stream.max_result_bytes)
        self.max_future_ms = int(stream.max_future_ms)
        self.known = frozenset(stream.known_businesses)
        self.now_ms = now_ms
        self._rules: list[tuple[int, str, Callable[[Any], bool], str]] = [
            (0, "document_id", lambda s: 0 < len(s) <= LIMITS["document_id"], "1..256 characters"),
            (1, "business_id", lambda s: 0 < len(s) <= LIMITS["business_id"], "1..128 characters"),
            (3, "doc_type", lambda s: len(s) <= LIMITS["doc_type"], "at most 64 characters"),
            (4, "score", _unit, "outside [0, 1]"),
            (5, "ocr_score", _unit, "outside [0, 1]"),
            *((i, names[i], _seconds, "outside [0, 86400] s") for i in range(6, 10)),
            *((i, names[i], _money, f"not null or |x| <= {MAX_MONEY:g}") for i in range(10, 13)),
            *((i, names[i], _len(LIMITS[names[i]]), f"longer than {LIMITS[names[i]]} bytes") for i in range(13, 16)),
            (16, "fields.confidences", _confidences, "a value outside [0, 1] or too many/long keys"),
            (17, "pages", lambda n: 1 <= n <= MAX_PAGES, f"not in [1, {MAX_PAGES}]"),
            (18, "type_confidence", _unit, "outside [0, 1]"),
            (19, "processed_at", lambda t: 0 <= t <= MAX_TIME_MS, "not epoch ms in 1970..2299"),
            *((i, names[i], _len(LIMITS[names[i]]), f"longer than {LIMITS[names[i]]} bytes") for i in range(20, 23)),
        ]

    def check_size(self, n_bytes: int) -> None:
        if n_bytes > self.max_bytes:
            raise RecordTooLarge(f"record of {n_bytes:,} bytes exceeds stream.max_result_bytes "
                                 f"({self.max_bytes:,})", stage="aggregate")

    def check(self, v: tuple[Any, ...]) -> None:
        """Raise :class:`InvalidRecord` (a ``PermanentError``) naming the first bad field of the prefix ``v``."""
        (doc_id, business, et, doc_type, score, ocr_score, t0, t1, t2, t3, total, subtotal, tax, vendor, date,
         currency, confidences, pages, type_confidence, processed_at, uri, source, engine) = v
        if (  # the common case in one expression; _explain() finds what failed
            MIN_TIME_MS <= et <= MAX_TIME_MS and et - self.now_ms() <= self.max_future_ms
            and 0 < len(doc_id) <= 256 and 0 < len(business) <= 128 and len(doc_type) <= 64
            and 0.0 <= score <= 1.0 and 0.0 <= ocr_score <= 1.0 and 0.0 <= type_confidence <= 1.0
            and 0.0 <= t0 <= MAX_STAGE_S and 0.0 <= t1 <= MAX_STAGE_S and 0.0 <= t2 <= MAX_STAGE_S
            and 0.0 <= t3 <= MAX_STAGE_S
            and (total is None or -MAX_MONEY <= total <= MAX_MONEY)
            and (subtotal is None or -MAX_MONEY <= subtotal <= MAX_MONEY)
            and (tax is None or -MAX_MONEY <= tax <= MAX_MONEY)
            and (vendor is None or vendor <= 1_024) and (date is None or date <= 64)
            and (currency is None or currency <= 16) and 1 <= pages <= MAX_PAGES
            and 0 <= processed_at <= MAX_TIME_MS and uri <= 8_192 and source <= 64 and engine <= 64
            and (not confidences or _confidences(confidences))
            and (not self.known or business in self.known)
        ):
            return
        self._explain(v)

    def _explain(self, v: tuple[Any, ...]) -> None:
        et = v[2]
        if not MIN_TIME_MS <= et <= MAX_TIME_MS:
            raise InvalidRecord(f"event_time = {et}: outside 1900..2299", stage="aggregate")
        ahead = et - self.now_ms()
        if ahead > self.max_future_ms:
            raise FutureEventTime(
                f"event_time {_iso(et)} is {ahead / 3_600_000:.1f} h ahead of the wall clock "
                f"(stream.max_future_ms = {self.max_future_ms / 3_600_000:g} h)", stage="aggregate")
        for i, name, ok, why in self._rules:
            if not ok(v[i]):
                text = repr(v[i])
                raise InvalidRecord(f"{name} = {text[:60]}{'...' if len(text) > 60 else ''}: {why}",
                                    stage="aggregate")
        if self.known and v[1] not in self.known:
            raise UnknownBusiness(f"unknown business {v[1]!r}", stage="aggregate")
        raise InvalidRecord(f"invalid record {v!r:.200}", stage="aggregate")  # unreachable: check() and these agree


__all__ = ["FutureEventTime", "LENGTHS_ONLY", "RecordTooLarge", "ResultValidator", "SCALARS"]
