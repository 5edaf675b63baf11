"""The process supervisor: children watched, reported, stopped, never orphaned (the health registry's report:
tests/unit/ocrstream/test_health.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from ocrstream import health
from ocrstream.supervisor import Supervisor, group_alive
from tests.support.processes import alive, processes_with_marker, wait_gone
from tests.support import REPO


# A child that starts a grandchild in its own process group, then waits (the worker + OCR pool shape).
PARENT_OF_ONE = textwrap.dedent("""
    import subprocess, sys, time
    g = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    print(g.pid, flush=True)
    time.sleep(300)
""")


def test_stop_all_stops_children_and_their_process_groups(tmp_path: Path) -> None:
    registry = health.HealthRegistry()
    log = tmp_path / "child.log"
    with Supervisor("t", stop_timeout_s=5, registry=registry) as sup:
        child = sup.start_process("parent", [sys.executable, "-c", PARENT_OF_ONE], log_path=log)
        deadline = time.monotonic() + 20
        while not log.read_text().strip() and time.monotonic() < deadline:
            time.sleep(0.05)
        grandchild = int(log.read_text().split()[0])
        assert alive(grandchild) and child.alive()
        assert registry.report() == {"ok": True, "stages": {"parent": {"ok": True, "pid": child.pid}}}
    assert not child.alive() and wait_gone([grandchild], 5) == []
    assert not group_alive(child.pid)
    assert registry.names() == []


def test_a_dead_child_and_a_dead_thread_are_reported() -> None:
    registry = health.HealthRegistry()
    release = threading.Event()

    def crashes() -> None:
        release.wait(10)
        raise RuntimeError("sink lost its store")

    with Supervisor("t", stop_timeout_s=5, registry=registry) as sup:
        sup.start_process("worker", [sys.executable, "-c", "import sys; sys.exit(3)"])
        sup.start_thread("sink", crashes)
        dead = sup.wait(20)
        assert dead is not None and (dead.name, dead.kind, dead.returncode) == ("worker", "process", 3)
        assert dead.line() == "the worker process exited with code 3"
        report = registry.report()
        assert report["ok"] is False and report["stages"]["worker"]["returncode"] == 3
        assert report["stages"]["sink"]["ok"] is True
        release.set()
        dead = sup.wait(20)
        assert dead is not None and dead.kind == "thread" and dead.name == "sink"
        assert "RuntimeError: sink lost its store" in dead.line()
        sink = registry.report()["stages"]["sink"]
        assert sink["ok"] is False and sink["thread"] == "dead" and "sink lost its store" in sink["reason"]
        assert sup.wait(0.2) is None  # each death is reported once


SUPERVISING_SCRIPT = textwrap.dedent("""
    import sys, time
    from ocrstream.supervisor import Supervisor
    sup = Supervisor("t", stop_timeout_s=5)
    with sup, sup.handle_signals():
        child = sup.start_process("child", [sys.executable, "-c", sys.argv[1], sys.argv[2]])
        print("ready", child.pid, flush=True)
        while not sup.stopping:
            sup.wait(0.2)
    print("stopped", sup.signal_received, flush=True)
""")


def _start_supervisor(marker: str) -> tuple[subprocess.Popen, int]:
    grandchild = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', sys.argv[1]]); time.sleep(300)"
    proc = subprocess.Popen([sys.executable, "-c", SUPERVISING_SCRIPT, grandchild, marker], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("ready"), line + proc.stdout.read()
    deadline = time.monotonic() + 20
    # the marker is in the command line of the supervisor, its child and the grandchild; wait for all three
    # (counting only two raced with the grandchild's start)
    while len(processes_with_marker(marker)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(processes_with_marker(marker)) == 3  # supervisor + child + grandchild
    return proc, int(line.split()[1])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_stop_signals_stop_every_child(sig: int) -> None:
    marker = f"ocrstream-test-{os.getpid()}-{sig}-{time.monotonic_ns()}"
    proc, _ = _start_supervisor(marker)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and f"stopped {int(sig)}" in out, out
    assert processes_with_marker(marker) == []


def test_children_die_with_a_sigkilled_supervisor() -> None:
    """PR_SET_PDEATHSIG: the kernel kills the child when its supervisor is SIGKILLed."""
    marker = f"ocrstream-test-kill-{os.getpid()}-{time.monotonic_ns()}"
    proc, child_pid = _start_supervisor(marker)
    proc.kill()
    proc.wait(10)
    assert wait_gone([child_pid], 10) == [], "the child outlived its SIGKILLed supervisor"
    # the grandchild is the child's business (it would call die_with_parent, as the OCR pool does);
    # clean it up here so nothing of the test is left behind
    for pid in processes_with_marker(marker):
        os.kill(pid, signal.SIGKILL)
    assert wait_gone(processes_with_marker(marker), 10) == []


def test_die_with_parent_in_a_grandchild() -> None:
    """The OCR pool's guard: a process that called die_with_parent exits when its parent is SIGKILLed."""
    marker = f"ocrstream-test-orphan-{os.getpid()}-{time.monotonic_ns()}"
    middle = textwrap.dedent(f"""
        import os, subprocess, sys, time
        code = "import os, sys, time; from ocrstream.supervisor import die_with_parent; die_with_parent(int(sys.argv[1])); time.sleep(300)"
        g = subprocess.Popen([sys.executable, "-c", code, str(os.getpid()), {marker!r}])
        print(g.pid, flush=True)
        time.sleep(300)
    """)
    proc = subprocess.Popen([sys.executable, "-c", middle], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    grandchild = int(proc.stdout.readline())
    try:
        time.sleep(1.0)  # let it reach die_with_parent
        proc.kill()
        proc.wait(10)
        assert wait_gone([grandchild], 10) == [], "the grandchild outlived its SIGKILLed parent"
    finally:
        for pid in processes_with_marker(marker):
            os.kill(pid, signal.SIGKILL)
