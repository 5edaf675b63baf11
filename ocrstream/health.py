"""Health of the stages running in this process (ground module: imports no stage).

Every long-running part of a process registers a *check* here under a stage
name — the sink thread (alive, assigned partitions, lag), the OCR worker
(assigned partitions, lag, agents running), a supervised child process — and
``/healthz`` (the API) or the worker's health endpoint report all of them::

    from ocrstream import health

    health.REGISTRY.register("sink", lambda: health.StageHealth(thread.is_alive(), {"assigned": [0, 1]}))
    health.REGISTRY.report()  # {"ok": True, "stages": {"sink": {"ok": True, "assigned": [0, 1]}}}

A check is called on every report (keep it cheap: read state, do no I/O
beyond a local call); one that raises counts as unhealthy with the error as
its reason. The process is healthy when every registered stage is; a stage
that died stays registered (and unhealthy) until its owner unregisters it,
so a dead sink thread turns ``/healthz`` into a 503 instead of vanishing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class StageHealth:
    """One stage's state: ``ok`` plus what an operator wants to see (JSON-serialisable)."""

    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None  # one line: why it is not ok

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, **self.detail}
        if self.reason:
            out["reason"] = self.reason
        return out


Check = Callable[[], StageHealth]


class HealthRegistry:
    """Named health checks of this process (thread-safe)."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}
        self._lock = threading.Lock()

    def register(self, name: str, check: Check) -> None:
        """Add or replace the check of stage ``name``."""
        with self._lock:
            self._checks[name] = check

    def unregister(self, name: str) -> None:
        with self._lock:
            self._checks.pop(name, None)

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._checks)

    def check(self, name: str) -> StageHealth:
        with self._lock:
            fn = self._checks.get(name)
        if fn is None:
            return StageHealth(False, reason="not registered")
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - a failing check is an unhealthy stage
            return StageHealth(False, reason=" ".join(f"check failed: {exc}".split())[:300])

    def report(self) -> dict[str, Any]:
        """``{"ok": all stages ok, "stages": {name: {...}}}`` (``ok`` is True with no stage)."""
        stages = {name: self.check(name).as_dict() for name in self.names()}
        return {"ok": all(s["ok"] for s in stages.values()), "stages": stages}


#: The registry of this process.
REGISTRY = HealthRegistry()


def thread_check(thread: threading.Thread, detail: Callable[[], dict[str, Any]] | None = None,
                 error: Callable[[], str | None] | None = None) -> Check:
    """A check that is ok while ``thread`` runs; ``detail()`` adds fields, ``error()`` says why it died."""

    def check() -> StageHealth:
        extra = detail() if detail is not None else {}
        if thread.is_alive():
            return StageHealth(True, {"thread": "alive", **extra})
        why = (error() if error is not None else None) or "thread exited"
        return StageHealth(False, {"thread": "dead", **extra}, reason=why)

    return check
