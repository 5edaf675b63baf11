"""Finding the processes a test started (and proving none is left): by a marker in argv or environ."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ocrstream.settings import Settings


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


class OutputReader:
    """Reads a child's text stdout in a thread (so a chatty child never blocks on a full pipe).

    ``wait_for(marker)`` returns the first line containing ``marker`` (it
    fails with the output's tail when the child exits first or after
    ``timeout_s``); ``follow()`` yields each line as it comes; ``text()`` is
    everything read so far.
    """

    def __init__(self, stream: "object") -> None:
        import threading

        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._done = False
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: "object") -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def wait_for(self, marker: str, timeout_s: float = 300.0, start: int = 0) -> str:
        deadline = time.monotonic() + timeout_s
        seen = start
        with self._cond:
            while True:
                for line in self.lines[seen:]:
                    if marker in line:
                        return line
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if self._done or left <= 0:
                    why = "the process ended" if self._done else f"{timeout_s:.0f}s passed"
                    raise AssertionError(f"{why} before {marker!r}:\n{''.join(self.lines)[-4000:]}")
                self._cond.wait(min(left, 1.0))

    def follow(self, start: int = 0) -> "Iterator[str]":
        """Every line from index ``start`` on, as it arrives, until the stream ends."""
        i = start
        while True:
            with self._cond:
                while i >= len(self.lines) and not self._done:
                    self._cond.wait(1.0)
                if i >= len(self.lines):
                    return
                line = self.lines[i]
            i += 1
            yield line

    def finish(self, proc: "object", timeout_s: float) -> str:
        """Wait for ``proc`` to exit (killed after ``timeout_s``); returns all its output."""
        try:
            proc.wait(timeout_s)  # type: ignore[attr-defined]
        finally:
            if proc.poll() is None:  # type: ignore[attr-defined]
                proc.kill()  # type: ignore[attr-defined]
                proc.wait()  # type: ignore[attr-defined]
        return self.text(wait_end_s=10)

    def text(self, wait_end_s: float = 0.0) -> str:
        """The output so far; with ``wait_end_s``, first wait up to that long for the end of the stream."""
        if wait_end_s:
            self._thread.join(wait_end_s)
        with self._cond:
            return "".join(self.lines)


def pipeline_processes(settings: "object") -> list[int]:
    """Processes of a local pipeline on ``settings``: its state dir in argv or environment, or its broker."""
    state_dir = str(settings.state_dir)  # type: ignore[attr-defined]
    kafka_port = settings.kafka.bootstrap.rsplit(":", 1)[1]  # type: ignore[attr-defined]
    found = set(processes_with_marker(state_dir)) | set(processes_with_marker(state_dir, environ=True))
    found |= set(processes_with_marker(f"tcp://127.0.0.1:{kafka_port}"))
    return sorted(found)


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment that makes a child process load ``settings`` (nothing inherited from ours)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCRSTREAM_")}
    env.update(settings.as_env())
    env["PYTHONUNBUFFERED"] = "1"
    return env
