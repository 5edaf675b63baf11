"""Fixtures for every test, unit and integration: child processes through ``spawn``.

Nothing here imports the stack (that lives in ``tests/integration/conftest.py``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support import REPO
from tests.support.processes import OutputReader

STOP_SIGNAL = signal.SIGTERM  # what teardown sends a child still running; every ocrstream command stops on it
STOP_GRACE_S = 30.0  # then SIGKILL (the child, and its process group when it has its own)


@dataclass
class Child:
    """A child started by ``spawn``: its ``proc`` and, when its stdout is piped, the ``output`` read from it."""

    proc: subprocess.Popen[str]
    output: OutputReader | None
    own_group: bool  # started in its own session or process group (its id is the child's pid)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def finish(self, timeout_s: float) -> str:
        """Wait for the exit (killed after ``timeout_s``); all its output."""
        assert self.output is not None, "the child's stdout is not read"
        return self.output.finish(self.proc, timeout_s)

    def stop(self, sig: int, timeout_s: float) -> str:
        """Send ``sig`` and :meth:`finish`; the exit code is left to the test (``proc.returncode``)."""
        self.proc.send_signal(sig)
        return self.finish(timeout_s)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_child(child: Child, grace_s: float = STOP_GRACE_S) -> None:
    """:data:`STOP_SIGNAL`, SIGKILL after ``grace_s``, waited for; then whatever is left of its process group."""
    proc = child.proc
    if proc.poll() is None:
        proc.send_signal(STOP_SIGNAL)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            if child.own_group:
                _signal_group(proc.pid, signal.SIGKILL)
            proc.kill()
            proc.wait()
    if child.own_group and _group_alive(proc.pid):  # what the child started and left behind
        _signal_group(proc.pid, STOP_SIGNAL)
        deadline = time.monotonic() + min(grace_s, 10.0)
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        _signal_group(proc.pid, signal.SIGKILL)
    if proc.stdin is not None:
        proc.stdin.close()


class Spawner:
    """The children of one test: :meth:`start` them, :meth:`stop_all` at its end (the ``spawn`` fixture)."""

    def __init__(self) -> None:
        self.started: list[Child] = []

    def start(self, *args: str, env: dict[str, str] | None = None, python: Sequence[str] | None = None,
              argv: Sequence[str] | None = None, **popen_kw: Any) -> Child:
        if sum((bool(args), python is not None, argv is not None)) > 1:
            raise TypeError("spawn: ocrstream args, python= or argv=, one of them")
        if argv is not None:
            command = list(argv)
        elif python is not None:
            command = [sys.executable, *python]
        else:
            command = [sys.executable, "-m", "ocrstream", *args]
        kw: dict[str, Any] = {"cwd": REPO, "stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
        kw.update(popen_kw)
        proc = subprocess.Popen(command, env=env, **kw)
        own_group = bool(kw.get("start_new_session")) or kw.get("process_group") == 0
        output = OutputReader(proc.stdout) if kw["stdout"] == subprocess.PIPE else None
        child = Child(proc, output, own_group)
        self.started.append(child)
        return child

    def stop_all(self, grace_s: float = STOP_GRACE_S) -> None:
        errors: list[BaseException] = []
        for child in reversed(self.started):
            try:
                stop_child(child, grace_s)
            except Exception as exc:  # stop the others all the same
                errors.append(exc)
        if errors:
            raise errors[0]


@pytest.fixture
def spawn() -> Iterator[Callable[..., Child]]:
    """Start child processes; any still running at teardown is stopped (:func:`stop_child`).

    ``spawn(*args, env=None, **popen_kw)`` runs ``python -m ocrstream ARGS``;
    ``spawn(python=["-c", code])`` another Python command, ``spawn(argv=[...])``
    any program. Defaults: ``cwd`` the checkout, stdout piped (stderr into it,
    text) and read by ``Child.output``; ``env=None`` inherits this process's
    environment. ``start_new_session=True`` or ``process_group=0`` gives the
    child its own group, which teardown stops with it. Signals and exit codes
    a test checks stay in the test; teardown is the safety net. Request
    ``spawn`` after the stack fixtures so that its children stop first.
    """
    spawner = Spawner()
    try:
        yield spawner.start
    finally:
        spawner.stop_all()
