"""The typed settings object: env, nesting, overrides, profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocrstream.settings import Settings


def test_env_nested_and_flat(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OCRSTREAM_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("OCRSTREAM_KAFKA__BOOTSTRAP", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("OCRSTREAM_WINDOWS__GRACE_MS", "2500")
    s = Settings()
    assert s.state_dir == tmp_path
    assert s.kafka.bootstrap == "kafka-1:9092,kafka-2:9092"
    assert s.windows.grace_ms == 2500
    assert s.clickhouse_dsn == f"chdb://{tmp_path.resolve()}/clickhouse"


def test_state_dir_defaults_to_xdg_state_home_then_the_working_directory(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    monkeypatch.delenv("OCRSTREAM_STATE_DIR", raising=False)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert Settings().state_dir == tmp_path / ".ocrstream"  # not the source tree
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert Settings().state_dir == tmp_path / "xdg" / "ocrstream"
    monkeypatch.setenv("OCRSTREAM_STATE_DIR", str(tmp_path / "mine"))
    assert Settings().state_dir == tmp_path / "mine"


def test_overrides_ignore_none_and_validate(tmp_path: Path) -> None:
    s = Settings().with_overrides(**{"kafka.bootstrap": None, "windows.grace_ms": 5, "state_dir": tmp_path})
    assert s.kafka.bootstrap == Settings().kafka.bootstrap
    assert s.windows.grace_ms == 5
    with pytest.raises(Exception):
        Settings().with_overrides(**{"kafka.partitions": 0})


def test_production_profile_points_at_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCRSTREAM_PROFILE", "production")
    monkeypatch.setenv("OCRSTREAM_CLICKHOUSE__DSN", "http://default:pw@clickhouse:8123")
    s = Settings()
    assert s.profile == "production"
    assert s.clickhouse_dsn == "http://default:pw@clickhouse:8123"
    assert s.topic("documents") == "ocrstream.documents"


def test_as_env_rebuilds_the_same_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s = Settings().with_overrides(**{
        "state_dir": tmp_path, "kafka.bootstrap": "k1:9092,k2:9092", "windows.grace_ms": 1234,
        "worker.known_businesses": ["acme", "o'brien"], "api.tokens": {"tok": ["acme", "*"]},
    })
    env = s.as_env()
    assert env["OCRSTREAM_KAFKA__BOOTSTRAP"] == "k1:9092,k2:9092"
    assert "OCRSTREAM_FETCH__FILE_ROOT" not in env  # None stays the default
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Settings() == s


@pytest.mark.parametrize("env,flag,expect", [
    ({"OCRSTREAM_KAFKA__PARTITIONS": "abc"}, [], "OCRSTREAM_KAFKA__PARTITIONS='abc': Input should be a valid integer"),
    ({"OCRSTREAM_WORKER__OCR_WORKERS": "0"}, [], "OCRSTREAM_WORKER__OCR_WORKERS='0'"),
    ({}, ["--profile", "prod"], "--profile='prod': Input should be 'local' or 'production'"),
    ({"OCRSTREAM_WORKER__KNOWN_BUSINESSES": "acme"}, [], "OCRSTREAM_WORKER__KNOWN_BUSINESSES: expected a JSON list"),
    ({"OCRSTREAM_API__TOKENS": "{secret-tok"}, [], "OCRSTREAM_API__TOKENS: expected a JSON object"),
])
def test_configuration_errors_are_one_line_naming_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              env, flag, expect) -> None:
    """The command line's own path (``ocrstream`` main callback), in-process: exit code 2, one line."""
    import os

    from typer.testing import CliRunner

    from ocrstream.cli import app

    for key in [k for k in os.environ if k.startswith("OCRSTREAM_")]:
        monkeypatch.delenv(key)
    res = CliRunner().invoke(app, [*flag, "stack", "status"], env={"OCRSTREAM_STATE_DIR": str(tmp_path), **env})
    out = res.output.strip()
    assert res.exit_code == 2, out
    assert len(out.splitlines()) == 1, out  # no pydantic traceback
    assert out.startswith("error: invalid setting") and expect in out, out
    assert "secret-tok" not in out  # secrets are never echoed


def test_load_settings_raises_settings_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from ocrstream.settings import SettingsError, load_settings

    monkeypatch.setenv("OCRSTREAM_S3__SECRET_KEY", "hunter2")
    monkeypatch.setenv("OCRSTREAM_KAFKA__SESSION_TIMEOUT_MS", "soon")
    with pytest.raises(SettingsError, match="OCRSTREAM_KAFKA__SESSION_TIMEOUT_MS='soon'"):
        load_settings()
    monkeypatch.delenv("OCRSTREAM_KAFKA__SESSION_TIMEOUT_MS")
    assert load_settings(**{"windows.grace_ms": 7}).windows.grace_ms == 7
    with pytest.raises(SettingsError, match="--grace") as err:
        load_settings({"windows.grace_ms": "--grace"}, **{"windows.grace_ms": "x"})
    assert "hunter2" not in str(err.value)


def test_old_stream_variables_move_to_their_sections_with_a_warning(monkeypatch: pytest.MonkeyPatch,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from ocrstream import settings as settings_module

    monkeypatch.setattr(settings_module, "_WARNED", set())
    monkeypatch.setenv("OCRSTREAM_STREAM__GRACE_MS", "2500")
    monkeypatch.setenv("OCRSTREAM_STREAM__SINK_GROUP", "old-sink")
    monkeypatch.setenv("OCRSTREAM_STREAM__KNOWN_BUSINESSES", '["acme"]')
    monkeypatch.setenv("OCRSTREAM_STREAM__MAX_RETRY_BACKOFF_MS", "700")
    monkeypatch.setenv("OCRSTREAM_STREAM__OCR_WORKERS", "3")
    monkeypatch.setenv("OCRSTREAM_WORKER__OCR_WORKERS", "2")  # the new name wins
    with caplog.at_level(logging.WARNING, logger="ocrstream.settings"):
        s = Settings()
        again = s.with_overrides(**{"windows.grace_ms": 40})
    assert (s.windows.grace_ms, s.sink.group, s.worker.known_businesses, s.retry.max_backoff_ms,
            s.worker.ocr_workers) == (2500, "old-sink", ["acme"], 700, 2)
    assert again.windows.grace_ms == 40 and again.sink.group == "old-sink"  # flags still beat the environment
    assert s.stream is None and not any(key.startswith("OCRSTREAM_STREAM") for key in s.as_env())
    warnings = sorted(r.getMessage() for r in caplog.records)
    assert warnings == [  # one line each, once per process (with_overrides reads the environment again)
        "OCRSTREAM_STREAM__GRACE_MS is deprecated: use OCRSTREAM_WINDOWS__GRACE_MS",
        "OCRSTREAM_STREAM__KNOWN_BUSINESSES is deprecated: use OCRSTREAM_WORKER__KNOWN_BUSINESSES",
        "OCRSTREAM_STREAM__MAX_RETRY_BACKOFF_MS is deprecated: use OCRSTREAM_RETRY__MAX_BACKOFF_MS",
        "OCRSTREAM_STREAM__OCR_WORKERS is deprecated: use OCRSTREAM_WORKER__OCR_WORKERS",
        "OCRSTREAM_STREAM__SINK_GROUP is deprecated: use OCRSTREAM_SINK__GROUP",
    ]


def test_an_invalid_old_stream_variable_is_reported_under_its_new_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from ocrstream.settings import SettingsError, load_settings

    monkeypatch.setenv("OCRSTREAM_STREAM__OCR_WORKERS", "0")
    with pytest.raises(SettingsError, match="OCRSTREAM_WORKER__OCR_WORKERS='0'"):
        load_settings()
    monkeypatch.setenv("OCRSTREAM_STREAM__OCR_WORKERS", "1")
    monkeypatch.setenv("OCRSTREAM_STREAM__ALLOWED_SCHEMES", "file")
    with pytest.raises(SettingsError, match="OCRSTREAM_STREAM__ALLOWED_SCHEMES: expected a JSON list"):
        load_settings()


def test_every_field_of_the_old_stream_section_has_exactly_one_new_home() -> None:
    from ocrstream.settings import STREAM_MOVES

    old_fields = {  # the former StreamSettings, field by field
        "app_id", "out_of_orderness_ms", "grace_ms", "idle_timeout_ms", "emit_interval_ms", "ocr_workers",
        "sink_batch_rows", "sink_publish_windows", "sink_flush_interval_ms", "file_root", "allowed_schemes",
        "allowed_buckets", "allowed_http_hosts", "known_businesses", "max_attempts", "retry_backoff_ms",
        "dead_letter_excerpt_bytes", "agent_concurrency", "ocr_pool", "stop_timeout_s", "health_port",
        "health_host", "max_retry_backoff_ms", "sink_group", "sink_poll_batch", "watermark_scope",
        "allowed_lateness_ms", "max_future_ms", "dedupe_memory_ms", "dedupe_max_ids", "max_result_bytes",
    }
    assert set(STREAM_MOVES) == old_fields
    new_fields = {(section, name) for section in ("windows", "worker", "fetch", "retry", "sink")
                  for name in type(getattr(Settings(), section)).model_fields}
    assert sorted(STREAM_MOVES.values()) == sorted(new_fields)  # each new field is one old field
