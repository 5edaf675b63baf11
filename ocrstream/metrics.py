"""A tiny in-process Prometheus registry (no dependency) and ocrstream's metrics.

Every ocrstream process has one :data:`REGISTRY`. The parts that live in the
process update the predefined metrics below (the worker sets consumer lag and
counts events, the OCR stage observes seconds, the window operator observes
close delays, the sink counts dead letters and late events); ``ocrstream
serve`` renders them at ``GET /metrics`` in the Prometheus text format 0.0.4,
next to values it reads from ClickHouse (see :mod:`serving.metrics`).

Names follow Prometheus conventions: base units (seconds, messages), counters
end in ``_total``, label values are strings. All operations are thread-safe.

Example (worker side)::

    from ocrstream import metrics
    metrics.EVENTS.inc(stage="ocr")
    metrics.OCR_SECONDS.observe(0.42, engine="onnx")
    metrics.record_consumer_lag(group, topic, partition, high_watermark, position)
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

LabelKey = tuple[str, ...]

DEFAULT_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{escape_label(v)}"' for n, v in zip(names, values)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class _Metric:
    """Base: a name, help text, label names and per-label-set values."""

    kind = "untyped"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help
        self.label_names = tuple(labels)
        self._lock = threading.Lock()

    def _key(self, labels: dict[str, Any]) -> LabelKey:
        if set(labels) != set(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}, got {tuple(labels)}")
        return tuple(str(labels[n]) for n in self.label_names)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def render(self) -> list[str]:
        return self.header() + self.samples()


class Counter(_Metric):
    """Monotonic count. ``rate()`` gives per-second increase over a sliding window."""

    kind = "counter"

    def __init__(self, name: str, help: str, labels: Sequence[str] = (), rate_window_s: float = 10.0) -> None:
        super().__init__(name, help, labels)
        self._values: dict[LabelKey, float] = {}
        self._history: dict[LabelKey, deque[tuple[float, float]]] = {}
        self.rate_window_s = rate_window_s

    def inc(self, amount: float = 1.0, **labels: Any) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        key = self._key(labels)
        now = time.monotonic()
        with self._lock:
            before = self._values.get(key, 0.0)
            self._values[key] = before + amount
            self._remember(key, now, before)

    def _remember(self, key: LabelKey, now: float, value_before: float) -> None:
        """Keep ~1 sample per second of the value *before* an increment, for :meth:`rate`."""
        hist = self._history.setdefault(key, deque())
        if not hist or now - hist[-1][0] >= 1.0:
            hist.append((now, value_before))
        while len(hist) > 1 and now - hist[1][0] > self.rate_window_s:
            hist.popleft()

    def value(self, **labels: Any) -> float:
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def items(self) -> list[tuple[LabelKey, float]]:
        with self._lock:
            return sorted(self._values.items())

    def rate(self, key: LabelKey) -> float:
        """Per-second increase over about the last ``rate_window_s`` seconds (-> 0 when idle)."""
        now = time.monotonic()
        with self._lock:
            hist = self._history.get(key)
            if not hist:
                return 0.0
            start_t, start_v = hist[0]
            value = self._values.get(key, 0.0)
        elapsed = max(now - start_t, 1.0)
        return max(value - start_v, 0.0) / elapsed

    def samples(self) -> list[str]:
        return [f"{self.name}{_labels(self.label_names, k)} {format_value(v)}" for k, v in self.items()]


class Gauge(_Metric):
    """A value that goes up and down (last set wins)."""

    kind = "gauge"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help, labels)
        self._values: dict[LabelKey, float] = {}

    def set(self, value: float, **labels: Any) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)

    def inc(self, amount: float = 1.0, **labels: Any) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def remove(self, **labels: Any) -> None:
        with self._lock:
            self._values.pop(self._key(labels), None)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def value(self, **labels: Any) -> float | None:
        with self._lock:
            return self._values.get(self._key(labels))

    def items(self) -> list[tuple[LabelKey, float]]:
        with self._lock:
            return sorted(self._values.items())

    def samples(self) -> list[str]:
        return [f"{self.name}{_labels(self.label_names, k)} {format_value(v)}" for k, v in self.items()]


class Histogram(_Metric):
    """Cumulative buckets (``le``), ``_sum`` and ``_count`` per label set."""

    kind = "histogram"

    def __init__(self, name: str, help: str, labels: Sequence[str] = (),
                 buckets: Iterable[float] = DEFAULT_BUCKETS) -> None:
        super().__init__(name, help, labels)
        self.buckets = tuple(sorted(float(b) for b in buckets))
        self._counts: dict[LabelKey, list[int]] = {}
        self._sums: dict[LabelKey, float] = {}

    def observe(self, value: float, **labels: Any) -> None:
        key = self._key(labels)
        with self._lock:
            counts = self._counts.setdefault(key, [0] * (len(self.buckets) + 1))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[i] += 1
                    break
            else:
                counts[-1] += 1
            self._sums[key] = self._sums.get(key, 0.0) + value

    def count(self, **labels: Any) -> int:
        with self._lock:
            return sum(self._counts.get(self._key(labels), []))

    def samples(self) -> list[str]:
        out: list[str] = []
        with self._lock:
            items = sorted((k, list(c), self._sums[k]) for k, c in self._counts.items())
        for key, counts, total in items:
            running = 0
            for bound, c in zip((*self.buckets, math.inf), counts):
                running += c
                le = f'le="{format_value(bound)}"'
                out.append(f"{self.name}_bucket{_labels(self.label_names, key, le)} {running}")
            out.append(f"{self.name}_sum{_labels(self.label_names, key)} {format_value(total)}")
            out.append(f"{self.name}_count{_labels(self.label_names, key)} {running}")
        return out


class Registry:
    """Named metrics of one process, rendered together."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        self._collectors: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def add_collector(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` before every render (to refresh derived gauges)."""
        with self._lock:
            self._collectors.append(fn)

    def register(self, metric: _Metric) -> Any:
        with self._lock:
            existing = self._metrics.get(metric.name)
            if existing is not None:
                if type(existing) is not type(metric) or existing.label_names != metric.label_names:
                    raise ValueError(f"metric {metric.name} already registered differently")
                return existing
            self._metrics[metric.name] = metric
            return metric

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Counter:
        return self.register(Counter(name, help, labels))

    def gauge(self, name: str, help: str, labels: Sequence[str] = ()) -> Gauge:
        return self.register(Gauge(name, help, labels))

    def histogram(self, name: str, help: str, labels: Sequence[str] = (),
                  buckets: Iterable[float] = DEFAULT_BUCKETS) -> Histogram:
        return self.register(Histogram(name, help, labels, buckets))

    def get(self, name: str) -> _Metric | None:
        return self._metrics.get(name)

    def metrics(self) -> list[_Metric]:
        with self._lock:
            return list(self._metrics.values())

    def render(self) -> str:
        """Prometheus text exposition (format 0.0.4) of every registered metric."""
        for fn in list(self._collectors):
            fn()
        lines: list[str] = []
        for metric in self.metrics():
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"


REGISTRY = Registry()

# ----------------------------------------------------------------- ocrstream's metrics

CONSUMER_LAG = REGISTRY.gauge(
    "ocrstream_consumer_lag_messages",
    "Messages not yet consumed: fetch high watermark minus the consumer position, per partition.",
    ("group", "topic", "partition"),
)
CONSUMER_HIGH_WATERMARK = REGISTRY.gauge(
    "ocrstream_consumer_high_watermark_offset",
    "High watermark offset returned with the last fetch (log end offset), per partition.",
    ("group", "topic", "partition"),
)
CONSUMER_POSITION = REGISTRY.gauge(
    "ocrstream_consumer_position_offset",
    "Offset of the next record the consumer will read, per partition.",
    ("group", "topic", "partition"),
)
EVENTS = REGISTRY.counter(
    "ocrstream_events_total",
    "Records handled by a pipeline stage (published, fetched, classified, ocr, windowed, sunk).",
    ("stage",),
)
EVENTS_PER_SECOND = REGISTRY.gauge(
    "ocrstream_events_per_second",
    "Records per second per stage over the last ~10 s (derived from ocrstream_events_total).",
    ("stage",),
)
OCR_SECONDS = REGISTRY.histogram(
    "ocrstream_ocr_seconds",
    "Wall-clock seconds of the OCR step for one document, per engine.",
    ("engine",),
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0),
)
DEAD_LETTERS = REGISTRY.counter(
    "ocrstream_dead_letters_total",
    "Records sent to the dead-letter topic by this process, per stage and error class.",
    ("stage", "error_class"),
)
DEAD_LETTER_WRITE_FAILURES = REGISTRY.counter(
    "ocrstream_dead_letter_write_failures_total",
    "Dead letters the broker refused even in minimal form (reported and dropped; the stage moved on).",
    ("stage",),
)
LATE_EVENTS = REGISTRY.counter(
    "ocrstream_late_events_total",
    "Events that arrived after their minute window closed (seen by this process).",
)
WINDOW_CLOSE_DELAY = REGISTRY.histogram(
    "ocrstream_window_close_delay_seconds",
    "Wall-clock seconds from a window's end to the emission of its final row, per granularity.",
    ("granularity",),
    buckets=(1, 2.5, 5, 10, 15, 20, 30, 60, 120, 300, 900, 3600),
)


def _refresh_rates() -> None:
    for key, _ in EVENTS.items():
        EVENTS_PER_SECOND.set(EVENTS.rate(key), stage=key[0])


REGISTRY.add_collector(_refresh_rates)


def record_consumer_lag(group: str, topic: str, partition: int, high_watermark: int, position: int) -> None:
    """Set lag gauges for one partition from a fetch's high watermark and the consumer position.

    Use the high watermark that comes back with fetched records (confluent-kafka:
    ``consumer.get_watermark_offsets(tp, cached=True)``), not a ListOffsets call
    (wrong on the local Tansu broker). A negative position (no offset yet) counts
    the whole log as lag.
    """
    labels = {"group": group, "topic": topic, "partition": str(partition)}
    position = max(position, 0)
    CONSUMER_HIGH_WATERMARK.set(high_watermark, **labels)
    CONSUMER_POSITION.set(position, **labels)
    CONSUMER_LAG.set(max(high_watermark - position, 0), **labels)


def update_lag_from_consumer(consumer: Any, group: str) -> None:
    """Refresh lag gauges for every partition assigned to a confluent-kafka ``Consumer``.

    Cheap (no broker round trip): uses cached watermarks and local positions.
    Partitions with no fetch yet are skipped.
    """
    try:
        assigned = consumer.assignment()
        positions = consumer.position(assigned) if assigned else []
    except Exception:  # consumer closed or not yet joined
        return
    for tp in positions:
        try:
            _low, high = consumer.get_watermark_offsets(tp, cached=True)
        except Exception:
            continue
        if high is None or high < 0:
            continue
        record_consumer_lag(group, tp.topic, tp.partition, high, tp.offset)


def forget_partition(group: str, topic: str, partition: int) -> None:
    """Drop a revoked partition's lag gauges (another replica reports it now)."""
    labels = {"group": group, "topic": topic, "partition": str(partition)}
    for gauge in (CONSUMER_LAG, CONSUMER_HIGH_WATERMARK, CONSUMER_POSITION):
        gauge.remove(**labels)


def serve_metrics(port: int, host: str = "0.0.0.0") -> Any:
    """Serve ``GET /metrics`` (this registry) and ``GET /healthz`` from a daemon thread; returns the server.

    For processes without the API (``ocrstream worker`` replicas in production),
    so Prometheus - and KEDA's Prometheus scaler - can scrape their consumer lag.
    ``/healthz`` is :func:`ocrstream.health.REGISTRY.report` as JSON: 200 when
    every stage of the process is ok, else 503.
    ``port=0`` picks a free port (``server.server_address[1]``).
    """
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from ocrstream import health

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            path = self.path.split("?", 1)[0]
            status, ctype = 200, "text/plain; version=0.0.4; charset=utf-8"
            if path == "/healthz":
                report = health.REGISTRY.report()
                body = json.dumps(report, default=str).encode()
                status, ctype = (200 if report["ok"] else 503), "application/json"
            elif path == "/metrics":
                body = REGISTRY.render().encode()
            else:
                self.send_error(404)
                return
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            return

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="ocrstream-metrics", daemon=True).start()
    return server
