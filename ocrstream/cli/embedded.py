"""The whole embedded pipeline under one supervisor: what ``ocrstream demo`` and ``ocrstream up`` run.

Embedded chDB can be opened by one process only, so the process that opens it
serves every reader. :class:`EmbeddedPipeline` therefore runs:

* the local stack (:class:`ocrstream.stack.LocalStack`: Tansu, SeaweedFS, the
  S3 upload bridge, topics, migrations) — the parts that are not running yet;
* ``workers`` OCR workers (``ocrstream worker``, Faust) as child processes,
  each serving ``/healthz`` on a free port (logs ``<state_dir>/logs/worker*.log``);
* in this process, over one chDB client: the aggregation sink (a supervised
  thread) and the API + dashboard (uvicorn in a background thread).

Every child is watched by one :class:`ocrstream.supervisor.Supervisor` and
registered in :data:`ocrstream.health.REGISTRY` (so ``/healthz`` shows a dead
worker or sink). :meth:`EmbeddedPipeline.wait` raises :class:`PipelineError`
(one line) when a child dies and :class:`Stopped` once SIGTERM, SIGHUP or
SIGINT arrived. :meth:`EmbeddedPipeline.close` stops everything this run
started and nothing else: the API, then the supervised children newest first
(producers started by the caller, the sink with a final flush + checkpoint,
the workers with their OCR pools), then the stack parts this run started — a
stack that was running before is left running::

    pipe = EmbeddedPipeline(settings, "up", say=print)
    pipe.preflight()                 # busy port / chDB held elsewhere: PipelineError, nothing started
    with pipe.signals():
        try:
            pipe.start_stack(); pipe.start_services()
            while True:
                pipe.wait(1.0)       # PipelineError when a child died, Stopped on a signal
        except Stopped:
            pass
        finally:
            pipe.close()
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from ocrstream.settings import Settings


class PipelineError(RuntimeError):
    """The pipeline cannot run or a part of it died; ``str()`` is one line."""


class Stopped(Exception):
    """A stop signal (SIGTERM, SIGHUP, SIGINT) arrived."""


def preflight(settings: Settings) -> None:
    """Refuse to start (before touching anything) when the API port or the chDB directory is taken."""
    from ocrstream.service_process import port_in_use
    from ocrstream.stack import LocalStack

    host, port = settings.api.host, settings.api.port
    if port_in_use(port, host if host not in ("localhost", "0.0.0.0") else "127.0.0.1"):
        raise PipelineError(f"port {port} on {host} is already in use (another demo, up or `ocrstream serve`?); "
                            "stop it or pass --port N; nothing was started")
    owner = LocalStack(settings).clickhouse_owner()
    if owner is not None:
        raise PipelineError(f"the ClickHouse data directory {settings.clickhouse_dsn} is open in pid {owner} (a "
                            "sink, API, demo or up); stop it first or use another OCRSTREAM_STATE_DIR; nothing "
                            "was started")


class EmbeddedPipeline:
    """Stack + OCR workers + sink + API of one process tree (see module docstring).

    ``say(message)`` reports progress (one line each; errors writing it, e.g.
    after SIGHUP closed the terminal, are ignored).
    """

    def __init__(self, settings: Settings, name: str, *, say: Callable[[str], None], workers: int = 1) -> None:
        from ocrstream.stack import LocalStack
        from ocrstream.supervisor import Supervisor

        if workers < 1:
            raise PipelineError("at least one OCR worker is needed (--workers 1 or more)")
        self.settings = settings
        self.name = name
        self._say = say
        self.workers = workers
        self.stack = LocalStack(settings)
        self.sup = Supervisor(name, stop_timeout_s=settings.worker.stop_timeout_s)
        self.client: Any = None
        self.sink: Any = None
        self.server: Any = None
        self.worker_names: list[str] = []
        self._worker_checks: list[Callable[[], Any]] = []
        self._registered: list[str] = []

    # ---------------------------------------------------------------- helpers
    def say(self, message: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # the terminal may be gone (SIGHUP)
            self._say(message)

    @property
    def url(self) -> str:
        """Base URL of the API and dashboard."""
        return f"http://{self.settings.api.host}:{self.settings.api.port}"

    def preflight(self) -> None:
        preflight(self.settings)

    @contextlib.contextmanager
    def signals(self) -> Iterator[EmbeddedPipeline]:
        """SIGTERM/SIGHUP/SIGINT request a stop while the block runs (main thread only)."""
        with self.sup.handle_signals():
            yield self

    def check_stop(self) -> None:
        """Raise :class:`Stopped` once a stop was requested."""
        if self.sup.stopping:
            raise Stopped()

    def wait(self, timeout_s: float) -> None:
        """Sleep up to ``timeout_s``; :class:`PipelineError` when a child died, :class:`Stopped` on a stop."""
        dead = self.sup.wait(max(0.0, timeout_s))
        if dead is not None:
            raise PipelineError(dead.line())
        self.check_stop()

    # ---------------------------------------------------------------- start
    def start_stack(self) -> None:
        """``stack up``: start the parts of the local stack that are not running."""
        self.stack.up(progress=lambda m: self.say(f"• {m}"))
        self.check_stop()

    def start_services(self) -> None:
        """Start the OCR worker process(es), then the sink and the API in this process."""
        from serving import create_app
        from serving.server import BackgroundServer, free_port
        from ocrstream.clickhouse import connect
        from ocrstream.health import REGISTRY
        from streams.health_checks import remote_check, sink_check
        from streams.sink import AggregationSink

        logs = self.settings.state_dir / "logs"
        env = {**os.environ, **self.settings.as_env()}
        for i in range(self.workers):
            name = "worker" if self.workers == 1 else f"worker-{i}"
            log_path = logs / f"{name}.log"
            health_port = free_port()
            self.say(f"• starting the OCR {name} (Faust; log {log_path})")
            child = self.sup.start_process(
                name, [sys.executable, "-m", "ocrstream", "worker", "--health-port", str(health_port)],
                env=env, log_path=log_path)
            check = remote_check(f"http://127.0.0.1:{health_port}/healthz", child.alive, "worker")
            REGISTRY.register(name, check)
            self._registered.append(name)
            self.worker_names.append(name)
            self._worker_checks.append(check)
        self.say("• starting the aggregation sink and the API in this process (it owns chDB)")
        self.client = connect(self.settings)
        self.sink = AggregationSink(self.settings, client=self.client)
        sink_child = self.sup.start_thread("sink", self.sink.run, stop=self.sink.stop)
        REGISTRY.register("sink", sink_check(self.sink, sink_child.thread, lambda: sink_child.error))
        self._registered.append("sink")
        self.server = BackgroundServer(create_app(self.settings, self.client), self.settings.api.host,
                                       self.settings.api.port).start()
        self.check_stop()

    def workers_joined(self) -> bool:
        """True once some OCR worker has partitions assigned (documents published now get processed)."""
        for check in self._worker_checks:
            state = check()
            if state.ok and state.detail.get("assigned"):
                return True
        return False

    def wait_for_workers(self, timeout_s: float) -> bool:
        """Wait until :meth:`workers_joined` (False after ``timeout_s``: documents wait in Kafka meanwhile)."""
        deadline = time.monotonic() + timeout_s
        while not self.workers_joined():
            if time.monotonic() >= deadline:
                return False
            self.wait(0.5)
        return True

    # ---------------------------------------------------------------- stop
    def close(self) -> None:
        """Stop what this run started (module docstring); safe to call after a failed start."""
        from ocrstream.clickhouse import close_all
        from ocrstream.health import REGISTRY

        if self.sup.signal_received is not None:
            self.say(f"• signal {signal.Signals(self.sup.signal_received).name}: shutting down")
        else:
            self.say("• shutting down")
        if self.server is not None:
            self.server.stop()
            self.server = None
        self.sup.stop_all()  # newest first: caller's producers, the sink (final flush), the workers
        for name in self._registered:
            REGISTRY.unregister(name)
        self._registered.clear()
        close_all()
        if self.stack.started:
            self.say(f"• stopping the local stack parts this {self.name} started: {', '.join(self.stack.started)}")
            self.stack.stop_started()
        else:
            self.say(f"• the local stack was running before this {self.name} (or did not start): left as it was")
