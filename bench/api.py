"""Load bench of the live query API (``GET /api/aggregates``).

    .venv/bin/python bench/api.py [--clients 50] [--duration 30] [--mode dashboard|random]
                                  [--cache-ttl 1.0] [--baseline-duration 10]

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

Latency is measured per request from send to last body byte. A response that
is not 200 with a complete body, or a connection error, counts as an error.
The last line is ``RESULT p50_ms=X p99_ms=Y errors=N requests=M``.
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

    from ocrstream.api import create_app
    from ocrstream.clickhouse import connect, migrate
    from ocrstream.settings import Settings

    settings = Settings().with_overrides(**{
        "state_dir": args.state_dir, "clickhouse.dsn": f"chdb://{Path(args.state_dir).resolve() / 'ch'}",
        "api.cache_ttl_s": args.cache_ttl, "api.max_range_days": 8,
    })
    client = connect(settings)
    migrate(client)
    t0 = time.perf_counter()
    rows = seed(client)
    print(f"seeded {rows} window rows in {time.perf_counter() - t0:.1f} s", flush=True)
    app = create_app(settings, client)
    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    print("READY", flush=True)
    server.run()


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
    parser.add_argument("_role", nargs="?", default="bench", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._role == "_serve":
        serve_child(args)
        return

    tmp = tempfile.TemporaryDirectory(prefix="ocrstream-bench-api-")
    state_dir = args.state_dir or tmp.name
    port = free_port()
    cmd = [sys.executable, __file__, "_serve", "--state-dir", state_dir, "--port", str(port),
           "--cache-ttl", str(args.cache_ttl)]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert child.stdout is not None
        for line in child.stdout:
            print(f"[server] {line.rstrip()}")
            if line.startswith("READY"):
                break
        else:
            raise SystemExit(f"server exited with {child.wait()}")
        time.sleep(0.5)
        print(f"clients={args.clients} mode={args.mode} cache_ttl_s={args.cache_ttl} cpus={os.cpu_count()}")
        try:
            load = os.getloadavg()[0]
        except OSError:
            load = float("nan")
        print(f"load average before the run: {load:.2f} (other work on the machine skews latencies)")
        base = measured(port, child.pid, args.clients, args.baseline_duration, lambda r: "/healthz", 1)
        print("baseline  /healthz       " + json.dumps({k: round(v, 2) for k, v in base.items()}))
        if args.warmup > 0:
            warm = measured(port, child.pid, args.clients, args.warmup, lambda r: aggregate_path(r, args.mode), 3)
            print(f"warm-up   /api/aggregates {warm['requests']} requests, p99 {warm['p99_ms']:.0f} ms (not counted)")
        main_ = measured(port, child.pid, args.clients, args.duration, lambda r: aggregate_path(r, args.mode), 2)
        print("main      /api/aggregates " + json.dumps({k: round(v, 2) for k, v in main_.items()}))
        print(f"ratio aggregates/healthz: p50 x{main_['p50_ms'] / base['p50_ms']:.2f}, "
              f"p99 x{main_['p99_ms'] / base['p99_ms']:.2f}, throughput x{main_['rps'] / base['rps']:.2f}")
        print(f"RESULT p50_ms={main_['p50_ms']:.1f} p99_ms={main_['p99_ms']:.1f} "
              f"errors={main_['errors']} requests={main_['requests']}")
    finally:
        child.terminate()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
        tmp.cleanup()


if __name__ == "__main__":
    main()
