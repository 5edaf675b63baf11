"""Health checks of stream stages for :data:`ocrstream.health.REGISTRY`.

* :func:`sink_check` — an aggregation sink run by a thread: ok while the
  thread runs; shows its assigned partitions, records handled, consumer lag
  (the fetch high watermark minus the position, as the sink last saw it) and,
  once dead, why.
* :func:`remote_check` — a stage in another process that serves
  ``/healthz`` (``ocrstream worker --health-port``): its report, fetched with
  a short timeout, combined with whether that process still runs.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from ocrstream import health, metrics


def lag_of(group: str) -> dict[str, int]:
    """Consumer lag per ``topic[partition]`` of consumer group ``group`` as this process last measured it."""
    return {f"{topic}[{partition}]": int(v) for (g, topic, partition), v in metrics.CONSUMER_LAG.items()
            if g == group}


def sink_check(sink: Any, thread: threading.Thread, error: Callable[[], str | None] | None = None) -> health.Check:
    """Stage check of an ``AggregationSink`` running in ``thread``."""

    def detail() -> dict[str, Any]:
        stats = sink.stats
        return {"group": sink.group, "assigned": list(stats.assigned), "records": stats.records,
                "documents": stats.documents, "dead_letters": stats.dead_letters, "lag": lag_of(sink.group)}

    return health.thread_check(thread, detail, error)


def remote_check(url: str, alive: Callable[[], bool], stage: str, timeout_s: float = 0.5) -> health.Check:
    """Check of ``stage`` in another process: dead when ``alive()`` is False, else its ``/healthz`` at ``url``."""

    def check() -> health.StageHealth:
        if not alive():
            return health.StageHealth(False, {"process": "exited"}, reason=f"the {stage} process exited")
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as resp:
                report = json.loads(resp.read())
        except urllib.error.HTTPError as exc:  # 503: the process runs, a stage of it is down
            report = json.loads(exc.read() or b"{}")
        except (OSError, ValueError):
            return health.StageHealth(True, {"process": "running", "health": "starting"})
        part = report.get("stages", {}).get(stage, {})
        ok = bool(report.get("ok")) and bool(part.get("ok", True))
        detail = {k: v for k, v in part.items() if k not in ("ok", "reason")}
        return health.StageHealth(ok, {"process": "running", **detail}, reason=part.get("reason"))

    return check
