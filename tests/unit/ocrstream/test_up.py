"""``ocrstream up`` option errors: one line, and nothing of the stack started."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from serving.server import free_port


def test_up_option_errors_are_one_line_and_start_nothing(tmp_path: Path) -> None:
    from ocrstream.cli import app

    state = tmp_path / "state"
    runner = CliRunner()
    result = runner.invoke(app, ["--state-dir", str(state), "up", "--watch", str(tmp_path), "--port",
                                 str(free_port())])
    assert result.exit_code == 1 and "--watch and --video need --business" in result.output, result.output
    result = runner.invoke(app, ["--state-dir", str(state), "up", "--watch", str(tmp_path), "--business",
                                 "no/slash", "--port", str(free_port())])
    assert result.exit_code == 1 and "--business 'no/slash'" in result.output, result.output
    not_a_dir = tmp_path / "file.txt"
    not_a_dir.write_text("x")
    result = runner.invoke(app, ["--state-dir", str(state), "up", "--watch", str(not_a_dir), "--business", "a",
                                 "--port", str(free_port())])
    assert result.exit_code == 1 and "not a directory" in result.output, result.output
    result = runner.invoke(app, ["--state-dir", str(state), "up", "--video", str(tmp_path / "missing.mp4"),
                                 "--business", "a", "--port", str(free_port())])
    assert result.exit_code == 1 and "no such video file" in result.output, result.output
    assert not (state / "pids").exists()  # no stack part was started
