"""Fault suite: the OCR worker and the sink under kill -9, SIGTERM, an S3 outage and a broker restart.

Every test ends with 0 lost and 0 double against the published ground truth, read from ClickHouse
(``documents`` rows, window counts, no dead letter), and no process of the test left behind.

Cost on 2 cores: ~3 minutes. Pages are small and OCR'd by Tesseract (real OCR that starts in
milliseconds, so a restart costs ~8 s: interpreter + Faust start, group join, pool start); kill
points come from a seeded RNG over the stream of completed documents (set
``OCRSTREAM_FAULT_SEED`` to replay a run), never from sleeps that assume a speed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from ocrstream.stack import LocalStack
from tests.support.backends import BACKEND_IS_LOCAL, StackHandle, local_settings
from tests.support.faults import REPO, Progress, SinkThread, WorkerProcess, assert_exactly_once, child_env, \
    exactly_once_report, fault_settings, publish_documents
from tests.support.processes import processes_with_marker, wait_gone

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STACK_MARKER = f"ocrstream-fault-stack-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory: pytest.TempPathFactory, stack: StackHandle) -> Iterator[StackHandle]:
    """An S3-backed local stack (the broker's log lives in S3, as by default) for this module.

    ClickHouse is the session's chDB (this process owns it; the sink runs in a thread here), so
    ``ocrstream stack up`` of this stack meets a data directory held by a running sink.
    """
    if not BACKEND_IS_LOCAL:
        pytest.skip("the fault suite drives the embedded local stack")
    s = local_settings(tmp_path_factory.mktemp("faults"), ephemeral=False, clickhouse_dsn=stack.settings.clickhouse_dsn)
    handle = StackHandle(settings=s, stack=LocalStack(s))
    handle.up()
    yield handle
    handle.stop()
    assert wait_gone(processes_with_marker(STACK_MARKER, environ=True), 15) == []
    assert wait_gone(processes_with_marker(str(s.state_dir)), 15) == [], "stack processes left behind"


def cli(settings: Any, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ocrstream", *args], env=child_env(settings, STACK_MARKER), cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def _seed() -> int:
    seed = int(os.environ.get("OCRSTREAM_FAULT_SEED") or random.randrange(1 << 30))
    print(f"fault seed {seed} (OCRSTREAM_FAULT_SEED={seed} replays it)")
    return seed


def test_worker_killed_and_terminated_at_random_points(fault_stack: StackHandle) -> None:
    """5 x SIGKILL and 5 x SIGTERM of a worker at random points of the stream of finished documents.

    Two workers share the partitions (one group); the kill point is "k documents (1..3) after the
    previous fault, then a random delay (0-0.4 s)", and the victim is the worker that finished the
    latest document, so the signal lands while it works on the next one. The victim is restarted
    at once; its OCR pool must never survive it.
    """
    rng = random.Random(_seed())
    kinds = ["SIGKILL"] * 5 + ["SIGTERM"] * 5
    rng.shuffle(kinds)
    s = fault_settings(fault_stack.settings)
    truth = publish_documents(s, 60, now_ms=int(time.time() * 1000))
    sink = SinkThread(s).start()
    progress = Progress()
    workers = [WorkerProcess(s, name=n, progress=progress).start() for n in ("a", "b")]
    faults: list[tuple[str, str, int, float, int]] = []
    try:
        for kind in kinds:
            after, delay = rng.randint(1, 3), round(rng.uniform(0.0, 0.4), 2)
            assert progress.wait(progress.total + after, 180), (faults, workers[0].tail(), workers[1].tail())
            time.sleep(delay)
            victim = progress.last
            assert victim is not None
            victim.signal(getattr(signal, kind))
            rc = victim.wait_exit(60)
            faults.append((kind, victim.name, after, delay, rc))
            assert victim.leftovers(10) == [], f"{kind}: processes of worker {victim.name} left (OCR pool orphaned?)"
            if kind == "SIGTERM":
                assert rc == 0, (faults, victim.tail())  # graceful: no forced exit after stop_timeout_s
            victim.start()
        missing = sink.wait_for(truth, 180)
        assert not missing, (f"lost {sorted(missing)} after faults {faults}", workers[0].tail(), workers[1].tail())
        for w in workers:
            w.stop()
        sink.stop()
        report = exactly_once_report(sink, truth)
        print(f"faults {faults}; sink {sink.sink.stats.as_dict()}")
        assert_exactly_once(report, truth)
    finally:
        for w in workers:
            w.stop()
        sink.stop()
    assert all(w.leftovers(10) == [] for w in workers)


def test_s3_outage_and_broker_restart_with_a_warm_worker_and_a_running_sink(fault_stack: StackHandle) -> None:
    """A 30 s S3 outage (the broker keeps its log in S3, so it fails too), then a broker restart
    with `ocrstream stack down` / `stack up`, while one warm worker and the sink keep running."""
    s = fault_settings(fault_stack.settings)
    truth = publish_documents(s, 40, now_ms=int(time.time() * 1000))
    sink = SinkThread(s).start()
    worker = WorkerProcess(s).start()
    try:
        assert worker.wait_done(6, 120), worker.tail()
        # --- S3 outage: 30 s without SeaweedFS
        assert LocalStack(s).weed.stop(15)
        time.sleep(30)
        up = cli(s, "stack", "up")
        assert up.returncode == 0, up.stderr
        assert "starting S3" in up.stderr and "starting Kafka" not in up.stderr, up.stderr
        assert "skipping them" in up.stderr, up.stderr  # chDB is held by the running sink: left alone
        assert worker.proc is not None and worker.proc.poll() is None, worker.tail()
        done = worker.done
        assert worker.wait_done(done + 4, 180), ("no progress after the S3 outage", worker.tail())
        # --- broker restart while the sink (and the worker) run
        down = cli(s, "stack", "down")
        assert down.returncode == 0 and "tansu" in down.stderr, down.stderr
        up = cli(s, "stack", "up")
        assert up.returncode == 0 and "starting Kafka" in up.stderr, up.stderr
        missing = sink.wait_for(truth, 240)
        assert not missing, (f"lost {sorted(missing)}", worker.tail())
        assert worker.proc.poll() is None and sink.thread.is_alive()
        worker.stop()
        sink.stop()
        report = exactly_once_report(sink, truth)
        print(f"worker: {worker.tail(5)}; sink {sink.sink.stats.as_dict()}")
        assert_exactly_once(report, truth)
    finally:
        worker.stop()
        sink.stop()
    assert worker.leftovers(10) == []
