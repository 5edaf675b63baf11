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
