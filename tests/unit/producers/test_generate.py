"""``ocrstream generate`` without a broker: images mode, duration and time parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from producers.errors import ProducerError
from producers.times import parse_duration, parse_time_ms

START = "2024-05-01T00:00:00Z"


def test_images_mode_writes_pngs_truth_and_manifest(tmp_path: Path) -> None:
    from ocrstream.cli import app

    out = tmp_path / "img"
    result = CliRunner().invoke(app, ["--state-dir", str(tmp_path / "state"), "generate", "--mode", "images",
                                      "--businesses", "acme,globex", "--rate", "2", "--backfill", "3s",
                                      "--seed", "4", "--start", START, "--out", str(out)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["documents"]) == 6 == len(list(out.glob("*.png")))
    for doc in manifest["documents"]:
        assert (out / doc["image"]).with_suffix(".json").exists()
        assert doc["business_id"] in ("acme", "globex") and doc["kind"] in ("receipt", "invoice", "report", "form")
    assert [d["event_time"] for d in manifest["documents"]] == [parse_time_ms(START) + 500 * i for i in range(6)]


def test_duration_and_time_parsing() -> None:
    assert parse_duration("7d") == 604_800 and parse_duration("1h30m") == 5_400 and parse_duration("90") == 90
    assert parse_time_ms("2024-05-01T00:00:00Z") == 1_714_521_600_000 == parse_time_ms("1714521600000")
    with pytest.raises(ProducerError):
        parse_duration("soon")
    from ocrstream.cli import app

    result = CliRunner().invoke(app, ["generate", "--backfill", "1h", "--duration", "1h"])
    assert result.exit_code == 1 and "exactly one of --duration" in " ".join(result.output.split())
