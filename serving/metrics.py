"""``GET /metrics``: the process registry plus what ClickHouse knows.

Two sources, one Prometheus text page:

* :data:`ocrstream.metrics.REGISTRY` - values set by whatever runs in this
  process (worker: consumer lag per partition from fetch high watermarks,
  events, OCR seconds; window operator: close delays; sink: DLQ and late
  counts) and this API's own request counters/latencies;
* gauges read from ClickHouse (cached ``ttl_s`` seconds so scrapes stay cheap):
  stored dead letters per stage/error class, late events per granularity,
  final-window close delay over the last hour, freshness of the newest row.
  These are the pipeline-wide truth whichever process wrote them.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ocrstream.metrics import REGISTRY, escape_label, format_value
from serving import queries as Q
from serving.db import Database

log = logging.getLogger(__name__)

API_REQUESTS = REGISTRY.counter(
    "ocrstream_api_requests_total", "HTTP requests served by the API, per route template and status code.",
    ("route", "status"),
)
API_SECONDS = REGISTRY.histogram(
    "ocrstream_api_request_seconds", "Seconds to serve an API request, per route template.", ("route",),
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5),
)


def _gauge(name: str, help: str, samples: list[tuple[dict[str, str], float]]) -> list[str]:
    lines = [f"# HELP {name} {help}", f"# TYPE {name} gauge"]
    for labels, value in samples:
        label_text = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{label_text}}} {format_value(value)}" if label_text else f"{name} {format_value(value)}")
    return lines


class ClickHouseMetrics:
    """Cached ClickHouse-derived gauges in Prometheus text form."""

    def __init__(self, db: Database, ttl_s: float = 5.0) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self._text = ""
        self._at = 0.0
        self._lock = asyncio.Lock()

    async def text(self) -> str:
        async with self._lock:
            if time.monotonic() - self._at >= self.ttl_s or not self._text:
                self._text = await self._collect()
                self._at = time.monotonic()
            return self._text

    async def _collect(self) -> str:
        t0 = time.perf_counter()
        lines: list[str] = []
        try:
            dead = await self.db.rows(Q.DEAD_LETTERS_SQL)
            late = await self.db.rows(Q.LATE_EVENTS_SQL)
            delay = await self.db.rows(Q.CLOSE_DELAY_SQL)
            fresh = await self.db.rows(Q.FRESHNESS_SQL)
            up = 1.0
        except Exception as exc:  # report, never fail the scrape
            log.warning("metrics: ClickHouse query failed: %s", exc)
            dead, late, delay, fresh, up = [], [], [], [], 0.0
        lines += _gauge("ocrstream_clickhouse_up", "1 when the API's ClickHouse queries succeed.", [({}, up)])
        lines += _gauge("ocrstream_clickhouse_scrape_seconds", "Seconds the ClickHouse metric queries took.",
                        [({}, time.perf_counter() - t0)])
        lines += _gauge(
            "ocrstream_stored_dead_letters",
            "Dead letters stored in ClickHouse (all processes), per stage and error class.",
            [({"stage": s, "error_class": e}, n) for s, e, n in dead],
        )
        lines += _gauge(
            "ocrstream_stored_late_events",
            "Late events counted in stored windows (sum of late_events), per granularity.",
            [({"granularity": g}, n) for g, n in late],
        )
        quantiles: list[tuple[dict[str, str], float]] = []
        counts: list[tuple[dict[str, str], float]] = []
        for granularity, n, p50, p95, max_s, _last in delay:
            quantiles += [({"granularity": granularity, "quantile": "0.5"}, p50),
                          ({"granularity": granularity, "quantile": "0.95"}, p95),
                          ({"granularity": granularity, "quantile": "1"}, max_s)]
            counts.append(({"granularity": granularity}, n))
        lines += _gauge(
            "ocrstream_stored_window_close_delay_seconds",
            "Seconds from window_end to emitted_at of final windows that ended in the last hour "
            "(includes out-of-orderness and grace), per granularity and quantile.",
            quantiles,
        )
        lines += _gauge("ocrstream_stored_final_windows_last_hour",
                        "Final windows that ended in the last hour, per granularity.", counts)
        lines += _gauge(
            "ocrstream_stored_last_emit_timestamp_seconds",
            "Unix time of the newest window row stored, per granularity (freshness).",
            [({"granularity": g}, ts) for g, ts in fresh],
        )
        return "\n".join(lines) + "\n"


async def render(ch: ClickHouseMetrics) -> str:
    """The full ``/metrics`` page: process registry first, then ClickHouse gauges."""
    return REGISTRY.render() + await ch.text()
