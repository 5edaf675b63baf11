"""The typed settings object: env, nesting, overrides, profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocrstream.settings import Settings


def test_env_nested_and_flat(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OCRSTREAM_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("OCRSTREAM_KAFKA__BOOTSTRAP", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("OCRSTREAM_STREAM__GRACE_MS", "2500")
    s = Settings()
    assert s.state_dir == tmp_path
    assert s.kafka.bootstrap == "kafka-1:9092,kafka-2:9092"
    assert s.stream.grace_ms == 2500
    assert s.clickhouse_dsn == f"chdb://{tmp_path.resolve()}/clickhouse"


def test_overrides_ignore_none_and_validate(tmp_path: Path) -> None:
    s = Settings().with_overrides(**{"kafka.bootstrap": None, "stream.grace_ms": 5, "state_dir": tmp_path})
    assert s.kafka.bootstrap == Settings().kafka.bootstrap
    assert s.stream.grace_ms == 5
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
        "state_dir": tmp_path, "kafka.bootstrap": "k1:9092,k2:9092", "stream.grace_ms": 1234,
        "stream.known_businesses": ["acme", "o'brien"], "api.tokens": {"tok": ["acme", "*"]},
    })
    env = s.as_env()
    assert env["OCRSTREAM_KAFKA__BOOTSTRAP"] == "k1:9092,k2:9092"
    assert "OCRSTREAM_STREAM__FILE_ROOT" not in env  # None stays the default
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Settings() == s
