"""docker-compose.yml and Dockerfile: they parse, and everything they mount or copy exists.

No Docker engine runs here, so this checks the files statically: YAML structure,
services and healthchecks, ``ocrstream`` commands that the CLI really has, bind
mounts and build contexts present in the repo, named volumes declared, and
every ``COPY`` source of the Dockerfile present (``requirements.lock`` included).
The exposure preflight script itself runs in tests/integration/test_compose.py.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import REPO

COMPOSE = REPO / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_services_and_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("kafka", "clickhouse", "minio", "grafana", "init", "worker", "sink", "api", "demo"):
        assert name in services, name
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "broker,controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]  # KRaft single node
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    assert services["grafana"]["environment"]["GF_INSTALL_PLUGINS"] == "grafana-clickhouse-datasource"
    for name in ("kafka", "clickhouse", "minio", "grafana", "api"):
        assert "healthcheck" in services[name], name
    worker_replicas = services["worker"]["deploy"]["replicas"]
    assert str(worker_replicas).startswith("${OCRSTREAM_WORKERS") or int(worker_replicas) > 1
    env = services["api"]["environment"]
    assert env["OCRSTREAM_PROFILE"] == "production"
    assert env["OCRSTREAM_CLICKHOUSE__DSN"].startswith("http://")
    assert env["OCRSTREAM_KAFKA__BOOTSTRAP"] == "kafka:9092"
    assert env["OCRSTREAM_S3__ENDPOINT"].startswith("http://minio:")
    # ocrstream services wait for the one-shot init (migrations + topics)
    for name in ("worker", "sink", "api"):
        assert services[name]["depends_on"]["init"]["condition"] == "service_completed_successfully"
    for name, svc in services.items():
        for dep in (svc.get("depends_on") or {}):
            assert dep in services, f"{name} depends on unknown {dep}"


def test_commands_exist_in_the_cli(compose: dict[str, Any]) -> None:
    from typer.main import get_command

    from ocrstream.cli import app

    known = set(get_command(app).commands)  # type: ignore[attr-defined]
    used: set[str] = set()
    for svc in compose["services"].values():
        if not str(svc.get("image", "")).startswith("ocrstream:"):
            continue
        command = svc["command"]
        words = shlex.split(command[-1]) if command[0] == "sh" else command
        for i, word in enumerate(words):
            if word == "ocrstream" and i + 1 < len(words):
                used.add(words[i + 1])
    assert used >= {"migrate", "topics", "serve"}
    # worker/sink/generate come from other parts of the project; check what this checkout has
    missing = used - known
    assert not (missing & {"migrate", "topics", "serve"}), missing
    unknown_elsewhere = missing - {"worker", "sink", "generate"}
    assert not unknown_elsewhere, f"compose runs commands the CLI lacks: {unknown_elsewhere}"


def test_mounts_build_contexts_and_volumes_exist(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used_named: set[str] = set()
    for name, svc in compose["services"].items():
        build = svc.get("build")
        if build:
            context = REPO / (build if isinstance(build, str) else build.get("context", "."))
            assert context.is_dir(), (name, context)
            dockerfile = context / (build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile")
            assert dockerfile.is_file(), (name, dockerfile)
        for mount in svc.get("volumes") or []:
            source = mount.split(":", 1)[0] if isinstance(mount, str) else mount["source"]
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"
            else:
                used_named.add(source)
    assert used_named <= declared, used_named - declared
    assert declared <= used_named, f"declared but unused volumes: {declared - used_named}"
    # Grafana's provisioning points at where compose mounts the dashboards
    providers = yaml.safe_load((REPO / "grafana/provisioning/dashboards/ocrstream.yaml").read_text())
    grafana_mounts = {m.split(":")[1] for m in compose["services"]["grafana"]["volumes"]}
    assert providers["providers"][0]["options"]["path"] in grafana_mounts
    home = compose["services"]["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(providers["providers"][0]["options"]["path"])
    assert (REPO / "grafana/dashboards" / Path(home).name).is_file()


def test_dockerfile_copies_exist_and_installs_pinned() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert "tesseract-ocr-eng" in text
    assert "requirements.lock" in text and "-c requirements.lock" in text
    sources: list[str] = []
    for line in text.splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            sources.extend(line.split()[1:-1])
    assert "ocrstream" in sources and "requirements.lock" in sources
    ignored = [p.strip() for p in (REPO / ".dockerignore").read_text().splitlines()
               if p.strip() and not p.startswith("#")]
    for source in sources:
        assert source not in ignored, f"{source} is COPYed but excluded by .dockerignore"
        assert (REPO / source).exists(), (
            f"Dockerfile COPYs {source}, which is missing"
            + (" (create it: uv pip compile pyproject.toml -o requirements.lock)" if source == "requirements.lock"
               else ""))


def _host_ip(mapping: str) -> str:
    """The host address of a ports entry with compose's default interpolation applied."""
    resolved = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", mapping)
    parts = resolved.split(":")
    return parts[0] if len(parts) == 3 else "0.0.0.0"


def test_every_port_binds_to_loopback_by_default(compose: dict[str, Any]) -> None:
    published = {name: svc["ports"] for name, svc in compose["services"].items() if svc.get("ports")}
    assert {"api", "clickhouse", "minio", "grafana", "kafka"} <= set(published)
    for name, ports in published.items():
        for mapping in ports:
            assert _host_ip(str(mapping)) == "127.0.0.1", (name, mapping)
    assert compose["services"]["kafka"]["ports"] == ["127.0.0.1:29092:29092"]  # never beyond loopback


def test_everything_waits_for_the_exposure_preflight(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("kafka", "clickhouse", "minio", "grafana"):
        assert services[name]["depends_on"]["preflight"]["condition"] == "service_completed_successfully", name
