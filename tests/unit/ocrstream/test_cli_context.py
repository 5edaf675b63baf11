"""Settings travel through the click context: the root callback builds them once, every command reads ``ctx.obj``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import ocr_agents.pipeline
import ocrstream.settings
from ocrstream.cli import app
from ocrstream.console import settings_of
from ocrstream.errors import EmptyInput
from ocrstream.settings import Settings


class RecordingProcessor:
    """Stands in for the OCR pipeline: remembers its settings, refuses every document."""

    made: list[Any] = []

    def __init__(self, settings: Any) -> None:
        RecordingProcessor.made.append(settings)

    def process(self, data: bytes, **_: Any) -> Any:
        raise EmptyInput("not read in this test")


@pytest.fixture
def root_settings(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """Every Settings the root callback built (global options applied), in order."""
    built: list[Settings] = []
    real = ocrstream.settings.load_settings

    def spy(*args: Any, **kwargs: Any) -> Settings:
        built.append(real(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(ocrstream.settings, "load_settings", spy)
    monkeypatch.setattr(ocr_agents.pipeline, "DocumentProcessor", RecordingProcessor)
    RecordingProcessor.made = []
    return built


def test_ocr_uses_the_settings_built_from_the_global_options(tmp_path: Path, root_settings: list[Settings],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    doc = tmp_path / "page.png"
    doc.write_bytes(b"\x89PNG\r\n\x1a\n")
    monkeypatch.setenv("OCRSTREAM_OCR__THREADS", "3")
    state = tmp_path / "state"
    res = CliRunner().invoke(app, ["--state-dir", str(state), "--log-level", "WARNING", "ocr", str(doc), "--json"])
    assert res.exit_code == 1, res.output  # the stand-in refuses the document
    assert json.loads(res.stdout.splitlines()[-1])["error_class"] == "EmptyInput"
    (settings,) = root_settings
    assert settings.state_dir == state and settings.log_level == "WARNING"
    assert RecordingProcessor.made == [settings.ocr] and RecordingProcessor.made[0] is settings.ocr
    assert settings.ocr.threads == 3

    res = CliRunner().invoke(app, ["--state-dir", str(state), "ocr", str(doc), "--threads", "5"])
    assert res.exit_code == 1, res.output
    assert RecordingProcessor.made[-1] == root_settings[-1].ocr.model_copy(update={"threads": 5})


def test_a_stage_app_without_the_roof_reads_the_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCRSTREAM_KAFKA__BOOTSTRAP", "broker.example:9092")
    seen: list[Settings] = []
    stage = typer.Typer()

    @stage.command()
    def show(ctx: typer.Context) -> None:
        seen.extend([settings_of(ctx), settings_of(ctx)])

    res = CliRunner().invoke(stage, [])
    assert res.exit_code == 0, res.output
    first, again = seen
    assert first.kafka.bootstrap == "broker.example:9092" and again is first


def test_an_invalid_environment_is_one_line_and_exit_code_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCRSTREAM_KAFKA__PARTITIONS", "0")
    stage = typer.Typer()

    @stage.command()
    def show(ctx: typer.Context) -> None:
        settings_of(ctx)

    res = CliRunner().invoke(stage, [])
    assert res.exit_code == 2
    assert "OCRSTREAM_KAFKA__PARTITIONS" in res.output and "Traceback" not in res.output


def test_topics_without_a_broker_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCRSTREAM_PRODUCER__CONNECT_ATTEMPTS", "1")
    monkeypatch.setenv("OCRSTREAM_PRODUCER__CONNECT_TIMEOUT_S", "0.5")
    res = CliRunner().invoke(app, ["--kafka-bootstrap", "127.0.0.1:9", "topics"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "error: cannot reach Kafka at 127.0.0.1:9 after 1 attempts" in " ".join(res.output.split())
