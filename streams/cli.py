"""``ocrstream worker`` (Faust OCR agents) and ``ocrstream sink`` (windows -> ClickHouse)."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from typing import Optional

import typer

log = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.command("sink")(sink)


def worker(
    ctx: typer.Context,
    concurrency: Optional[int] = typer.Option(None, help="Documents in flight per agent (worker.agent_concurrency; default: OCR pool size)."),
    ocr_workers: Optional[int] = typer.Option(None, help="Processes in the OCR pool (worker.ocr_workers)."),
    loglevel: str = typer.Option("info", help="Faust worker log level."),
    health_port: Optional[int] = typer.Option(None, help="Serve /healthz and /metrics on this port "
                                                         "(worker.health_port; 0 = off)."),
) -> None:
    """Run a Faust OCR worker: documents/video-frames -> fetch -> classify -> OCR -> ocr-results.

    Start several (any host) with the same settings: they share partitions as one
    consumer group. Permanent failures go to the DLQ topic; transient ones retry.
    SIGTERM, SIGHUP or SIGINT stop it gracefully: documents in flight stay
    uncommitted (the next owner of the partition processes them), the OCR pool
    is terminated; after ``worker.stop_timeout_s`` it exits regardless.
    """
    from ocrstream.console import ensure_topics_or_fail, settings_of
    from streams.app import create_app

    settings = settings_of(ctx).with_overrides(**{
        "worker.agent_concurrency": concurrency, "worker.ocr_workers": ocr_workers,
        "worker.health_port": health_port})
    ensure_topics_or_fail(settings)
    faust_app = create_app(settings)
    if settings.worker.health_port:
        from ocrstream.metrics import serve_metrics

        serve_metrics(settings.worker.health_port, host=settings.worker.health_host)
    _ocr_worker_class()(faust_app, loglevel=loglevel, quiet=True,
                        stop_timeout_s=settings.worker.stop_timeout_s).execute_from_commandline()


def _ocr_worker_class() -> type:
    """faust.Worker that also stops on SIGHUP, closes the OCR pipeline and never hangs at exit."""
    import faust

    class OcrWorker(faust.Worker):  # type: ignore[misc, valid-type]
        def __init__(self, app: object, *args: object, stop_timeout_s: float = 30.0, **kwargs: object) -> None:
            super().__init__(app, *args, **kwargs)
            self._ocr_app = app
            self._stop_timeout_s = stop_timeout_s

        def _install_signal_handlers_unix(self) -> None:
            super()._install_signal_handlers_unix()
            self.loop.add_signal_handler(signal.SIGHUP, self._on_sigterm)  # terminal closed: stop like SIGTERM

        def _schedule_shutdown(self, signum: signal.Signals) -> None:
            if not self._signal_stop_time:
                timer = threading.Timer(self._stop_timeout_s, self._force_exit)
                timer.daemon = True
                timer.start()
            super()._schedule_shutdown(signum)

        def _force_exit(self) -> None:
            log.error("worker did not stop within %.0fs; exiting now (records in flight stay uncommitted)",
                      self._stop_timeout_s)
            self._close_pipeline()
            os._exit(1)

        def _close_pipeline(self) -> None:
            pipeline = getattr(self._ocr_app, "ocr_pipeline", None)
            if pipeline is not None:
                try:
                    pipeline.close()
                except Exception as exc:  # noqa: BLE001 - exiting anyway
                    log.warning("closing the OCR pipeline failed: %s", exc)

        def on_worker_shutdown(self) -> None:
            super().on_worker_shutdown()
            self._close_pipeline()

    return OcrWorker


def sink(
    ctx: typer.Context,
    group: Optional[str] = typer.Option(None, help="Consumer group (default: sink.group, OCRSTREAM_SINK__GROUP)."),
    instances: int = typer.Option(1, min=1, help="Sink instances (threads) in this process, one group."),
    idle_exit: Optional[float] = typer.Option(None, help="Exit after this many seconds without input."),
    max_runtime: Optional[float] = typer.Option(None, help="Exit after this many seconds."),
    health_port: Optional[int] = typer.Option(None, help="Serve /healthz and /metrics on this port (0 = off)."),
) -> None:
    """Run the aggregation sink: ocr-results -> event-time windows -> ClickHouse (exactly-once effect).

    Embedded chDB: one process owns the data directory (run one sink process;
    ``--instances`` splits partitions over threads). ClickHouse server: run it N times.
    """
    from ocrstream.console import console, fail, settings_of
    from ocrstream.clickhouse import ClickHouseUnavailable, connect
    from ocrstream.kafka import BrokerUnavailable, kafka_error_line, require_broker
    from ocrstream.topics import ensure_topics
    from streams.sink import AggregationSink

    settings = settings_of(ctx)
    sinks: list[AggregationSink] = []
    stop_requested = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping after a final flush + checkpoint", signum)
        stop_requested.set()
        for s in sinks:
            s.stop()

    # installed before anything is opened: a stop during start-up is graceful too
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        require_broker(settings)
        ensure_topics(settings)
        client = connect(settings)
    except (ClickHouseUnavailable, BrokerUnavailable) as exc:
        fail(str(exc))
        return
    except Exception as exc:  # noqa: BLE001
        fail(f"cannot create topics on Kafka at {settings.kafka.bootstrap}: {kafka_error_line(exc)}")
        return
    sinks.extend(AggregationSink(settings, group=group, client=client, name=f"sink-{i}") for i in range(instances))
    if stop_requested.is_set():
        for s in sinks:
            s.stop()
    errors: dict[str, str] = {}
    results: dict[str, dict] = {}

    def run_one(s: AggregationSink) -> None:
        try:
            results[s.name] = s.run(idle_exit_s=idle_exit, max_runtime_s=max_runtime).as_dict()
        except BaseException as exc:
            errors[s.name] = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
            for other in sinks:  # one dead instance stops the process (its partitions move on restart)
                other.stop()
            raise

    from ocrstream.health import REGISTRY
    from streams.health_checks import sink_check

    threads = [threading.Thread(target=run_one, args=(s,), name=s.name) for s in sinks[1:]]
    for s, t in zip(sinks, [threading.main_thread(), *threads]):
        REGISTRY.register(s.name, sink_check(s, t, lambda n=s.name: errors.get(n)))
    if health_port:
        from ocrstream.metrics import serve_metrics

        serve_metrics(health_port, host=settings.worker.health_host)
    for t in threads:
        t.start()
    run_one(sinks[0])
    for t in threads:
        while t.is_alive():
            t.join(0.5)
    console.print(json.dumps(results))
