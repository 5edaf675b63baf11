"""Query parameters of the HTTP API."""

from __future__ import annotations

from datetime import UTC, datetime

from serving.params import parse_time


def test_parse_time_forms() -> None:
    default = datetime(2000, 1, 1, tzinfo=UTC)
    assert parse_time("t", None, default) == default
    assert parse_time("t", "2024-05-01", default) == datetime(2024, 5, 1, tzinfo=UTC)
    assert parse_time("t", "2024-05-01T12:00:00+02:00", default) == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert parse_time("t", "2024-05-01T10:00:00Z", default) == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert parse_time("t", "2024-05-01 10:00", default) == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert parse_time("t", "1714557600000", default) == datetime(2024, 5, 1, 10, tzinfo=UTC)
