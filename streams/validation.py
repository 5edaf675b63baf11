"""One validation of every ``OcrResult`` before anything is inserted (the sink's gate).

A record that fails is dead-lettered with a one-line reason and the stream goes
on; nothing of it reaches the window operator, a watermark, a checkpoint or
ClickHouse (so a replay meets the same verdict and can never crash-loop).

Ranges (the ``OcrResult`` schema's fields and the ClickHouse column types they
land in, :mod:`ocrstream.tables`):

* the whole record: at most ``stream.max_result_bytes`` on the wire;
* ``document_id`` 1..256 characters, ``business_id`` 1..128 (and in
  ``stream.known_businesses`` when that is set), other strings within
  :data:`STRING_LIMITS`;
* ``event_time``: epoch ms in ClickHouse's ``DateTime64`` range and at most
  ``stream.max_future_ms`` ahead of the wall clock (:class:`FutureEventTime`);
  ``processed_at`` >= 0 in the same range;
* ``score``, ``ocr_score``, ``type_confidence`` and every confidence: finite, in
  [0, 1]; ``timings.*``: finite, in [0, 1 day] seconds; money fields
  (``fields.total/subtotal/tax``, line item amounts): null or finite with
  ``|x| <= 1e15``;
* ``pages`` 1..65,535 (``UInt16``), line pages 0..65,535; at most
  :data:`MAX_LINES` lines and :data:`MAX_LINE_ITEMS` line items.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from streams.dlq import InvalidRecord, UnknownBusiness

#: ClickHouse DateTime64(3) range, epoch ms (1900-01-01 .. 2299-12-31).
MIN_TIME_MS = -2_208_988_800_000
MAX_TIME_MS = 10_413_791_999_999
MAX_MONEY = 1e15
MAX_STAGE_S = 86_400.0
MAX_PAGES = 65_535
MAX_LINES = 200_000
MAX_LINE_ITEMS = 20_000
STRING_LIMITS: dict[str, int] = {
    "document_id": 256, "business_id": 128, "uri": 8_192, "source": 64, "doc_type": 64, "engine": 64,
}  # fmt: skip
FIELD_STRING_LIMITS: dict[str, int] = {"vendor": 1_024, "date": 64, "currency": 16}


class FutureEventTime(InvalidRecord):
    """``event_time`` is more than ``stream.max_future_ms`` ahead of the wall clock."""


class RecordTooLarge(InvalidRecord):
    """The record is larger than ``stream.max_result_bytes``."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class ResultValidator:
    """Checks decoded ``OcrResult`` records (dicts) against the ranges in the module docstring.

    ``now_ms`` (epoch ms) is the wall clock for the future check; injectable for tests.
    """

    def __init__(self, stream: Any, now_ms: Any = _now_ms) -> None:
        self.max_bytes = int(stream.max_result_bytes)
        self.max_future_ms = int(stream.max_future_ms)
        self.known = frozenset(stream.known_businesses)
        self.now_ms = now_ms

    def check_size(self, n_bytes: int) -> None:
        if n_bytes > self.max_bytes:
            raise RecordTooLarge(f"record of {n_bytes:,} bytes exceeds stream.max_result_bytes "
                                 f"({self.max_bytes:,})", stage="aggregate")

    def check_event_time(self, et: Any) -> int:
        """The event time as epoch ms, or :class:`InvalidRecord` / :class:`FutureEventTime`."""
        if et.__class__ is not int:
            raise InvalidRecord(f"invalid event_time {et!r}: not epoch milliseconds", stage="aggregate")
        if not MIN_TIME_MS <= et <= MAX_TIME_MS:
            raise InvalidRecord(f"event_time {et} outside 1900..2299", stage="aggregate")
        ahead = et - self.now_ms()
        if ahead > self.max_future_ms:
            raise FutureEventTime(
                f"event_time {_iso(et)} is {ahead / 3_600_000:.1f} h ahead of the wall clock "
                f"(stream.max_future_ms = {self.max_future_ms / 3_600_000:g} h)", stage="aggregate")
        return et

    def check_business(self, business: Any) -> str:
        _string("business_id", business, STRING_LIMITS["business_id"], allow_empty=False)
        if self.known and business not in self.known:
            raise UnknownBusiness(f"unknown business {business!r}", stage="aggregate")
        return business

    def validate(self, rec: Mapping[str, Any]) -> None:
        """Raise :class:`InvalidRecord` (a ``PermanentError``) naming the first bad field."""
        _string("document_id", rec.get("document_id"), STRING_LIMITS["document_id"], allow_empty=False)
        self.check_business(rec.get("business_id"))
        self.check_event_time(rec.get("event_time"))
        for name in ("uri", "source", "doc_type", "engine"):
            _string(name, rec.get(name, ""), STRING_LIMITS[name])
        _time("processed_at", rec.get("processed_at", 0))
        for name in ("score", "ocr_score", "type_confidence"):
            unit_interval(name, rec.get(name, 0.0))
        _int_range("pages", rec.get("pages", 1), 1, MAX_PAGES)
        _string("text", rec.get("text", ""), self.max_bytes)
        fields = rec.get("fields") or {}
        for name, limit in FIELD_STRING_LIMITS.items():
            value = fields.get(name)
            if value is not None:
                _string(f"fields.{name}", value, limit)
        for name in ("subtotal", "tax", "total"):
            money(f"fields.{name}", fields.get(name))
        for key, value in (fields.get("confidences") or {}).items():
            _string("fields.confidences key", key, 64)
            unit_interval(f"fields.confidences[{key}]", value)
        for name, value in (rec.get("timings") or {}).items():
            stage_seconds(f"timings.{name}", value)
        lines = rec.get("lines") or []
        _count("lines", lines, MAX_LINES)
        for i, line in enumerate(lines):
            unit_interval(f"lines[{i}].confidence", line.get("confidence", 0.0))
            _int_range(f"lines[{i}].page", line.get("page", 0), 0, MAX_PAGES)
        items = rec.get("line_items") or []
        _count("line_items", items, MAX_LINE_ITEMS)
        for i, item in enumerate(items):
            unit_interval(f"line_items[{i}].confidence", item.get("confidence", 0.0))
            for name in ("quantity", "unit_price", "amount"):
                money(f"line_items[{i}].{name}", item.get(name))


def _bad(name: str, value: Any, why: str) -> InvalidRecord:
    text = repr(value)
    return InvalidRecord(f"{name} = {text[:60]}{'...' if len(text) > 60 else ''}: {why}", stage="aggregate")


def _string(name: str, value: Any, limit: int, allow_empty: bool = True) -> None:
    if value.__class__ is not str:
        raise _bad(name, value, "not a string")
    if not value and not allow_empty:
        raise _bad(name, value, "empty")
    if len(value) > limit:
        raise InvalidRecord(f"{name} of {len(value):,} characters exceeds {limit:,}", stage="aggregate")


def _number(name: str, value: Any) -> float:
    if value.__class__ not in (float, int) or value.__class__ is bool:
        raise _bad(name, value, "not a number")
    if not math.isfinite(value):
        raise _bad(name, value, "not finite")
    return float(value)


def unit_interval(name: str, value: Any) -> None:
    """A confidence or score: finite, in [0, 1]."""
    if not 0.0 <= _number(name, value) <= 1.0:
        raise _bad(name, value, "outside [0, 1]")


def money(name: str, value: Any) -> None:
    """An amount: null, or finite with |x| <= 1e15."""
    if value is not None and abs(_number(name, value)) > MAX_MONEY:
        raise _bad(name, value, f"|x| > {MAX_MONEY:g}")


def stage_seconds(name: str, value: Any) -> None:
    """A stage timing: finite seconds in [0, 1 day]."""
    if not 0.0 <= _number(name, value) <= MAX_STAGE_S:
        raise _bad(name, value, "outside [0, 86400] s")


def _int_range(name: str, value: Any, lo: int, hi: int) -> None:
    if value.__class__ is not int or not lo <= value <= hi:
        raise _bad(name, value, f"not an integer in [{lo}, {hi}]")


def _time(name: str, value: Any) -> None:
    if value.__class__ is not int or not 0 <= value <= MAX_TIME_MS:
        raise _bad(name, value, "not epoch ms in 1970..2299")


def _count(name: str, value: Any, limit: int) -> None:
    if len(value) > limit:
        raise InvalidRecord(f"{name}: {len(value):,} entries exceed {limit:,}", stage="aggregate")


def _iso(ms: int) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


__all__ = ["FutureEventTime", "RecordTooLarge", "ResultValidator", "money", "stage_seconds", "unit_interval"]
