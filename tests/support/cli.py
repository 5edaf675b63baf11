"""Assertions on ``ocrstream`` command results (typer ``CliRunner``)."""

from __future__ import annotations

from typing import Any


def assert_one_line_error(result: Any, *needles: str) -> None:
    """Exit code 1 with one ``error:`` line naming every needle, no traceback."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "error:" in result.output
    joined = " ".join(result.output.split())
    for needle in needles:
        assert needle in joined, joined
