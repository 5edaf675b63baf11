"""Micro-benchmark of the window operator (streams/windows.py), no broker.

    .venv/bin/python bench/window_operator.py [--events 400000] [--businesses 50] [--batch 500]

Prints events/s through ``process_batch`` (+ periodic ``tick``), the snapshot
size/time, and memory/speed of exact vs sketched quantile state for one hour
window of ~3600+ events.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import tracemalloc

from ocrstream.records import DOC_TYPES
from ocrstream.settings import WindowSettings
from streams.aggregates import AggConfig, WindowAcc
from streams.windows import LateEvent, WindowOperator, WindowResult



def make_records(n: int, businesses: int, partitions: int, rate_per_s: float, disorder_ms: int, seed: int = 7):
    """``n`` OcrResult-like records, ``rate_per_s`` in event time, bounded disorder; per partition."""
    rnd = random.Random(seed)
    t0 = 1_767_225_600_000  # 2026-01-01
    step = 1000.0 / rate_per_s
    per_part: dict[int, list[tuple[int, dict]]] = {p: [] for p in range(partitions)}
    for i in range(n):
        b = rnd.randrange(businesses)
        et = int(t0 + i * step - rnd.random() * disorder_ms)
        rec = {
            "document_id": f"d{i}",
            "business_id": f"biz-{b:04d}",
            "event_time": et,
            "doc_type": DOC_TYPES[rnd.randrange(len(DOC_TYPES))],
            "engine": "onnx",
            "text": "",
            "fields": {"total": None if rnd.random() < 0.1 else round(rnd.uniform(1, 500), 2)},
            "score": rnd.random(),
            "ocr_score": rnd.random(),
            "timings": {"fetch_s": 0.01, "classify_s": 0.01, "ocr_s": rnd.expovariate(2.0), "extract_s": 0.001},
        }
        part = per_part[b % partitions]
        part.append((len(part), rec))
    return per_part


def bench_throughput(args: argparse.Namespace) -> dict[str, float]:
    per_part = make_records(args.events, args.businesses, args.partitions, args.rate, args.disorder)
    settings = WindowSettings()
    fake_now = [0]
    op = WindowOperator(settings, clock=lambda: fake_now[0], wall_clock=lambda: 1_767_225_600_000)
    batches = []
    for p, recs in per_part.items():
        for i in range(0, len(recs), args.batch):
            batches.append((p, recs[i : i + args.batch]))
    # interleave partitions batch by batch (like a consumer)
    batches.sort(key=lambda pb: pb[1][0][0])
    finals = currents = late = 0
    t = time.perf_counter()
    cpu = time.process_time()
    for p, batch in batches:
        fake_now[0] += 10  # 10 ms of processing time per batch
        for e in op.process_batch(p, batch):
            if isinstance(e, LateEvent):
                late += 1
            elif e.row["is_final"]:
                finals += 1
            else:
                currents += 1
        for e in op.tick():
            if isinstance(e, WindowResult):
                currents += 1
    dt = time.perf_counter() - t
    dt_cpu = time.process_time() - cpu
    n = sum(len(r) for r in per_part.values())
    print(
        f"throughput: {n} events in {dt:.2f} s wall / {dt_cpu:.2f} s CPU = {n / dt:,.0f} events/s wall, "
        f"{n / dt_cpu:,.0f} events/s per CPU second "
        f"(businesses={args.businesses}, partitions={args.partitions}, batch={args.batch}, "
        f"rate={args.rate}/s event time, disorder<={args.disorder} ms); "
        f"rows: {finals} final, {currents} current; late {late}; open windows {op.open_windows()}"
    )
    t = time.perf_counter()
    snap = op.snapshot()
    text = json.dumps(snap, separators=(",", ":"))
    dt_snap = time.perf_counter() - t
    t = time.perf_counter()
    op2 = WindowOperator(settings, clock=lambda: fake_now[0])
    op2.restore(json.loads(text))
    dt_rest = time.perf_counter() - t
    print(
        f"snapshot: {len(text) / 1e6:.2f} MB JSON for {op.open_windows()} open windows, "
        f"snapshot+dumps {dt_snap * 1e3:.1f} ms, loads+restore {dt_rest * 1e3:.1f} ms"
    )
    return {"events_per_s": round(n / dt), "events_per_cpu_s": round(n / dt_cpu),
            "snapshot_ms": round(dt_snap * 1e3, 1), "restore_ms": round(dt_rest * 1e3, 1)}


def bench_hour_window(n: int) -> None:
    rnd = random.Random(3)
    vals = [(rnd.random(), rnd.random(), rnd.expovariate(2.0)) for _ in range(n)]
    for label, limit in (("exact", 10**9), ("ddsketch", 0)):
        cfg = AggConfig(exact_limit=limit)
        tracemalloc.start()  # memory (the values' float objects exist already: list slots only)
        acc = WindowAcc(cfg)
        for i, (s, o, x) in enumerate(vals):
            acc.add(i, 1.0, s, o, x, "receipt")
        mem = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        acc = WindowAcc(cfg)  # speed, without tracemalloc
        t = time.process_time()
        for i, (s, o, x) in enumerate(vals):
            acc.add(i, 1.0, s, o, x, "receipt")
        dt_add = time.process_time() - t
        t = time.process_time()
        reps = 50
        for i in range(reps):  # a current emission per second with one new value each time
            acc.add(n + i, 1.0, 0.5, 0.5, 0.3, "receipt")
            acc.finalize()
        dt_q = (time.process_time() - t) / reps
        state = json.dumps(acc.state())
        print(
            f"hour window n={n} {label:8s}: add {dt_add / n * 1e6:.2f} us/event, "
            f"state memory {mem / 1024:.0f} KiB, add+finalize {dt_q * 1e6:.0f} us, snapshot {len(state) / 1024:.1f} KiB"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=400_000)
    ap.add_argument("--businesses", type=int, default=50)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--rate", type=float, default=200.0, help="events per second of event time (all businesses)")
    ap.add_argument("--disorder", type=int, default=3000, help="max out-of-orderness in ms")
    args = ap.parse_args()
    result = bench_throughput(args)
    for n in (3600, 20_000):
        bench_hour_window(n)
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
