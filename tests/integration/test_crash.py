"""Crash test (issues 5, 11): SIGKILL the sink at random points, restart, same tables.

The input mixes live events with a backfill of the last 6 days (late updates,
recomputed from the stored documents) and events beyond allowed lateness (too
late), interleaved, so kills also land while late updates are in flight.

The sink runs as ``ocrstream sink`` subprocesses on their own chDB data
directory (a process may open one chDB path only; the verification runs in a
subprocess too). It is killed with SIGKILL at 3 random points of its progress
(read from its checkpoint log lines, plus a random delay so the kill also lands
between the data inserts and the checkpoint) and restarted each time; at the
end every window equals the SQL aggregation of the raw documents: 0 lost,
0 double counted. A second test runs two sink instances in one consumer group
(partitions split and handed over through the checkpoint table).
"""

from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from ocrstream.settings import Settings
from ocrstream.topics import ensure_topics
from tests.conftest import Child
from tests.support.processes import settings_env
from tests.support.streams import assert_equal_report, publish_with_backfill, stream_settings
from tests.support import REPO

pytestmark = pytest.mark.integration

N = 50_000
_PROGRESS = re.compile(r"checkpoint \S+ ((?:p\d+@-?\d+ ?)+)")




def progress_of(line: str) -> int | None:
    m = _PROGRESS.search(line)
    if not m:
        return None
    return sum(int(x.split("@")[1]) + 1 for x in m.group(1).split())


def watch(sink: Child, log: list[str], kill_at: int | None, rng: random.Random) -> str:
    """Follow the sink's output; SIGKILL it once its checkpointed progress >= kill_at."""
    proc = sink.proc
    for line in sink.output.follow():  # type: ignore[union-attr]
        log.append(line)
        done = progress_of(line)
        if kill_at is not None and done is not None and done >= kill_at:
            time.sleep(rng.uniform(0.0, 0.25))  # land anywhere in the next flush cycle
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return "killed"
    proc.wait()
    return f"exit {proc.returncode}"


def verify(settings: Settings) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "streams.verify", "--dsn", settings.clickhouse_dsn,
         "--database", settings.clickhouse.database],
        env=settings_env(settings), capture_output=True, text=True, timeout=120,
        cwd=REPO,
    )
    assert out.stdout.strip(), out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_sigkill_sink_three_times(settings, tmp_path, spawn):
    s = stream_settings(settings, **{
        "clickhouse.dsn": f"chdb://{tmp_path / 'ch'}",
        "clickhouse.database": "ocrstream",
        "sink.batch_rows": 2_000,
        "sink.flush_interval_ms": 150,
        "sink.poll_batch": 2_000,
    })
    ensure_topics(s)
    delivered, too_late = publish_with_backfill(s, N)
    rng = random.Random()
    kill_points = sorted(rng.sample(range(delivered // 10, delivered * 8 // 10), 3))
    outcomes: list[str] = []
    logs: list[str] = []
    for kill_at in [*kill_points, None]:
        sink = spawn("--log-level", "INFO", "sink", "--idle-exit", "3", "--max-runtime", "150", env=settings_env(s))
        outcomes.append(watch(sink, logs, kill_at, rng))
    assert outcomes[:3] == ["killed"] * 3, (outcomes, "".join(logs[-40:]))
    assert outcomes[3] == "exit 0", "".join(logs[-40:])
    resumed = [line for line in logs if "resuming at offset" in line and "checkpoint" in line.split("resuming")[1]]
    assert resumed, "restarts must resume from ClickHouse checkpoints"
    report = verify(s)
    print(f"kill points {kill_points}; report { {k: v for k, v in report.items() if k != 'mismatches'} }")
    assert_equal_report(report, delivered, too_late=True)
    assert report["too_late_documents"] == too_late


def test_two_sinks_in_one_group(settings):
    """Two sink instances share the partitions (and hand them over on rebalance)."""
    from ocrstream.clickhouse import connect
    from streams.sink import AggregationSink
    from streams.verify import compare

    s = stream_settings(settings, **{"sink.batch_rows": 2_000, "sink.poll_batch": 2_000})
    ensure_topics(s)
    delivered, too_late = publish_with_backfill(s, N)
    client = connect(s)
    a = AggregationSink(s, client=client, name="sink-a")
    b = AggregationSink(s, client=client, name="sink-b")
    results: dict[str, Any] = {}

    def run(sink: AggregationSink, delay: float) -> None:
        time.sleep(delay)
        results[sink.name] = sink.run(idle_exit_s=4.0, max_runtime_s=120)

    threads = [threading.Thread(target=run, args=(a, 0.0)), threading.Thread(target=run, args=(b, 1.0))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert set(results) == {"sink-a", "sink-b"}
    assert results["sink-b"].records > 0, "the second instance got no partition"
    report = compare(client)
    print(f"a={results['sink-a'].as_dict()} b={results['sink-b'].as_dict()}")
    assert_equal_report(report, delivered, too_late=True)
    assert report["too_late_documents"] == too_late
