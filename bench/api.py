"""Load bench of the live query API (``GET /api/aggregates``).

    .venv/bin/python bench/api.py [--clients 50] [--duration 30] [--mode dashboard|random]
                                  [--cache-ttl 1.0] [--baseline-duration 10] [--ingest-rate 2000]

What it does:

1. A child process (this file, ``_serve``) opens a fresh chDB under a tmp dir,
   applies the migrations, inserts one week of minute windows for 10
   businesses (10 x 7 x 1440 = 100,800 rows, via clickhouse-connect), and runs
   ``create_app`` under uvicorn - the same process layout as ``ocrstream
   serve`` in embedded mode (chDB is owned by the serving process).
2. This process runs ``--clients`` closed-loop clients (each sends its next
   request when the previous answer arrived) over keep-alive HTTP/1.1
   connections (a minimal asyncio client, so the load generator stays cheap
   on a small machine):
   * baseline phase: ``GET /healthz`` (one ``SELECT 1`` round trip) for
     ``--baseline-duration`` seconds;
   * warm-up: ``--warmup`` seconds of the main load, not counted (first
     requests of each distinct query are cache misses);
   * main phase: ``GET /api/aggregates`` for ``--duration`` seconds.

Request mix (``--mode``):
* ``dashboard`` (default): what dashboards ask: 1 business (70 %), 2 (20 %) or
  3 (10 %) of the 10, minute granularity, ranges ending at the data's "now":
  last 1 h, last 6 h, last 24 h, or yesterday+today (the dashboard default).
  Identical queries share results for ``--cache-ttl`` seconds (the API's
  single-flight cache, ``ApiSettings.cache_ttl_s``).
* ``random``: 1 business, a random start minute in the week and a random
  1-24 h span: nearly every request is a cache miss (worst case).

Ingestion (``--ingest-rate N``, default 2000 events/s; ``0`` disables it): the
bench starts an ephemeral local stack (Tansu in memory + SeaweedFS, free ports,
under the tmp state dir), and the server child also runs an
``AggregationSink(settings, client=<the API's client>)`` in a thread (as
``ocrstream demo`` does: one process owns chDB, serves the API and sinks).
From the start of the warm-up to the end of the main phase this process
publishes synthetic ``OcrResult`` events (``synth.events``) at N events/s
into the SAME 10 businesses the load queries, with event times spread over
the last hour of the benchmark week (the "live edge" every dashboard range
ends at), so the queried minute windows change during the measurement (the
sink's rows replace the seeded rows of those minutes: ``FINAL``, newest
version wins). The bench reports how many documents the sink wrote during the
measured window (``count()`` of ``documents`` before/after, read through a
bench-only endpoint of the server child) and the sink's stats.

Latency is measured per request from send to last body byte. A response that
is not 200 with a complete body, or a connection error, counts as an error.
The last line is ``RESULT p50_ms=X p99_ms=Y errors=N requests=M ingested=K ingest_rate=R``
(``ingested``: documents the sink wrote during the measured phase).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

BUSINESSES = [f"bench-biz-{i:02d}" for i in range(10)]
WEEK_MINUTES = 7 * 1440
# The data's "now": end of the benchmark week (data covers [DATA_START, DATA_END)).
DATA_END = datetime(2026, 1, 8, tzinfo=UTC)
DATA_START = DATA_END - timedelta(days=7)


# ---------------------------------------------------------------- server child


def seed(client: object) -> int:
    """Insert one week of minute windows for the 10 businesses (idempotent)."""
    import numpy as np

    existing = client.query("SELECT count() FROM windows").result_rows[0][0]  # type: ignore[attr-defined]
    if existing:
        return int(existing)
    rng = np.random.default_rng(7)
    cols = ["business_id", "granularity", "window_start", "window_end", "document_count", "total_amount",
            "avg_score", "avg_ocr_score", "median_score", "median_ocr_score", "ocr_seconds_p50",
            "ocr_seconds_p95", "type_counts", "late_events", "min_event_time", "max_event_time", "is_final",
            "emitted_at", "version"]
    for b in BUSINESSES:
        rows = []
        counts = rng.poisson(20, WEEK_MINUTES)
        for m in range(WEEK_MINUTES):
            ws = DATA_START + timedelta(minutes=m)
            we = ws + timedelta(minutes=1)
            n = int(counts[m])
            rows.append([b, "minute", ws, we, n, float(n * 42.5), 0.9, 0.85, 0.91, 0.86, 0.3, 0.9,
                         {"receipt": n // 2, "invoice": n - n // 2}, int(m % 97 == 0), ws, we, 1,
                         we + timedelta(seconds=15), 1])
        client.insert("windows", rows, column_names=cols)  # type: ignore[attr-defined]
    return len(BUSINESSES) * WEEK_MINUTES


def serve_child(args: argparse.Namespace) -> None:
    import uvicorn

    from serving import create_app
    from ocrstream.clickhouse import connect, migrate
    from ocrstream.settings import Settings

    overrides: dict[str, object] = {
        "state_dir": args.state_dir, "clickhouse.dsn": f"chdb://{Path(args.state_dir).resolve() / 'ch'}",
        "api.cache_ttl_s": args.cache_ttl, "api.max_range_days": 8,
    }
    if args.bootstrap:
        overrides.update({"kafka.bootstrap": args.bootstrap, "s3.endpoint": args.s3_endpoint})
    settings = Settings().with_overrides(**overrides)
    client = connect(settings)
    migrate(client)
    t0 = time.perf_counter()
    rows = seed(client)
    print(f"seeded {rows} window rows in {time.perf_counter() - t0:.1f} s", flush=True)
    app = create_app(settings, client)
    sink = sink_thread = None
    if args.bootstrap:
        from streams.checkpoint import CLICKHOUSE_LOCK
        from streams.sink import AggregationSink

        # Same process, same client as the API (the process owns chDB), like ``ocrstream demo``.
        sink = AggregationSink(settings, client=client, name="bench-sink")
        sink_thread = threading.Thread(target=sink.run, name="sink", daemon=True)
        sink_thread.start()

        def ingest_stats() -> dict[str, object]:
            """Bench-only: documents in ClickHouse and the sink's counters."""
            with CLICKHOUSE_LOCK:
                docs = client.query("SELECT count() FROM documents").result_rows[0][0]
            return {"documents": int(docs), "sink": sink.stats.as_dict(),
                    "sink_alive": sink_thread.is_alive()}

        app.add_api_route("/_bench/ingest", ingest_stats, methods=["GET"])
    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    if sink is None:
        print("READY", flush=True)
        server.run()
        return
    # uvicorn re-raises SIGTERM after its graceful shutdown (the process dies before the sink
    # is stopped): serve from a thread (no signal handlers there) and handle SIGTERM here.
    import signal

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    server_thread = threading.Thread(target=server.run, name="api", daemon=True)
    server_thread.start()
    while not server.started and server_thread.is_alive():
        time.sleep(0.05)
    print("READY", flush=True)
    try:
        while not stop.is_set() and server_thread.is_alive():
            stop.wait(0.5)
    finally:
        server.should_exit = True
        server_thread.join(timeout=15)
        if sink is not None and sink_thread is not None:
            sink.stop()
            sink_thread.join(timeout=30)
            print(f"sink stopped: {sink.stats.as_dict()}", flush=True)
        from ocrstream.clickhouse import close_all

        close_all()


# ---------------------------------------------------------------- load generator


class Conn:
    """One keep-alive HTTP/1.1 connection; GET only, Content-Length bodies."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, int]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        code = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            if line.lower().startswith("content-length:"):
                length = int(line.split(":", 1)[1])
        body = await self.reader.readexactly(length)
        return code, len(body)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def ms(dt_: datetime) -> int:
    return int(dt_.timestamp() * 1000)


def aggregate_path(rnd: random.Random, mode: str) -> str:
    if mode == "random":
        ids = [rnd.choice(BUSINESSES)]
        start = DATA_START + timedelta(minutes=rnd.randrange(WEEK_MINUTES - 60))
        end = min(start + timedelta(minutes=rnd.randrange(60, 24 * 60)), DATA_END)
    else:
        k = 1 if rnd.random() < 0.7 else (2 if rnd.random() < 0.67 else 3)
        ids = rnd.sample(BUSINESSES, k)
        end = DATA_END
        start = end - rnd.choice([timedelta(hours=1), timedelta(hours=6), timedelta(hours=24), timedelta(days=2)])
    query = [("business_id", b) for b in ids] + [("start", ms(start)), ("end", ms(end)), ("granularity", "minute")]
    return "/api/aggregates?" + urlencode(query)


async def run_phase(port: int, clients: int, duration: float, make_path, seed_: int) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + duration
    bytes_total = 0
    timeline: list[tuple[float, float]] = []
    t_start = time.perf_counter()

    async def client(i: int) -> None:
        nonlocal errors, bytes_total
        rnd = random.Random(seed_ * 1000 + i)
        conn = Conn(port)
        while time.perf_counter() < stop_at:
            path = make_path(rnd)
            t0 = time.perf_counter()
            try:
                code, size = await conn.get(path)
                if code != 200:
                    errors += 1
                else:
                    latencies.append(time.perf_counter() - t0)
                    timeline.append((t0 - t_start, latencies[-1]))
                    bytes_total += size
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                conn.close()
        conn.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    elapsed = time.perf_counter() - t_start
    latencies.sort()
    if os.environ.get("BENCH_TIMELINE"):
        per_s: dict[int, float] = {}
        for t, lat in timeline:
            per_s[int(t)] = max(per_s.get(int(t), 0.0), lat * 1000)
        print("max latency per second (ms):", " ".join(f"{v:.0f}" for _, v in sorted(per_s.items())))

    def pct(p: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "requests": len(latencies) + errors, "ok": len(latencies), "errors": errors,
        "rps": len(latencies) / elapsed, "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000 if latencies else float("nan"),
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else float("nan"),
        "mb_per_s": bytes_total / elapsed / 1e6,
    }


def cpu_seconds(pid: int | None = None) -> float:
    """User+system CPU seconds of a process (this one when ``pid`` is None)."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(port: int, child_pid: int, clients: int, duration: float, make_path, seed_: int) -> dict[str, float]:
    """Run a phase; add server and load-generator CPU use (cores busy on average)."""
    s0, c0, t0 = cpu_seconds(child_pid), cpu_seconds(), time.perf_counter()
    result = asyncio.run(run_phase(port, clients, duration, make_path, seed_))
    wall = time.perf_counter() - t0
    result["server_cpu_cores"] = (cpu_seconds(child_pid) - s0) / wall
    result["client_cpu_cores"] = (cpu_seconds() - c0) / wall
    return result


def http_get_json(port: int, path: str) -> dict:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
        return json.loads(r.read())


class Ingest:
    """Publishes synthetic OcrResults at ``rate``/s in a thread (synth.events, producers.events, paced)."""

    def __init__(self, settings: object, rate: float, seconds: float) -> None:
        from synth.events import generate_events

        self.settings = settings
        self.rate = rate
        self.count = int(rate * seconds)
        # Event times: the last hour of the benchmark week (where every dashboard range ends),
        # spread evenly over it, in the businesses the load queries.
        end_ms = ms(DATA_END)
        self.events = generate_events(BUSINESSES, rate=self.count / 3600, duration_s=3600,
                                      start_ms=end_ms - 3_600_000, seed=11)
        self.stats = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="ingest", daemon=True)

    def _run(self) -> None:
        from producers.events import publish_events

        try:
            self.stats = publish_events(self.settings, self.events, pace_rate=self.rate)  # type: ignore[arg-type]
        except BaseException as exc:  # reported by the caller
            self.error = exc

    def start(self) -> "Ingest":
        self.thread.start()
        return self


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of /api/aggregates load")
    parser.add_argument("--baseline-duration", type=float, default=10.0, help="seconds of /healthz load first")
    parser.add_argument("--warmup", type=float, default=3.0,
                        help="seconds of /api/aggregates load before measuring (fills the cache; not counted)")
    parser.add_argument("--mode", choices=["dashboard", "random"], default="dashboard")
    parser.add_argument("--cache-ttl", type=float, default=1.0, help="API cache TTL in seconds (0 = off)")
    parser.add_argument("--state-dir", default=None, help="keep the chDB here (default: a tmp dir)")
    parser.add_argument("--ingest-rate", type=float, default=2000.0,
                        help="synthetic OcrResult events/s published and sunk during warm-up + main phase "
                             "(0 = no ingestion, no stack)")
    parser.add_argument("_role", nargs="?", default="bench", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", default="", help=argparse.SUPPRESS)
    parser.add_argument("--s3-endpoint", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._role == "_serve":
        serve_child(args)
        return

    tmp = tempfile.TemporaryDirectory(prefix="ocrstream-bench-api-")
    state_dir = args.state_dir or tmp.name
    port = free_port()
    cmd = [sys.executable, __file__, "_serve", "--state-dir", state_dir, "--port", str(port),
           "--cache-ttl", str(args.cache_ttl)]
    stack = None
    stack_settings = None
    child: subprocess.Popen[str] | None = None
    relay: threading.Thread | None = None
    result_line = ""
    ingest: Ingest | None = None
    try:
        if args.ingest_rate > 0:
            from ocrstream.stack import LocalStack
            from tests.support.backends import local_settings

            stack_settings = local_settings(Path(state_dir),
                                            clickhouse_dsn=f"chdb://{Path(state_dir).resolve() / 'ch'}")
            stack = LocalStack(stack_settings)
            t0 = time.perf_counter()
            stack.up(ephemeral=True)  # migrations run in a child process: chDB stays free for the server
            print(f"[stack] Tansu (memory) on {stack_settings.kafka.bootstrap}, SeaweedFS on "
                  f"{stack_settings.s3.endpoint}, up in {time.perf_counter() - t0:.1f} s")
            cmd += ["--bootstrap", stack_settings.kafka.bootstrap, "--s3-endpoint", stack_settings.s3.endpoint]
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                                 env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert child.stdout is not None
        for line in child.stdout:
            print(f"[server] {line.rstrip()}")
            if line.startswith("READY"):
                break
        else:
            raise SystemExit(f"server exited with {child.wait()}")
        # the rest of the child's output (sink shutdown stats) goes straight through
        relay = threading.Thread(target=lambda: [print(f"[server] {ln.rstrip()}", flush=True)
                                                 for ln in child.stdout], daemon=True)  # type: ignore[union-attr]
        relay.start()
        time.sleep(0.5)
        if stack_settings is not None:
            deadline = time.monotonic() + 60
            while not http_get_json(port, "/_bench/ingest")["sink"]["assigned"]:
                if time.monotonic() > deadline:
                    raise SystemExit("the sink got no partitions within 60 s")
                time.sleep(0.2)
        print(f"clients={args.clients} mode={args.mode} cache_ttl_s={args.cache_ttl} cpus={os.cpu_count()} "
              f"ingest_rate={args.ingest_rate:g}/s")
        try:
            load = os.getloadavg()[0]
        except OSError:
            load = float("nan")
        print(f"load average before the run: {load:.2f} (other work on the machine skews latencies)")
        base = measured(port, child.pid, args.clients, args.baseline_duration, lambda r: "/healthz", 1)
        print("baseline  /healthz       " + json.dumps({k: round(v, 2) for k, v in base.items()}))
        if stack_settings is not None:
            # publish from the warm-up to the end of the main phase (+1 s margin)
            ingest = Ingest(stack_settings, args.ingest_rate, args.warmup + args.duration + 1.0).start()
        if args.warmup > 0:
            warm = measured(port, child.pid, args.clients, args.warmup, lambda r: aggregate_path(r, args.mode), 3)
            print(f"warm-up   /api/aggregates {warm['requests']} requests, p99 {warm['p99_ms']:.0f} ms (not counted)")
        before = http_get_json(port, "/_bench/ingest") if ingest is not None else None
        t_main = time.perf_counter()
        main_ = measured(port, child.pid, args.clients, args.duration, lambda r: aggregate_path(r, args.mode), 2)
        t_main = time.perf_counter() - t_main
        after = http_get_json(port, "/_bench/ingest") if ingest is not None else None
        print("main      /api/aggregates " + json.dumps({k: round(v, 2) for k, v in main_.items()}))
        print(f"ratio aggregates/healthz: p50 x{main_['p50_ms'] / base['p50_ms']:.2f}, "
              f"p99 x{main_['p99_ms'] / base['p99_ms']:.2f}, throughput x{main_['rps'] / base['rps']:.2f}")
        extra = ""
        if ingest is not None and before is not None and after is not None:
            ingested = after["documents"] - before["documents"]
            ingest.thread.join(timeout=30)
            if ingest.error is not None:
                raise SystemExit(f"publishing failed: {ingest.error!r}")
            pub = ingest.stats
            sink = after["sink"]
            print(f"ingest    sink wrote {ingested} documents during the {t_main:.1f} s measured phase "
                  f"({ingested / t_main:.0f}/s; target {args.ingest_rate:g}/s); documents {before['documents']} -> "
                  f"{after['documents']}; published {pub.delivered if pub else '?'} of {ingest.count} "
                  f"(failed {pub.failed if pub else '?'}); sink records={sink['records']} "
                  f"window_rows={sink['window_rows']} flushes={sink['flushes']} "
                  f"dead_letters={sink['dead_letters']} sink_alive={after['sink_alive']}")
            extra = f" ingested={ingested} ingest_rate={ingested / t_main:.0f}"
        result_line = (f"RESULT p50_ms={main_['p50_ms']:.1f} p99_ms={main_['p99_ms']:.1f} "
                       f"errors={main_['errors']} requests={main_['requests']}{extra}")
    finally:
        if child is not None:
            child.terminate()  # uvicorn exits gracefully; the child then stops its sink
            try:
                child.wait(timeout=45)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            if relay is not None:
                relay.join(timeout=5)
            if child.returncode and not (child.returncode == -15 and stack is None):
                print(f"[server] exited with {child.returncode}", flush=True)
        if ingest is not None and ingest.thread.is_alive():
            ingest.thread.join(timeout=30)
        if stack is not None:
            print(f"[stack] stopped: {', '.join(stack.down()) or 'nothing running'}", flush=True)
        tmp.cleanup()
    print(result_line, flush=True)  # last line, after the teardown

if __name__ == "__main__":
    main()
