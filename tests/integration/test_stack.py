"""The embedded local stack: S3-backed broker persistence, status, clean shutdown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

from ocrstream.codec import make_serde
from ocrstream.kafka import DeliveryTracker, make_consumer, make_producer, read_all
from ocrstream.service_process import port_in_use
from ocrstream.stack import StackError
from ocrstream.topics import DOCUMENTS, ensure_topics

pytestmark = pytest.mark.integration

N = 10_000


def _refs(n: int) -> list[dict]:
    return [
        {
            "document_id": f"doc-{i:05d}", "business_id": f"biz-{i % 7}",
            "uri": f"s3://ocrstream-documents/sha256/{i:064x}.png", "sha256": f"{i:064x}",
            "size_bytes": 1000 + i, "media_type": "image/png", "event_time": 1_763_000_000_000 + i,
            "source": "generator", "presigned_url": None, "filename": None, "published_at": 0,
        }
        for i in range(n)
    ]


def _pids_of(state_dir: Path) -> list[int]:
    out = subprocess.run(["pgrep", "-f", str(state_dir)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_s3_backed_broker_survives_down_up(stack_factory) -> None:
    handle = stack_factory("persist", ephemeral=False)
    settings = handle.settings
    handle.up()
    topic = settings.topic(DOCUMENTS.short_name)
    codec = make_serde("DocumentRef")

    producer = make_producer(settings)
    tracker = DeliveryTracker()
    for ref in _refs(N):
        producer.produce(topic, key=ref["document_id"].encode(), value=codec.encode(ref), on_delivery=tracker)
        producer.poll(0)
    assert producer.flush(60) == 0
    assert tracker.delivered == N and tracker.failed == 0

    consumer = make_consumer(settings, "persist-test")
    consumer.subscribe([topic])
    msgs = read_all(consumer, expected=N, idle_timeout_s=15)
    assert len(msgs) == N
    assert {codec.decode(m.value())["document_id"] for m in msgs} == {f"doc-{i:05d}" for i in range(N)}
    consumer.commit(asynchronous=False)
    parts = [TopicPartition(topic, p) for p in range(settings.kafka.partitions)]
    committed_before = {tp.partition: tp.offset for tp in consumer.committed(parts, timeout=10)}
    assert sum(committed_before.values()) == N
    consumer.close()

    handle.down()
    assert not _pids_of(settings.state_dir), "processes left after down"
    handle.up()

    # committed offsets are where they were
    consumer = make_consumer(settings, "persist-test")
    committed_after = {tp.partition: tp.offset for tp in consumer.committed(parts, timeout=10)}
    assert committed_after == committed_before
    consumer.close()
    # and the topic still holds all messages (counted by reading: Tansu's
    # ListOffsets(latest) is wrong after an S3-backed restart, see shared/README)
    reader = make_consumer(settings, "persist-test-reread")
    reader.subscribe([topic])
    again = read_all(reader, expected=N, idle_timeout_s=15)
    reader.close()
    assert len(again) == N
    assert {codec.decode(m.value())["document_id"] for m in again} == {f"doc-{i:05d}" for i in range(N)}

    handle.down()
    time.sleep(0.2)
    assert not _pids_of(settings.state_dir), "tansu/weed processes left after the test"


def test_status_json_cli_and_exit_codes(stack_factory) -> None:
    handle = stack_factory("cli")
    s = handle.settings
    env = {**os.environ, **s.as_env()}
    assert env["OCRSTREAM_STACK__BROKER_STORAGE"] == "memory"
    cli = [sys.executable, "-m", "ocrstream"]
    down = subprocess.run([*cli, "stack", "status", "--json"], env=env, capture_output=True, text=True)
    assert down.returncode == 1 and json.loads(down.stdout)["ok"] is False

    up = subprocess.run([*cli, "stack", "up"], env=env, capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stderr
    res = subprocess.run([*cli, "stack", "status", "--json"], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    status = json.loads(res.stdout)
    for key in ("kafka_bootstrap", "s3_endpoint", "s3_access_key", "s3_secret_key", "documents_bucket",
                "clickhouse_dsn"):
        assert status[key], key
    assert status["kafka_bootstrap"] == s.kafka.bootstrap
    assert status["clickhouse_dsn"] == f"chdb://{(s.state_dir / 'clickhouse').resolve()}"
    # second up is idempotent (nothing restarted)
    pids = {p: status["parts"][p]["pid"] for p in ("kafka", "s3")}
    assert subprocess.run([*cli, "stack", "up"], env=env, capture_output=True, timeout=120).returncode == 0
    again = json.loads(subprocess.run([*cli, "stack", "status", "--json"], env=env, capture_output=True,
                                      text=True).stdout)
    assert {p: again["parts"][p]["pid"] for p in ("kafka", "s3")} == pids
    # the ClickHouse schema was applied and recorded
    probe = ("from ocrstream.clickhouse import connect;from ocrstream.settings import Settings;"
             "c=connect(Settings());print(c.query('SELECT name FROM schema_migrations').result_rows,"
             "sorted(r[0] for r in c.query('SHOW TABLES').result_rows))")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True).stdout
    assert "001_init.sql" in out and "'documents'" in out and "'windows'" in out

    assert subprocess.run([*cli, "stack", "down"], env=env, capture_output=True).returncode == 0
    assert not _pids_of(s.state_dir)
    assert not port_in_use(int(s.kafka.bootstrap.rsplit(":", 1)[1]))


def test_port_in_use_and_stale_pid_are_clear(stack_factory) -> None:
    import socket

    handle = stack_factory("busy")
    s = handle.settings
    kafka_port = int(s.kafka.bootstrap.rsplit(":", 1)[1])
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", kafka_port))
    blocker.listen()
    try:
        with pytest.raises(StackError, match=f"port\\(s\\) {kafka_port} .* already in use"):
            handle.up(ephemeral=True)
    finally:
        blocker.close()
    assert not _pids_of(s.state_dir), "a failed up must not leave S3 running"
    # a stale pid file (process long gone) is detected and replaced
    pid_file = s.state_dir / "pids" / "tansu.json"
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(json.dumps({"pid": 999_999, "marker": "tcp://", "argv": []}))
    handle.up(ephemeral=True)
    assert json.loads(pid_file.read_text())["pid"] != 999_999
    handle.down()


def test_nothing_listens_beyond_loopback(stack) -> None:
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    state = str(stack.settings.state_dir)
    ours = {int(p) for p in subprocess.run(["pgrep", "-f", state], capture_output=True, text=True).stdout.split()}
    assert ours, "session stack processes not found"
    for line in out.splitlines():
        if any(f"pid={pid}," in line for pid in ours):
            local = line.split()[3]
            assert local.startswith("127.0.0.1:"), line


def test_missing_broker_binary_is_a_clear_error(stack_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    handle = stack_factory("nobin")
    monkeypatch.setenv("CALF_TANSU_BIN", str(handle.settings.state_dir / "no-such-tansu"))
    with pytest.raises(StackError, match="Tansu broker binary not found"):
        handle.up(ephemeral=True)
    assert not _pids_of(handle.settings.state_dir), "a failed up must not leave S3 running"


def test_up_on_a_running_stack_says_so_and_a_failure_stops_nothing_it_did_not_start(
        stack_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    handle = stack_factory("running")
    s = handle.settings
    first = handle.up(ephemeral=True)
    assert {"tansu", "weed"} <= set(first["started"])
    pids = {p: first["parts"][p]["pid"] for p in ("kafka", "s3")}
    said: list[str] = []
    again = handle.stack.up(ephemeral=True, progress=said.append)  # type: ignore[union-attr]
    assert again["started"] == [] and any("already running" in m for m in said), said

    import ocrstream.topics

    def broken(*_a: object, **_k: object) -> list[str]:
        raise RuntimeError("topic creation failed")

    monkeypatch.setattr(ocrstream.topics, "ensure_topics", broken)
    with pytest.raises(RuntimeError, match="topic creation failed"):
        handle.stack.up(ephemeral=True)  # type: ignore[union-attr]
    monkeypatch.undo()
    status = handle.stack.status()  # type: ignore[union-attr]
    assert status["ok"] and {p: status["parts"][p]["pid"] for p in ("kafka", "s3")} == pids, \
        "a failed up stopped a stack it had not started"


def test_up_while_another_process_holds_chdb_skips_migrations_and_keeps_it_running(stack_factory, spawn) -> None:
    """`stack up` while a sink/API/demo owns chDB; up must neither fail nor stop anything."""
    handle = stack_factory("held")
    s = handle.settings
    env = {**os.environ, **s.as_env()}
    before = handle.up(ephemeral=True)
    holder = spawn(python=["-c", "from ocrstream.clickhouse import connect; from ocrstream.settings import Settings; "
                           "connect(Settings()); print('holding', flush=True); input()"],
                   env=env, stdin=subprocess.PIPE, stderr=None)
    assert holder.output.wait_for("holding", 120).strip() == "holding"
    up = subprocess.run([sys.executable, "-m", "ocrstream", "stack", "up", "--ephemeral"], env=env,
                        capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stderr
    assert "already running" in up.stderr and f"open in pid {holder.pid}" in up.stderr, up.stderr
    after = handle.stack.status()  # type: ignore[union-attr]
    assert after["ok"] and after["parts"]["kafka"]["pid"] == before["parts"]["kafka"]["pid"]
    holder.proc.stdin.write("\n")  # type: ignore[union-attr]  # lets go of chDB
    holder.proc.stdin.close()  # type: ignore[union-attr]
    holder.proc.wait(30)
    handle.down()
    assert not _pids_of(s.state_dir)


def test_a_deleted_bucket_gets_a_hint(stack_factory) -> None:
    from ocrstream.objectstore import ObjectStore

    handle = stack_factory("nobucket")
    s = handle.settings
    handle.up(ephemeral=True)
    ObjectStore(s).client.delete_bucket(Bucket=s.s3.broker_bucket)  # empty: the broker keeps its log in memory
    with pytest.raises(StackError, match=r"bucket 'ocrstream-broker' does not exist .*deleted.*--create-buckets"):
        handle.stack.up(ephemeral=True)  # type: ignore[union-attr]
    assert handle.stack.status()["parts"]["kafka"]["up"], "the failed up must not stop the running broker"  # type: ignore[union-attr]
    handle.stack.up(ephemeral=True, create_buckets=True)  # type: ignore[union-attr]
    ObjectStore(s).check_bucket(s.s3.broker_bucket)
