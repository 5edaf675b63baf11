"""``ocrstream worker`` (Faust OCR agents) and ``ocrstream sink`` (windows -> ClickHouse)."""

from __future__ import annotations

import json
import logging
import signal
import threading
from typing import Optional

import typer

log = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.command("sink")(sink)


def worker(
    concurrency: Optional[int] = typer.Option(None, help="Documents in flight per agent (default: OCR pool size)."),
    ocr_workers: Optional[int] = typer.Option(None, help="Processes in the OCR pool."),
    loglevel: str = typer.Option("info", help="Faust worker log level."),
) -> None:
    """Run a Faust OCR worker: documents/video-frames -> fetch -> classify -> OCR -> ocr-results.

    Start several (any host) with the same settings: they share partitions as one
    consumer group. Permanent failures go to the DLQ topic; transient ones retry.
    """
    from ocrstream.cli import fail, state
    from ocrstream.topics import ensure_topics
    from streams.app import create_app

    settings = state.settings.with_overrides(**{
        "stream.agent_concurrency": concurrency, "stream.ocr_workers": ocr_workers})
    try:
        ensure_topics(settings)
    except Exception as exc:  # noqa: BLE001
        fail(f"cannot reach Kafka at {settings.kafka.bootstrap}: {exc}")
        return
    faust_app = create_app(settings)
    faust_app.Worker(loglevel=loglevel, quiet=True).execute_from_commandline()


def sink(
    group: Optional[str] = typer.Option(None, help="Consumer group (default stream.sink_group)."),
    instances: int = typer.Option(1, min=1, help="Sink instances (threads) in this process, one group."),
    idle_exit: Optional[float] = typer.Option(None, help="Exit after this many seconds without input."),
    max_runtime: Optional[float] = typer.Option(None, help="Exit after this many seconds."),
) -> None:
    """Run the aggregation sink: ocr-results -> event-time windows -> ClickHouse (exactly-once effect).

    Embedded chDB: one process owns the data directory (run one sink process;
    ``--instances`` splits partitions over threads). ClickHouse server: run it N times.
    """
    from ocrstream.cli import console, fail, state
    from ocrstream.clickhouse import ClickHouseUnavailable, connect
    from ocrstream.topics import ensure_topics
    from streams.sink import AggregationSink

    settings = state.settings
    try:
        ensure_topics(settings)
        client = connect(settings)
    except ClickHouseUnavailable as exc:
        fail(str(exc))
        return
    except Exception as exc:  # noqa: BLE001
        fail(f"cannot reach Kafka at {settings.kafka.bootstrap}: {exc}")
        return
    sinks = [AggregationSink(settings, group=group, client=client, name=f"sink-{i}") for i in range(instances)]

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping after a final flush + checkpoint", signum)
        for s in sinks:
            s.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    results: dict[str, dict] = {}

    def run_one(s: AggregationSink) -> None:
        results[s.name] = s.run(idle_exit_s=idle_exit, max_runtime_s=max_runtime).as_dict()

    threads = [threading.Thread(target=run_one, args=(s,), name=s.name) for s in sinks[1:]]
    for t in threads:
        t.start()
    run_one(sinks[0])
    for t in threads:
        while t.is_alive():
            t.join(0.5)
    console.print(json.dumps(results))
