"""Building blocks of the fault suite (tests/integration/test_faults.py): documents with ground truth, a
worker process whose progress is read from its log, a sink thread, the exactly-once check."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ocrstream.settings import Settings
from tests.support.processes import processes_with_marker, wait_gone
from tests.support import REPO


#: Real OCR, cheap to start: Tesseract (no model download, loads in ms) on every page type.
FAST_OCR = {
    "ocr.default_engine": "tesseract",
    "ocr.routing": {k: "tesseract" for k in ("receipt", "invoice", "form", "report", "photo")} | {"blank": "none"},
    "ocr.detect_orientation": False,
}


def fault_settings(settings: Settings, **extra: Any) -> Settings:
    """Per-test topics/group/database, fast joins (session 3 s), short backoff, fast OCR."""
    values: dict[str, Any] = {
        "kafka.topic_prefix": f"f{uuid.uuid4().hex[:8]}.",
        "kafka.session_timeout_ms": 3000,
        "worker.app_id": f"ocr-{uuid.uuid4().hex[:6]}",
        "sink.group": f"sink-{uuid.uuid4().hex[:6]}",
        "clickhouse.database": f"f_{uuid.uuid4().hex[:10]}",
        "retry.backoff_ms": 100,
        "retry.max_backoff_ms": 1000,
        "worker.stop_timeout_s": 20.0,
        "windows.idle_timeout_ms": 1000,
        "windows.emit_interval_ms": 300,
        "sink.flush_interval_ms": 300,
        **FAST_OCR,
    }
    values.update(extra)
    return settings.with_overrides(**values)


def small_pages(n: int, seed: int = 5) -> list[bytes]:
    """``n`` small rendered pages (PNG, about 320 x 680 px), a few distinct ones reused with different ids."""
    import cv2

    from synth.documents import render_document

    kinds = ("receipt", "invoice", "form", "receipt")
    distinct = []
    for i in range(min(n, 6)):
        image = render_document(kinds[i % len(kinds)], seed * 100 + i)[0]
        h, w = image.shape[:2]
        distinct.append(cv2.imencode(".png", cv2.resize(image, (w // 2, h // 2)))[1].tobytes())
    return [distinct[i % len(distinct)] for i in range(n)]


def publish_documents(settings: Settings, n: int, now_ms: int) -> set[str]:
    """Upload ``n`` pages to S3 and publish one DocumentRef each; returns the ground truth (document ids)."""
    from ocrstream.codec import make_serde
    from ocrstream.kafka import make_producer
    from ocrstream.objectstore import ObjectStore
    from ocrstream.topics import DOCUMENTS, ensure_topics

    ensure_topics(settings)
    store = ObjectStore(settings)
    bucket = settings.s3.documents_bucket
    serde = make_serde("DocumentRef")
    producer = make_producer(settings)
    topic = settings.topic(DOCUMENTS.short_name)
    uploaded: set[str] = set()
    ids: set[str] = set()
    for i, data in enumerate(small_pages(n)):
        key = f"sha256/{hashlib.sha256(data).hexdigest()}.png"
        if key not in uploaded:
            store.put(bucket, key, data, "image/png")
            uploaded.add(key)
        doc_id = f"doc-{i:03d}-{uuid.uuid4().hex[:6]}"
        ref = {"document_id": doc_id, "business_id": f"biz-{i % 3}", "uri": f"s3://{bucket}/{key}",
               "sha256": key[7:71], "size_bytes": len(data), "media_type": "image/png",
               "event_time": now_ms + i * 1000, "source": "upload", "presigned_url": None, "filename": None,
               "published_at": now_ms}
        producer.produce(topic, value=serde.encode(ref), key=doc_id.encode())
        ids.add(doc_id)
    assert producer.flush(30) == 0
    return ids


def child_env(settings: Settings, marker: str) -> dict[str, str]:
    """The child's environment: ``settings`` and a marker every descendant inherits (to find leftovers)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCRSTREAM_")}
    env.update(settings.as_env())
    env.update({"PYTHONUNBUFFERED": "1", "OCRSTREAM_TEST_MARKER": marker})
    return env


def wait_until(cond: threading.Condition, done: Any, timeout_s: float, give_up: Any = lambda: False) -> bool:
    """Wait on ``cond`` until ``done()`` (True), ``give_up()`` or ``timeout_s`` (False)."""
    deadline = time.monotonic() + timeout_s
    with cond:
        while not done():
            left = deadline - time.monotonic()
            if left <= 0 or give_up():
                return False
            cond.wait(min(left, 0.5))
    return True


class Progress:
    """Documents finished (published or dead-lettered) by a set of workers, in order."""

    def __init__(self) -> None:
        self.total = 0
        self.last: "WorkerProcess | None" = None  # the worker that finished the latest document
        self.cond = threading.Condition()

    def record(self, worker: "WorkerProcess") -> None:
        with self.cond:
            self.total += 1
            self.last = worker
            self.cond.notify_all()

    def wait(self, total: int, timeout_s: float) -> bool:
        return wait_until(self.cond, lambda: self.total >= total, timeout_s)


@dataclass
class WorkerProcess:
    """``ocrstream worker`` as a child; counts documents it finished (published or dead-lettered).

    Each start gets its own marker in the environment (inherited by the OCR pool), so
    :meth:`leftovers` finds exactly the processes of the last run.
    """

    settings: Settings
    name: str = "worker"
    progress: Progress = field(default_factory=Progress)
    proc: subprocess.Popen | None = None
    done: int = 0
    runs: int = 0
    lines: list[str] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _base: str = field(default_factory=lambda: f"ocrstream-fault-worker-{uuid.uuid4().hex[:8]}")

    @property
    def marker(self) -> str:
        return f"{self._base}-{self.name}-{self.runs}"

    def start(self) -> "WorkerProcess":
        self.done = 0
        self.runs += 1
        self.proc = subprocess.Popen([sys.executable, "-m", "ocrstream", "--log-level", "INFO", "worker"],
                                     env=child_env(self.settings, self.marker), cwd=REPO, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        return self

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            finished = (" -> " in line and "engine=" in line) or "dead letter " in line
            with self._cond:
                self.lines.append(f"[{self.name}#{self.runs}] {line}")
                if finished and proc is self.proc:
                    self.done += 1
                self._cond.notify_all()
            if finished and proc is self.proc:
                self.progress.record(self)
        with self._cond:
            self._cond.notify_all()

    def wait_done(self, count: int, timeout_s: float) -> bool:
        """Wait until this run of the worker finished ``count`` documents (False on timeout or exit)."""
        exited = lambda: self.proc is not None and self.proc.poll() is not None  # noqa: E731
        return wait_until(self._cond, lambda: self.done >= count, timeout_s, give_up=exited)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait_exit(self, timeout_s: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout_s)

    def leftovers(self, timeout_s: float = 10.0) -> list[int]:
        """Processes of the last run (its OCR pool included) still alive ``timeout_s`` after it ended."""
        return wait_gone(processes_with_marker(self.marker, environ=True), timeout_s)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in processes_with_marker(self._base, environ=True):  # never leave anything behind
            os.kill(pid, signal.SIGKILL)

    def tail(self, n: int = 60) -> str:
        return "".join(self.lines[-n:])


class SinkThread:
    """The aggregation sink of ``settings`` in a thread of this process (it owns the test chDB handle)."""

    def __init__(self, settings: Settings) -> None:
        from ocrstream.clickhouse import connect
        from streams.sink import AggregationSink

        self.client = connect(settings)
        self.settings = settings
        self.sink = AggregationSink(settings, client=self.client)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="fault-sink", daemon=True)

    def _run(self) -> None:
        try:
            self.sink.run()
        except BaseException as exc:  # noqa: BLE001 - asserted by the test
            self.error = exc

    def start(self) -> "SinkThread":
        self.thread.start()
        return self

    def stored_ids(self) -> set[str]:
        from ocrstream.clickhouse import connect, query_rows
        from streams.checkpoint import CLICKHOUSE_LOCK

        client = connect(self.settings)
        with CLICKHOUSE_LOCK:
            return {r[0] for r in query_rows(client, "SELECT DISTINCT document_id FROM documents")}

    def wait_for(self, ids: set[str], timeout_s: float) -> set[str]:
        """Wait until every id is in ``documents``; returns the missing ones."""
        deadline = time.monotonic() + timeout_s
        missing = set(ids)
        while missing and time.monotonic() < deadline:
            assert self.thread.is_alive(), f"the sink died: {self.error!r}"
            missing = ids - self.stored_ids()
            if missing:
                time.sleep(1.0)
        return missing

    def stop(self) -> None:
        self.sink.stop()
        self.thread.join(60)


def exactly_once_report(sink: SinkThread, truth: set[str]) -> dict[str, Any]:
    """0 lost / 0 double against ``truth``: documents, windows and the DLQ, all read from ClickHouse."""
    from ocrstream.clickhouse import connect, query_rows
    from streams.checkpoint import CLICKHOUSE_LOCK
    from streams.verify import compare

    client = connect(sink.settings)
    with CLICKHOUSE_LOCK:
        report = compare(client)
        stored = {r[0] for r in query_rows(client, "SELECT document_id FROM documents FINAL")}
        dead = int(query_rows(client, "SELECT count() FROM dead_letters FINAL")[0][0])
    report.update({"lost": sorted(truth - stored), "unexpected": sorted(stored - truth), "dead_letters": dead})
    return report


def assert_exactly_once(report: dict[str, Any], truth: set[str]) -> None:
    assert report["lost"] == [] and report["unexpected"] == [], report
    assert report["documents"] == len(truth) and report["distinct_documents"] == len(truth), report
    # every document counted once in its minute and its hour windows (or, if too late, in their too-late count)
    for g in ("minute", "hour"):
        assert report[f"counted_in_{g}_windows"] + report[f"too_late_in_{g}_windows"] == len(truth), report
    assert report["mismatches"] == [] and report["missing"] == 0, report
    assert report["dead_letters"] == 0, report
