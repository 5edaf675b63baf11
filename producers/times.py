"""Durations and points in time as people type them (command-line options, imported files).

Both parsers raise :class:`~producers.errors.ProducerError` with a one-line hint.
"""

from __future__ import annotations

import datetime as _dt
import re

from producers.errors import ProducerError

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
