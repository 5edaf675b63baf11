"""docker-compose.yml's exposure preflight script, run with ``sh`` the way compose runs it.

Publishing beyond loopback needs passwords and API tokens. The static checks of the compose
file and the Dockerfile are in tests/unit/test_compose.py.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest
import yaml
from tests.support import REPO

COMPOSE = REPO / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


    # the ocrstream services wait for init, which waits for them: nothing starts before the check


def _preflight(compose: dict[str, Any], **env: str) -> subprocess.CompletedProcess:
    svc = compose["services"]["preflight"]
    script = svc["command"][0].replace("$$", "$")  # compose's escape of a literal $
    defaults = {k: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(v)) for k, v in svc["environment"].items()}
    return subprocess.run(["sh", "-c", script], env={"PATH": "/usr/bin:/bin", **defaults, **env},
                          capture_output=True, text=True, timeout=30)


def test_publishing_beyond_loopback_needs_passwords_and_api_tokens(compose: dict[str, Any]) -> None:
    assert _preflight(compose).returncode == 0  # loopback: development defaults are fine
    refused = _preflight(compose, OCRSTREAM_BIND="0.0.0.0")
    assert refused.returncode == 1
    for name in ("CLICKHOUSE_PASSWORD", "MINIO_ROOT_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "GRAFANA_ANONYMOUS=false",
                 "OCRSTREAM_API__TOKENS"):
        assert name in refused.stdout, refused.stdout
    secrets = {"CLICKHOUSE_PASSWORD": "c-pw", "MINIO_ROOT_PASSWORD": "m-pw-long", "GRAFANA_ADMIN_PASSWORD": "g-pw",
               "GRAFANA_ANONYMOUS": "false"}
    no_tokens = _preflight(compose, OCRSTREAM_BIND="0.0.0.0", **secrets)
    assert no_tokens.returncode == 1 and "OCRSTREAM_API__TOKENS" in no_tokens.stdout
    assert "CLICKHOUSE_PASSWORD" not in no_tokens.stdout
    ok = _preflight(compose, OCRSTREAM_BIND="10.0.0.5", OCRSTREAM_API__TOKENS='{"t": ["*"]}', **secrets)
    assert ok.returncode == 0, ok.stdout
    # the same variables reach the services that use them
    services = compose["services"]
    assert services["clickhouse"]["environment"]["CLICKHOUSE_PASSWORD"] == "${CLICKHOUSE_PASSWORD:-ocrstream}"
    assert services["grafana"]["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "${GRAFANA_ANONYMOUS:-true}"
    assert "OCRSTREAM_API__TOKENS" in services["api"]["environment"]
    for name in ("worker", "sink"):
        assert "--health-port" in services[name]["command"] and "/healthz" in str(services[name]["healthcheck"])
        # signals reach ocrstream (tini as PID 1) and the graceful stop fits before Docker's SIGKILL
        assert services[name]["init"] is True and int(services[name]["stop_grace_period"].rstrip("s")) > 30
