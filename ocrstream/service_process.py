"""A local service process tracked by a pid file, and the port and liveness checks around it.

:class:`ServiceProcess` starts a command in its own session (so the whole process group can be
stopped), logs to ``state_dir/logs/<name>.log`` and records ``pid``, ``argv`` and a marker in
``state_dir/pids/<name>.json``; a pid file whose process is gone, or whose pid now belongs to
another program (the marker is not in its command line), is stale and removed. Used by the
embedded stack (:mod:`ocrstream.stack`) for the broker, S3 and the upload bridge.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocrstream.settings import Settings

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def wait_port(port: int, timeout_s: float, host: str = LOOPBACK) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


@dataclass
class ServiceProcess:
    """A stack process tracked by a pid file under ``state_dir/pids``."""

    name: str
    settings: Settings
    _proc: "subprocess.Popen[bytes] | None" = None

    def exited(self) -> bool:
        """True when the process this object started has exited (definitive: waitpid)."""
        if self._proc is not None:
            return self._proc.poll() is not None
        return self.pid() is None

    @property
    def pid_file(self) -> Path:
        return self.settings.state_dir / "pids" / f"{self.name}.json"

    @property
    def log_file(self) -> Path:
        return self.settings.state_dir / "logs" / f"{self.name}.log"

    def read(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.pid_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def pid(self) -> int | None:
        """Live pid of this process, or None; removes a stale pid file."""
        info = self.read()
        if not info:
            return None
        pid = int(info["pid"])
        if self._proc is not None and self._proc.pid == pid:
            if self._proc.poll() is None:
                return pid  # started by us and still running
        elif alive(pid) and cmdline_contains(pid, info.get("marker", "")):
            return pid
        log.warning("removing stale pid file %s (pid %s is not running)", self.pid_file, pid)
        self.pid_file.unlink(missing_ok=True)
        return None

    def start(self, argv: list[str], env: dict[str, str], marker: str) -> int:
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        logf = open(self.log_file, "ab")
        logf.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode())
        logf.flush()
        proc = subprocess.Popen(
            argv,
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **env},
            start_new_session=True,
            cwd=self.settings.state_dir,
        )
        logf.close()
        self._proc = proc
        self.pid_file.write_text(json.dumps({"pid": proc.pid, "argv": argv, "marker": marker,
                                             "started_at": time.time()}))
        return proc.pid

    def stop(self, timeout_s: float) -> bool:
        """SIGTERM the process group, SIGKILL after ``timeout_s``; True if it was running."""
        pid = self.pid()
        if pid is None:
            return False
        signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(pid):
            log.warning("%s (pid %d) did not stop in %.0fs; killing", self.name, pid, timeout_s)
            signal_group(pid, signal.SIGKILL)
            while alive(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        self._proc = None
        return True

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie has exited: reap it if it is our child; either way it counts as dead (one that
    # another process started, e.g. the `stack up` that outlives it, is reaped by that one)
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().split(")")[-1].split()[0] == "Z":
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
                return False
    except FileNotFoundError:
        return False
    return True


def cmdline_contains(pid: int, marker: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    # an empty cmdline (a process mid-exec) is not evidence of pid reuse
    return not cmdline or marker.encode() in cmdline


def signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
