"""ClickHouse access: one client factory for chDB (embedded) and a server.

``chdb:///abs/path`` opens an in-process ClickHouse (chDB) data directory;
``http(s)://user:pass@host:8123`` talks to a ClickHouse server. Both go
through clickhouse-connect, so every query and insert in ocrstream is the same
code on both. chDB allows ONE process per data directory: in embedded mode the
sink process owns it and serves the API too.

Migrations: ``clickhouse/NNN_name.sql`` files applied in name order, each
once, recorded in ``schema_migrations`` (name, checksum, applied_at).
Statements in a file are separated by ``;`` at the end of a line.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from ocrstream.errors import Transient
from ocrstream.paths import migrations_dir
from ocrstream.settings import Settings

log = logging.getLogger(__name__)

_lock = threading.Lock()
_chdb_clients: dict[str, Client] = {}


class ClickHouseUnavailable(Transient, RuntimeError):
    """The analytics store cannot be reached or opened (transient for the stream)."""


def connect(settings: Settings, *, database: str | None = None) -> Client:
    """A client for ``settings.clickhouse_dsn``, database created if missing.

    chDB clients are shared per process and path (one process may open one
    data directory once) and switched to ``database`` on every call; server
    clients are new per call.
    """
    dsn = settings.clickhouse_dsn
    db = database or settings.clickhouse.database
    if dsn.startswith("chdb://"):
        path = dsn[len("chdb://") :]
        Path(path).mkdir(parents=True, exist_ok=True)
        with _lock:
            client = _chdb_clients.get(path)
            if client is None:
                try:
                    client = clickhouse_connect.get_client(dsn=dsn)
                except Exception as exc:
                    raise ClickHouseUnavailable(
                        f"cannot open chDB data directory {path}: {exc} "
                        "(only one process may open it; is a sink/API/demo already running?)"
                    ) from exc
                _chdb_clients[path] = client
            # The shared handle has one current database: select the caller's
            # every time, so a component (or test) using another database on the
            # same path cannot leave the next caller in the wrong one.
            client.command(f"CREATE DATABASE IF NOT EXISTS `{db}`")
            client.command(f"USE `{db}`")
        return client
    parsed = urlparse(dsn)
    try:
        admin = clickhouse_connect.get_client(dsn=dsn)
        admin.command(f"CREATE DATABASE IF NOT EXISTS `{db}`")
        return clickhouse_connect.get_client(
            host=parsed.hostname,
            port=parsed.port or (8443 if parsed.scheme == "https" else 8123),
            username=parsed.username or "default",
            password=parsed.password or "",
            secure=parsed.scheme == "https",
            database=db,
        )
    except Exception as exc:
        raise ClickHouseUnavailable(f"ClickHouse at {parsed.hostname}:{parsed.port}: {exc}") from exc


def close_all() -> None:
    """Close shared chDB clients (releases the data-directory lock)."""
    with _lock:
        for client in _chdb_clients.values():
            try:
                client.close()
            except Exception:
                pass
        _chdb_clients.clear()


def split_statements(sql: str) -> list[str]:
    """Split a migration file on ``;`` at line ends, dropping comment-only parts."""
    parts = re.split(r";\s*(?:\n|$)", sql)
    out = []
    for part in parts:
        body = "\n".join(line for line in part.splitlines() if not line.strip().startswith("--"))
        if body.strip():
            out.append(part.strip())
    return out


def migrate(client: Client, folder: Path | None = None) -> list[str]:
    """Apply pending migrations in name order; returns the names applied now."""
    folder = folder or migrations_dir()
    client.command(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name String, checksum String, "
        "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = MergeTree ORDER BY name"
    )
    done = {row[0]: row[1] for row in client.query("SELECT name, checksum FROM schema_migrations").result_rows}
    applied: list[str] = []
    for path in sorted(folder.glob("*.sql")):
        sql = path.read_text()
        checksum = hashlib.sha256(sql.encode()).hexdigest()[:16]
        if path.name in done:
            if done[path.name] != checksum:
                log.warning("migration %s changed after it was applied (checksum %s != %s)",
                            path.name, checksum, done[path.name])
            continue
        for statement in split_statements(sql):
            client.command(statement)
        client.insert("schema_migrations", [[path.name, checksum]], column_names=["name", "checksum"])
        applied.append(path.name)
        log.info("applied migration %s", path.name)
    return applied


def query_rows(client: Client, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple]:
    """Rows of a parameterized query (``{name:Type}`` placeholders)."""
    return client.query(sql, parameters=parameters or {}).result_rows
