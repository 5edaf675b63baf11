"""One process supervisor for every command that runs children (``demo``, ``up``).

A :class:`Supervisor` starts named children — processes (:meth:`Supervisor.start_process`)
and threads of this process (:meth:`Supervisor.start_thread`) — watches them,
reports the first one that dies (:meth:`Supervisor.wait`, :meth:`Supervisor.dead`),
and stops all of them, newest first, on SIGTERM, SIGHUP or SIGINT or when
its ``with`` block ends (:meth:`Supervisor.stop_all`)::

    with Supervisor("demo") as sup, sup.handle_signals():
        sup.start_process("worker", [sys.executable, "-m", "ocrstream", "worker"], log_path=log)
        sup.start_thread("sink", sink.run, stop=sink.stop)
        while (dead := sup.wait(1.0)) is None and not sup.stopping:
            ...
        if dead: print(dead.line())
    # every child is gone here (SIGTERM to its process group, SIGKILL after ``stop_timeout_s``)

No orphans, even when the supervisor itself is killed with SIGKILL:

* every child process runs in its own session / process group (so its own
  children — e.g. the OCR worker's process pool — are signalled with it);
* every child process gets ``PR_SET_PDEATHSIG = SIGKILL`` (Linux ``prctl``,
  via ctypes) before it executes: the kernel kills it when the thread that
  started it dies. Start children from a thread that lives as long as the
  supervisor (normally the main thread). Grandchildren that should die with
  *their* parent call :func:`die_with_parent` themselves (the OCR pool does).

Every child is also registered in :data:`ocrstream.health.REGISTRY` (ok while
it runs), so ``/healthz`` of the supervising process shows a dead child.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ocrstream import health

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent (thread) dies; False off Linux."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return False


def die_with_parent(parent_pid: int, *, poll_s: float = 1.0) -> None:
    """In a child process: exit when ``parent_pid`` is gone, even if it was SIGKILLed.

    Sets the parent-death signal, exits at once if the parent already died
    (the race before ``prctl``), and starts a daemon thread that checks
    ``getppid()`` every ``poll_s`` — the fallback where the death signal is
    not available or fired for the wrong thread.
    """
    set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def _child_preexec(parent_pid: int) -> Callable[[], None]:
    def preexec() -> None:  # runs in the forked child, before exec
        set_parent_death_signal(signal.SIGKILL)
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


def signal_group(pid: int, sig: int) -> None:
    """``sig`` to the process group led by ``pid`` (or just ``pid`` if it leads none)."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def group_alive(pgid: int) -> bool:
    """True while any process of group ``pgid`` exists (zombies of other parents included)."""
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


@dataclass(frozen=True)
class ChildExit:
    """A child that ended without being asked to."""

    name: str
    kind: Literal["process", "thread"]
    returncode: int | None = None  # processes: exit code, -N for signal N
    error: str | None = None  # threads: the exception that ended it (one line)
    log_path: Path | None = None

    def line(self) -> str:
        """One line for the user, e.g. ``the worker process exited with code 1; see .ocrstream/logs/worker.log``."""
        if self.kind == "process":
            rc = self.returncode
            how = f"was killed by signal {-rc}" if rc is not None and rc < 0 else f"exited with code {rc}"
            text = f"the {self.name} process {how}"
        else:
            text = f"the {self.name} thread died" + (f": {self.error}" if self.error else "")
        return text + (f"; see {self.log_path}" if self.log_path else "")


@dataclass
class ProcessChild:
    name: str
    popen: "subprocess.Popen[bytes]"
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass
class ThreadChild:
    name: str
    thread: threading.Thread
    stop: Callable[[], None] | None = None
    error: str | None = None
    done: bool = False

    def alive(self) -> bool:
        return self.thread.is_alive()


@dataclass
class Supervisor:
    """Named children, watched and stopped together; see the module docstring."""

    name: str = "ocrstream"
    stop_timeout_s: float = 20.0
    registry: health.HealthRegistry = field(default_factory=lambda: health.REGISTRY)

    def __post_init__(self) -> None:
        self.stop_event = threading.Event()
        self.signal_received: int | None = None
        self._children: list[ProcessChild | ThreadChild] = []
        self._stopping_children = False
        self._reported: set[str] = set()

    # ---------------------------------------------------------------- start
    def start_process(self, name: str, argv: list[str], *, env: dict[str, str] | None = None,
                      log_path: Path | None = None, cwd: Path | None = None) -> ProcessChild:
        """Start ``argv`` as child ``name`` (own process group, dies with this process).

        Output goes to ``log_path`` (appended) or is discarded.
        """
        self._check_name(name)
        out: Any = subprocess.DEVNULL
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            out = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            popen = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=_child_preexec(os.getpid()))
        finally:
            if out is not subprocess.DEVNULL:
                out.close()
        child = ProcessChild(name, popen, log_path)
        self._children.append(child)
        self.registry.register(name, self._process_check(child))
        log.info("%s: started %s (pid %d)", self.name, name, popen.pid)
        return child

    def start_thread(self, name: str, target: Callable[..., Any], *args: Any,
                     stop: Callable[[], None] | None = None) -> ThreadChild:
        """Run ``target(*args)`` in a daemon thread; ``stop()`` asks it to return (on :meth:`stop_all`)."""
        self._check_name(name)
        child = ThreadChild(name, threading.Thread(name=name, daemon=True), stop)

        def run() -> None:
            try:
                target(*args)
            except BaseException as exc:  # noqa: BLE001 - reported as the thread's death
                child.error = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
                log.exception("%s: thread %s died", self.name, name)
            finally:
                child.done = True

        child.thread.run = run  # type: ignore[method-assign]
        self._children.append(child)
        self.registry.register(name, health.thread_check(child.thread, error=lambda: child.error))
        child.thread.start()
        return child

    def _check_name(self, name: str) -> None:
        if any(c.name == name for c in self._children):
            raise ValueError(f"a child named {name!r} is already supervised")

    def _process_check(self, child: ProcessChild) -> health.Check:
        def check() -> health.StageHealth:
            rc = child.popen.poll()
            if rc is None:
                return health.StageHealth(True, {"pid": child.pid})
            return health.StageHealth(False, {"pid": child.pid, "returncode": rc},
                                      reason=ChildExit(child.name, "process", rc).line())

        return check

    # ---------------------------------------------------------------- watch
    @property
    def stopping(self) -> bool:
        """True once a stop signal arrived or :meth:`request_stop` was called."""
        return self.stop_event.is_set()

    def request_stop(self) -> None:
        self.stop_event.set()

    def children(self) -> list[str]:
        return [c.name for c in self._children]

    def dead(self) -> list[ChildExit]:
        """Children that ended on their own (not by :meth:`stop_all`)."""
        if self._stopping_children:
            return []
        out: list[ChildExit] = []
        for c in self._children:
            if isinstance(c, ProcessChild):
                rc = c.popen.poll()
                if rc is not None:
                    out.append(ChildExit(c.name, "process", returncode=rc, log_path=c.log_path))
            elif not c.thread.is_alive() and c.done:
                out.append(ChildExit(c.name, "thread", error=c.error or "returned"))
        return out

    def wait(self, timeout_s: float) -> ChildExit | None:
        """Sleep up to ``timeout_s``; return early with the first newly dead child, or on a stop request."""
        deadline = time.monotonic() + timeout_s
        while True:
            for d in self.dead():
                if d.name not in self._reported:
                    self._reported.add(d.name)
                    return d
            left = deadline - time.monotonic()
            if left <= 0 or self.stop_event.is_set():
                return None
            self.stop_event.wait(min(0.2, left))

    @contextlib.contextmanager
    def handle_signals(self, signals: tuple[int, ...] = STOP_SIGNALS) -> Iterator["Supervisor"]:
        """SIGTERM/SIGHUP/SIGINT set :attr:`stop_event` (main thread only); the previous handlers come back after."""
        def on_signal(signum: int, _frame: Any) -> None:
            self.signal_received = signum
            self.stop_event.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in signals}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # ---------------------------------------------------------------- stop
    def stop_all(self, timeout_s: float | None = None) -> None:
        """Stop every child, newest first: threads via their ``stop``, processes via their group.

        A process group gets SIGTERM, then SIGKILL after ``timeout_s``
        (default ``stop_timeout_s``); it returns only when every process of
        the group has exited. Threads are joined for ``timeout_s`` each.
        """
        timeout = self.stop_timeout_s if timeout_s is None else timeout_s
        self._stopping_children = True
        self.stop_event.set()
        for child in reversed(self._children):
            if isinstance(child, ProcessChild):
                self._stop_process(child, timeout)
            else:
                self._stop_thread(child, timeout)
            self.registry.unregister(child.name)
        self._children.clear()

    def _stop_process(self, child: ProcessChild, timeout: float) -> None:
        pgid = child.pid
        if child.alive() or group_alive(pgid):
            signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while (child.popen.poll() is None or group_alive(pgid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        if child.popen.poll() is None or group_alive(pgid):
            log.warning("%s: %s (pid %d) did not stop in %.0fs; killing its process group", self.name,
                        child.name, pgid, timeout)
            signal_group(pgid, signal.SIGKILL)
            child.popen.wait()
            while group_alive(pgid):
                time.sleep(0.05)

    def _stop_thread(self, child: ThreadChild, timeout: float) -> None:
        if child.stop is not None and child.thread.is_alive():
            try:
                child.stop()
            except Exception as exc:  # noqa: BLE001 - keep stopping the others
                log.warning("%s: stopping %s failed: %s", self.name, child.name, exc)
        child.thread.join(timeout)
        if child.thread.is_alive():
            log.warning("%s: thread %s did not stop in %.0fs", self.name, child.name, timeout)

    def __enter__(self) -> "Supervisor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()
