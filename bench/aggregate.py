"""Benchmark of the aggregation path: ocr-results -> window operator -> ClickHouse sink.

    .venv/bin/python bench/aggregate.py [--events 100000] [--late-events 40000] [--faust-events 20000]
                                        [--live-rate 2000] [--live-seconds 5]

Starts an ephemeral local stack (Tansu in memory, SeaweedFS, chDB) under a temp
dir (or uses the running one with ``--use-running``), then, in one run:

1. **throughput**: publishes ``--events`` synthetic OcrResults (5 businesses,
   6 h of event time, 5 % out of order, 1 % late by 2-30 min) and times one sink
   process catching up (decode, validation, dedupe, window operator, documents +
   windows inserts, checkpoints): events/s from the first record handled to the
   checkpoint that covers the last one; also process CPU seconds per event;
2. **late events + backfill**: a *new* sink (as after a restart: only ClickHouse
   knows the ids) reads ``--late-events`` more events on the same topic: half of
   them new (continuing the live range), half history from the 6 days before it
   interleaved with them (``generate --old 0.5``) — late updates recomputed from
   ClickHouse and dedupe lookups for everything below the in-memory horizon;
   events/s of that run and late events/s (late updates + too late);
3. **latency**: publishes at ``--live-rate`` events/s for ``--live-seconds`` while
   a sink runs; publish-to-visible = when the documents insert holding the record
   returned minus the record's Kafka timestamp;
4. **Faust baseline**: the first ``--faust-events`` events through a Faust agent
   updating a tumbling 60 s windowed table (count and sum of ``total``,
   ``relative_to_field(event_time)``); its events/s.

Last line: ``RESULT events_per_s=X p50_visible_ms=Y p99_visible_ms=Z
ratio_vs_faust_windows=R late_events_per_s=L mixed_events_per_s=M cpu_us_per_event=C``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ocrstream.settings import Settings  # noqa: E402

log = logging.getLogger("bench")

START_MS = 1_767_225_600_000  # 2026-01-01
HOURS = 6.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def make_settings(base: Settings, tag: str) -> Settings:
    return base.with_overrides(**{
        "kafka.topic_prefix": f"bench{tag}.",
        "clickhouse.database": f"bench_{tag}",
        "sink.group": f"bench-sink-{tag}",
        "sink.batch_rows": 20_000,
        "sink.poll_batch": 20_000,
        "sink.flush_interval_ms": 500,
        "windows.emit_interval_ms": 1_000,
        "windows.idle_timeout_ms": 2_000,
    })


def events(n: int, seed: int, hours: float = HOURS, start_ms: int = START_MS, old: float = 0.0):
    from synth.events import generate_events

    duration = hours * 3600
    return generate_events(5, rate=n / duration, duration_s=duration, start_ms=start_ms, seed=seed,
                           out_of_order=0.05, late=0.01, late_delay_ms=(120_000, 1_800_000), old=old)


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed_run(settings: Settings, client, n_total: int) -> tuple[float, float, dict]:
    """Run a new sink until a checkpoint covers ``n_total`` records of the topic; returns
    (events/s from its first record to that checkpoint, process CPU s per event, stats);
    ``stats["handle_cpu_s"]``: the consume thread's CPU in its batch handling (decode,
    validation, dedupe, window operator, row buffering)."""
    from streams.sink import AggregationSink

    sink = AggregationSink(settings, client=client, name="bench-sink", copy_dead_letters=False)
    first: list[float] = []
    handle = sink._handle
    handle_cpu = [0.0]

    def timed(msgs):
        if not first:
            first.append(time.monotonic())
        t0 = time.thread_time()
        handle(msgs)
        handle_cpu[0] += time.thread_time() - t0

    sink._handle = timed  # type: ignore[method-assign]
    done = threading.Event()
    end = [0.0]
    save = sink.committer.checkpoints.save

    def checkpoint(cps):
        save(cps)
        if sum(cp.offset + 1 for cp in cps) >= n_total and not done.is_set():
            end[0] = time.monotonic()
            done.set()

    sink.committer.checkpoints.save = checkpoint  # type: ignore[method-assign]
    cpu0 = cpu_s()
    th = threading.Thread(target=lambda: sink.run(max_runtime_s=900), daemon=True)
    th.start()
    done.wait(900)
    cpu = cpu_s() - cpu0
    stats = sink.stats.as_dict() | {"handle_cpu_s": round(handle_cpu[0], 3)}
    sink.stop()
    th.join(60)
    n = stats["records"] + stats["duplicates"]
    return n / max(1e-9, end[0] - first[0]), cpu / max(1, n), stats


def bench_throughput(settings: Settings, client, n: int) -> tuple[float, float, dict]:
    from producers.events import publish_events

    t = time.monotonic()
    stats = publish_events(settings, events(n, seed=1))
    log.info("published %d events in %.1fs", stats.delivered, time.monotonic() - t)
    return timed_run(settings, client, n)


def bench_late(settings: Settings, client, n_before: int, n: int) -> tuple[float, float, dict]:
    """``n`` more events on the throughput topic: half new, half history of the 6 days before."""
    from producers.events import publish_events

    end_ms = START_MS + int(HOURS * 3_600_000)
    stats = publish_events(settings, events(n, seed=3, hours=HOURS * n / max(1, n_before), start_ms=end_ms, old=0.5))
    log.info("published %d late/backfill events", stats.delivered)
    rate, cpu, sink_stats = timed_run(settings, client, n_before + n)
    late = sink_stats["late"] + sink_stats["too_late"]
    elapsed = sink_stats["records"] / rate if rate else float("inf")
    return late / elapsed, rate, sink_stats


def bench_latency(settings: Settings, client, rate: float, seconds: float) -> list[float]:
    from producers.events import publish_events
    from streams.sink import AggregationSink

    sink = AggregationSink(settings, client=client, name="latency-sink", track_latency=True,
                           copy_dead_letters=False)
    th = threading.Thread(target=lambda: sink.run(max_runtime_s=seconds + 60), daemon=True)
    th.start()
    while not sink.positions:  # wait for the group join
        time.sleep(0.1)
    time.sleep(0.5)
    n = int(rate * seconds)
    publish_events(settings, events(n, seed=2, hours=seconds / 3600 * 60), pace_rate=rate)
    deadline = time.monotonic() + 30
    while len(sink.stats.visible_latency_ms) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    sink.stop()
    th.join(60)
    return list(sink.stats.visible_latency_ms)


def bench_faust(settings: Settings, n: int, on_done) -> None:
    """Faust's own tumbling windowed table (count + sum) over the same events; events/s."""
    import faust
    from faust.serializers import codecs

    from producers.events import publish_events
    from ocrstream.codec import make_serde

    s = settings.with_overrides(**{"kafka.topic_prefix": f"{settings.kafka.topic_prefix}faust."})
    from ocrstream.topics import OCR_RESULTS, ensure_topics

    ensure_topics(s, (OCR_RESULTS,))
    publish_events(s, events(n, seed=1))
    decoder = make_serde("OcrResult")

    class OcrAvro(codecs.Codec):
        def _loads(self, data: bytes):
            r = decoder.decode(data)
            return {"business_id": r["business_id"], "event_time": r["event_time"] / 1000.0,
                    "total": (r.get("fields") or {}).get("total") or 0.0}

        def _dumps(self, obj):  # pragma: no cover - never produced
            raise NotImplementedError

    codecs.register("ocr_avro_bench", OcrAvro())

    class Ev(faust.Record, serializer="ocr_avro_bench"):
        business_id: str
        event_time: float
        total: float

    app = faust.App(f"bench-faust-{uuid.uuid4().hex[:6]}", broker=f"kafka://{s.kafka.bootstrap}",
                    store="memory://", web_enabled=False, autodiscover=False, topic_disable_leader=True,
                    broker_session_timeout=6.0, broker_heartbeat_interval=1.0,
                    consumer_auto_offset_reset="earliest", topic_partitions=s.kafka.partitions)
    topic = app.topic(s.topic(OCR_RESULTS.short_name), value_type=Ev, value_serializer="ocr_avro_bench")
    counts = app.Table("counts", default=int, partitions=s.kafka.partitions).tumbling(
        60.0, expires=7200.0).relative_to_field(Ev.event_time)
    sums = app.Table("sums", default=float, partitions=s.kafka.partitions).tumbling(
        60.0, expires=7200.0).relative_to_field(Ev.event_time)
    seen = {"n": 0, "first": 0.0, "last": 0.0}

    @app.agent(topic)
    async def agg(stream):
        async for ev in stream:
            if not seen["first"]:
                seen["first"] = time.monotonic()
            counts[ev.business_id] += 1
            sums[ev.business_id] += ev.total
            seen["n"] += 1
            seen["last"] = time.monotonic()
            if seen["n"] >= n:  # stopping Faust from inside its agent deadlocks: report and exit
                rate = seen["n"] / max(1e-9, seen["last"] - seen["first"])
                log.info("faust windowed table: %d events, %.0f/s", seen["n"], rate)
                on_done(rate)

    worker = app.Worker(loglevel="error", quiet=True, redirect_stdouts=False)
    try:  # main thread: Faust installs signal handlers; on_done() ends the process
        worker.execute_from_commandline()
    except SystemExit:
        pass
    on_done(0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--late-events", type=int, default=40_000)
    parser.add_argument("--faust-events", type=int, default=20_000)
    parser.add_argument("--live-rate", type=float, default=2_000)
    parser.add_argument("--live-seconds", type=float, default=5)
    parser.add_argument("--use-running", action="store_true", help="use the stack of the current settings")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)

    from ocrstream.clickhouse import connect
    from ocrstream.topics import ensure_topics

    stack = None
    if args.use_running:
        base = Settings()
    else:
        from tests.support.backends import local_settings
        from ocrstream.stack import LocalStack

        base = local_settings(Path(tempfile.mkdtemp(prefix="ocrstream-bench-")))
        stack = LocalStack(base)
        stack.up(ephemeral=True)
    try:
        tag = uuid.uuid4().hex[:6]
        s = make_settings(base, tag)
        ensure_topics(s)
        client = connect(s)
        rate, cpu, stats = bench_throughput(s, client, args.events)
        print(f"throughput: {rate:,.0f} events/s through one sink process ({cpu * 1e6:.1f} us of process CPU "
              f"per event, {stats['handle_cpu_s'] / max(1, stats['records']) * 1e6:.1f} us of them in the consume "
              f"thread's batch handling; {stats})")
        late_rate, mixed_rate, late_stats = bench_late(s, client, args.events, args.late_events)
        print(f"late events + backfill: {mixed_rate:,.0f} events/s, {late_rate:,.0f} late events/s "
              f"(late updates {late_stats['late']}, too late {late_stats['too_late']}, recomputed window rows "
              f"{late_stats['late_update_rows']}, dedupe lookups {late_stats['dedupe_lookups']})")
        s2 = make_settings(base, tag + "l")
        ensure_topics(s2)
        lat = bench_latency(s2, client, args.live_rate, args.live_seconds)
        p50, p99 = percentile(lat, 0.5), percentile(lat, 0.99)
        print(f"latency: {len(lat)} events at {args.live_rate:.0f}/s: publish-to-visible p50 {p50:.0f} ms, "
              f"p99 {p99:.0f} ms (mean {statistics.fmean(lat) if lat else float('nan'):.0f} ms)")

        def on_done(faust_rate: float) -> None:
            # Faust's threads keep running (and logging connection errors) while the stack
            # goes down: silence them first, so that the RESULT line is the last one
            logging.disable(logging.CRITICAL)
            if stack is not None:
                stack.down()
            ratio = rate / faust_rate if faust_rate else float("inf")
            print(f"faust tumbling windowed table (count+sum): {faust_rate:,.0f} events/s; ratio {ratio:.1f}x",
                  file=sys.__stdout__)
            print(f"RESULT events_per_s={rate:.0f} p50_visible_ms={p50:.0f} p99_visible_ms={p99:.0f} "
                  f"ratio_vs_faust_windows={ratio:.2f} late_events_per_s={late_rate:.0f} "
                  f"mixed_events_per_s={mixed_rate:.0f} cpu_us_per_event={cpu * 1e6:.1f}",
                  file=sys.__stdout__, flush=True)
            os._exit(0)

        bench_faust(s, args.faust_events, on_done)
    finally:
        if stack is not None:
            stack.down()
        os._exit(0)  # Faust leaves non-daemon threads behind


if __name__ == "__main__":
    main()
