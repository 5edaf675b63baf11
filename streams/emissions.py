"""What the window operator emits, and the per-record fields it reads.

:class:`WindowResult` (a ``WindowAggregate`` row), :class:`LateEvent` (late update or too
late) and :class:`Rejected` (unusable record, for the dead-letter topic) are the
operator's output (:mod:`streams.windows`); :data:`WindowFields` is its fast-path input,
built from a record dict by :func:`window_fields` or straight from the Avro bytes by
:mod:`ocrstream.result_decode`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

#: The decoded fields a window needs, per record (the fast path's input):
#: (offset, business_id, event_time ms, total or 0.0, score, ocr_score, ocr_s, doc_type)
WindowFields = tuple[int, str, int, float, float, float, float, str]


class InvalidRecord(ValueError):
    """Raised internally for an unusable field; surfaces as a :class:`Rejected` emission."""


def window_topic_key(row: Mapping[str, Any]) -> str:
    """Key of a window row on the compacted ``windows`` topic: ``business_id|granularity|window_start``
    (epoch ms)."""
    return f"{row['business_id']}|{row['granularity']}|{row['window_start']}"


@dataclass(frozen=True, slots=True)
class WindowResult:
    """One ``WindowAggregate`` row (current or final) of one open window."""

    row: dict[str, Any]
    partition: int
    quantiles_exact: bool

    @property
    def is_final(self) -> bool:
        return bool(self.row["is_final"])

    @property
    def key(self) -> str:
        """Its key on the compacted ``windows`` topic (:func:`window_topic_key`)."""
        return window_topic_key(self.row)


@dataclass(frozen=True, slots=True)
class LateEvent:
    """An event that arrived after its minute window closed.

    ``too_late``: beyond allowed lateness (in no aggregate; ``documents.is_late``, late
    topic). Otherwise a late update (``documents.late_update``, folded in).
    ``recomputed``: ``(granularity, window_start)`` of its windows that were closed
    and are queued for recompute from the stored documents.
    """

    partition: int
    offset: int
    business_id: str
    event_time: int
    watermark: int
    too_late: bool
    recomputed: tuple[tuple[str, int], ...]
    record: Any = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record without a usable ``business_id``/``event_time``/numeric values (for the
    dead-letter topic). It changes no state except that its offset counts as processed."""

    record: Any
    partition: int
    offset: int
    reason: str


Emission = WindowResult | LateEvent | Rejected


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MS = timedelta(milliseconds=1)


def as_epoch_ms(value: Any) -> int:
    """``event_time`` as epoch ms: ints as they are, datetimes converted (naive = UTC)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return (value - _EPOCH) // _ONE_MS
    if isinstance(value, bool) or value is None:
        raise InvalidRecord(f"event_time must be epoch ms, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(f"event_time must be epoch ms, got {value!r}") from exc


def window_fields(offset: int, record: Mapping[str, Any]) -> WindowFields:
    """The :data:`WindowFields` of a record dict (raises on unusable values)."""
    et = record["event_time"]
    if et.__class__ is not int:
        et = as_epoch_ms(et)
    business = record["business_id"]
    if business.__class__ is not str or not business:
        raise InvalidRecord("business_id must be a non-empty string")
    fields = record.get("fields")
    total = fields.get("total") if fields else None
    timings = record.get("timings")
    return (
        offset, business, et, 0.0 if total is None else float(total), float(record.get("score", 0.0)),
        float(record.get("ocr_score", 0.0)), float(timings.get("ocr_s", 0.0)) if timings else 0.0,
        record.get("doc_type") or "",
    )  # fmt: skip
