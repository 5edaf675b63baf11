"""Query-parameter parsing and validation; failures are 422 with a clear message.

Times: ISO 8601 (``2024-05-01T10:00:00Z``, an offset, or naive = UTC; a bare
date means its midnight UTC) or integer epoch milliseconds. Ranges are
``[start, end)``: ``end`` must be after ``start`` and the span at most
``ApiSettings.max_range_days``. Defaults: ``start`` = yesterday 00:00 UTC,
``end`` = tomorrow 00:00 UTC (so "yesterday + today", including windows still
open now).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import HTTPException

MAX_ID_CHARS = 200
MAX_BUSINESSES_PER_QUERY = 20
_EPOCH_MS = re.compile(r"^-?\d{1,16}$")


def invalid(param: str, message: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors."""
    return HTTPException(
        422,
        detail=[{"loc": ["query", param], "msg": message, "type": "value_error"}],
    )


def parse_time(param: str, value: str | None, default: datetime) -> datetime:
    """``value`` as an aware UTC datetime (see module docstring), ``default`` when absent."""
    if value is None or value == "":
        return default
    text = value.strip()
    if _EPOCH_MS.match(text):
        try:
            return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise invalid(param, f"{param}: epoch milliseconds out of range: {text}") from None
    try:
        parsed = datetime.fromisoformat(text.replace(" ", "T") if len(text) > 10 else text)
    except ValueError:
        raise invalid(param, f"{param}: expected ISO 8601 (e.g. 2024-05-01T10:00:00Z) or epoch ms, "
                             f"got {value[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    if not (1970 <= parsed.year <= 2299):
        raise invalid(param, f"{param}: year {parsed.year} outside 1970..2299")
    return parsed


def default_range(now: datetime | None = None) -> tuple[datetime, datetime]:
    """Yesterday 00:00 UTC to tomorrow 00:00 UTC."""
    now = now or datetime.now(UTC)
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=1), today + timedelta(days=1)


@dataclass(frozen=True)
class TimeRange:
    """A validated ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp() * 1000)


def time_range(start: str | None, end: str | None, max_days: int) -> TimeRange:
    """Parse and check ``start``/``end`` (422 when end <= start or the span is too long)."""
    d_start, d_end = default_range()
    t_start = parse_time("start", start, d_start)
    t_end = parse_time("end", end, d_end)
    if t_end <= t_start:
        raise invalid("end", f"end ({t_end.isoformat()}) must be after start ({t_start.isoformat()})")
    if t_end - t_start > timedelta(days=max_days):
        raise invalid("end", f"range too large: {(t_end - t_start).total_seconds() / 86400:.1f} days "
                             f"> max_range_days={max_days}")
    return TimeRange(t_start, t_end)


def check_id(param: str, value: str) -> str:
    """A business/document id: non-empty, at most 200 chars, no control characters."""
    if not value or len(value) > MAX_ID_CHARS or any(ord(ch) < 32 for ch in value):
        raise invalid(param, f"{param}: must be 1..{MAX_ID_CHARS} printable characters")
    return value


def business_list(values: list[str] | None, required: bool) -> list[str]:
    """De-duplicated business ids in request order (repeat ``business_id`` to give several)."""
    out: list[str] = []
    for value in values or []:
        check_id("business_id", value)
        if value not in out:
            out.append(value)
    if required and not out:
        raise invalid("business_id", "business_id: at least one is required")
    if len(out) > MAX_BUSINESSES_PER_QUERY:
        raise invalid("business_id", f"business_id: at most {MAX_BUSINESSES_PER_QUERY} per query")
    return out
