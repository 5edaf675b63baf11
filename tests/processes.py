"""Finding the processes a test started (and proving none is left): by a marker in argv or environ."""

from __future__ import annotations

import os
import time
from pathlib import Path


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def processes_with_marker(marker: str, *, environ: bool = False) -> list[int]:
    """Live processes (not this one) whose command line — or, with ``environ``, environment — contains ``marker``."""
    needle = marker.encode()
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            data = (entry / ("environ" if environ else "cmdline")).read_bytes()
        except OSError:
            continue
        if needle in data and alive(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


def wait_gone(pids: list[int], timeout_s: float) -> list[int]:
    """Wait until none of ``pids`` is alive; returns those still alive after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if alive(p)]
    return left


class LineReader:
    """Collects a child's output lines in a thread; :meth:`wait_for` never blocks past its timeout."""

    def __init__(self, stream: "object") -> None:
        import threading

        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: "object") -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wait_for(self, needle: str, timeout_s: float) -> bool:
        """True once a line containing ``needle`` arrived; False on timeout or end of output."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not any(needle in line for line in self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    return False
                self._cond.wait(min(left, 0.5))
        return True

    def finish(self, proc: "object", timeout_s: float) -> str:
        """Wait for ``proc`` to exit (killed after ``timeout_s``); returns all its output."""
        try:
            proc.wait(timeout_s)  # type: ignore[attr-defined]
        finally:
            if proc.poll() is None:  # type: ignore[attr-defined]
                proc.kill()  # type: ignore[attr-defined]
                proc.wait()  # type: ignore[attr-defined]
        return self.text(join_s=10)

    def text(self, join_s: float = 0.0) -> str:
        """Everything read so far (after waiting up to ``join_s`` for the end of the output)."""
        self._thread.join(join_s)
        with self._cond:
            return "".join(self.lines)
