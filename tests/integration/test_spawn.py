"""The ``spawn`` fixture's teardown (tests/conftest.py): what a test leaves running is stopped and waited for."""

from __future__ import annotations

import signal
import subprocess
import textwrap
import time

from tests.conftest import Spawner
from tests.support.processes import alive, wait_gone

# Prints a line on SIGTERM and exits 0.
POLITE = textwrap.dedent("""
    import signal, sys, time
    signal.signal(signal.SIGTERM, lambda *_: (print("got SIGTERM", flush=True), sys.exit(0)))
    print("ready", flush=True)
    time.sleep(300)
""")
# Ignores SIGTERM.
STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(300)"
# Starts a grandchild (same process group) that ignores SIGTERM, prints its pid, exits at once on SIGTERM.
PARENT = textwrap.dedent(f"""
    import subprocess, sys, time
    g = subprocess.Popen([sys.executable, "-c", {STUBBORN!r}], stdout=subprocess.DEVNULL)
    print(g.pid, flush=True)
    time.sleep(300)
""")


def test_a_running_child_gets_sigterm_and_is_waited_for() -> None:
    spawner = Spawner()
    child = spawner.start(python=["-c", POLITE])
    child.output.wait_for("ready", 30)  # type: ignore[union-attr]
    spawner.stop_all(grace_s=10)
    assert child.proc.returncode == 0
    assert "got SIGTERM" in child.output.text(wait_end_s=5)  # type: ignore[union-attr]


def test_a_child_ignoring_sigterm_is_killed_after_the_grace() -> None:
    spawner = Spawner()
    child = spawner.start(python=["-c", STUBBORN])
    child.output.wait_for("ready", 30)  # type: ignore[union-attr]
    t0 = time.monotonic()
    spawner.stop_all(grace_s=1)
    assert child.proc.returncode == -signal.SIGKILL
    assert 1 <= time.monotonic() - t0 < 10


def test_the_process_group_of_a_child_in_its_own_session_is_stopped_too() -> None:
    spawner = Spawner()
    child = spawner.start(python=["-c", PARENT], start_new_session=True)
    grandchild = int(child.output.wait_for("", 30))  # type: ignore[union-attr]
    assert alive(grandchild)
    spawner.stop_all(grace_s=1)
    assert child.proc.returncode == -signal.SIGTERM
    assert wait_gone([grandchild], 10) == []


def test_a_finished_child_is_left_as_it_is_and_others_are_not_piped() -> None:
    spawner = Spawner()
    done = spawner.start(python=["-c", "print('bye')"])
    assert done.finish(30) == "bye\n" and done.proc.returncode == 0
    quiet = spawner.start(python=["-c", "import time; time.sleep(300)"], stdout=subprocess.DEVNULL)
    assert quiet.output is None
    spawner.stop_all(grace_s=5)
    assert done.proc.returncode == 0 and quiet.proc.returncode == -signal.SIGTERM
