"""Test backends: the embedded local stack, or testcontainers (Docker)."""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ocrstream.settings import Settings
from ocrstream.service_process import port_in_use
from ocrstream.stack import LocalStack


def free_ports() -> tuple[int, int]:
    """A Kafka port and an S3 base port whose derived SeaweedFS ports are all free.

    All below Linux's ephemeral range (32768+), so an outgoing client
    connection cannot grab one between this check and the server's bind.
    S3 base 10000-14999 (gRPC twins 20000-25006), Kafka 26000-32499.
    """
    rng = random.Random()
    for _ in range(200):
        kafka = rng.randrange(26000, 32500)
        s3 = rng.randrange(10000, 15000)
        from ocrstream.stack import Ports

        if not any(port_in_use(p) for p in [kafka, *Ports(kafka=kafka, s3=s3).weed_all()]):
            return kafka, s3
    raise RuntimeError("no free port range found on 127.0.0.1")


def local_settings(state_dir: Path, *, ephemeral: bool = True, clickhouse_dsn: str | None = None,
                   **overrides: Any) -> Settings:
    kafka, s3 = free_ports()
    values: dict[str, Any] = {
        "state_dir": state_dir,
        "kafka.bootstrap": f"127.0.0.1:{kafka}",
        "s3.endpoint": f"http://127.0.0.1:{s3}",
        "stack.broker_storage": "memory" if ephemeral else "s3",
        "clickhouse.dsn": clickhouse_dsn,
    }
    values.update(overrides)
    return Settings().with_overrides(**values)


@dataclass
class StackHandle:
    settings: Settings
    stack: LocalStack | None = None
    containers: list[Any] = field(default_factory=list)

    def up(self, **kwargs: Any) -> dict[str, Any]:
        assert self.stack is not None
        return self.stack.up(**kwargs)

    def down(self) -> list[str]:
        return self.stack.down() if self.stack else []

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.down()
        for container in self.containers:
            try:
                container.stop()
            except Exception:
                pass


def start_backend(name: str, state_dir: Path) -> StackHandle:
    if name == "local":
        settings = local_settings(state_dir)
        handle = StackHandle(settings=settings, stack=LocalStack(settings))
        handle.up(ephemeral=True)
        return handle
    if name == "testcontainers":
        return _start_testcontainers(state_dir)
    raise pytest.UsageError(f"unknown OCRSTREAM_TEST_BACKEND={name!r} (local | testcontainers)")


def _docker_available() -> str | None:
    """None when a Docker engine answers, else the reason it does not."""
    try:
        import docker  # testcontainers' dependency

        docker.from_env(timeout=3).ping()
        return None
    except Exception as exc:  # no socket, permission, daemon down
        return f"no Docker engine answers ({type(exc).__name__}: {str(exc)[:120]})"


def _start_testcontainers(state_dir: Path) -> StackHandle:
    reason = _docker_available()
    if reason:
        pytest.skip(f"OCRSTREAM_TEST_BACKEND=testcontainers: {reason}")
    from testcontainers.clickhouse import ClickHouseContainer
    from testcontainers.kafka import KafkaContainer
    from testcontainers.minio import MinioContainer

    from ocrstream.clickhouse import migrate, connect
    from ocrstream.objectstore import ObjectStore
    from ocrstream.topics import ensure_topics

    kafka = KafkaContainer("confluentinc/cp-kafka:7.6.1").with_kraft()
    clickhouse = ClickHouseContainer("clickhouse/clickhouse-server:24.8")
    minio = MinioContainer("minio/minio:RELEASE.2024-05-10T01-41-38Z")
    containers = [kafka.start(), clickhouse.start(), minio.start()]
    ch_host = clickhouse.get_container_host_ip()
    ch_port = clickhouse.get_exposed_port(8123)
    minio_cfg = minio.get_config()
    settings = Settings().with_overrides(**{
        "profile": "production",
        "state_dir": state_dir,
        "kafka.bootstrap": kafka.get_bootstrap_server(),
        "s3.endpoint": f"http://{minio_cfg['endpoint']}",
        "s3.access_key": minio_cfg["access_key"],
        "s3.secret_key": minio_cfg["secret_key"],
        "clickhouse.dsn": f"http://{clickhouse.username}:{clickhouse.password}@{ch_host}:{ch_port}",
    })
    store = ObjectStore(settings)
    store.ensure_bucket(settings.s3.documents_bucket)
    ensure_topics(settings)
    migrate(connect(settings))
    return StackHandle(settings=settings, containers=containers)


def kafka_port(settings: Settings) -> int:
    return int(settings.kafka.bootstrap.rsplit(":", 1)[1])


def tcp_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


BACKEND = __import__("os").environ.get("OCRSTREAM_TEST_BACKEND", "local")
BACKEND_IS_LOCAL = BACKEND == "local"
