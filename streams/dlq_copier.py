"""The dead-letter copier: the ``dlq`` topic into the ``dead_letters`` table (its own job).

Consumes the DLQ topic in group ``<sink group>-dead-letters`` and inserts one
row per dead letter (:func:`ocrstream.deadletter.dead_letter_row`). At-least-once: the
offsets are committed after the insert, and the table is a ReplacingMergeTree on
the source position + stage, so a re-copied dead letter counts once. Runs in its
own thread (:meth:`DeadLetterCopier.start`) beside the sink, sharing the sink's
ClickHouse client under :data:`~streams.checkpoint.CLICKHOUSE_LOCK`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from confluent_kafka import TopicPartition

from ocrstream.codec import CodecError, make_serde
from ocrstream.deadletter import DEAD_LETTER_COLUMNS, RetryPolicy, dead_letter_row, retry_sync
from ocrstream.kafka import make_consumer
from ocrstream.settings import Settings
from ocrstream.topics import DLQ
from streams.checkpoint import CLICKHOUSE_LOCK

log = logging.getLogger(__name__)


class DeadLetterCopier:
    """Copies dead letters into ClickHouse until :meth:`stop`; see the module docstring."""

    def __init__(self, settings: Settings, client: Any, group: str, *, poll_interval_s: float = 0.2,
                 drain_timeout_s: float = 10.0) -> None:
        self.settings = settings
        self.client = client
        self.group = group
        self.topic = settings.topic(DLQ.short_name)
        self.policy = RetryPolicy.from_settings(settings.retry)
        self.poll_interval_s = poll_interval_s
        self.drain_timeout_s = drain_timeout_s
        self.serde = make_serde("DeadLetter", settings.kafka.schema_registry_url)
        self.copied = 0
        self._consumer: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Subscribe and copy in a daemon thread."""
        self._consumer = make_consumer(self.settings, self.group, **{"fetch.wait.max.ms": 100})
        self._consumer.subscribe([self.topic])
        self._thread = threading.Thread(target=self._run, name=f"{self.group}-copier", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Copy what the topic holds now (up to ``drain_timeout_s``), then close the consumer."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if not self.step(timeout_s=self.poll_interval_s):
                    self._stop.wait(self.poll_interval_s)
            # stopping: copy what the topic holds now (wait for the group join if it is still pending)
            deadline = time.monotonic() + self.drain_timeout_s
            while time.monotonic() < deadline:
                if self.step(timeout_s=0.5) == 0 and self._consumer.assignment():
                    break
        except Exception as exc:  # noqa: BLE001 - a copier failure must not take the sink down
            log.error("dead-letter copier stopped: %s", exc)
        finally:
            try:
                self._consumer.close()
            except Exception:  # noqa: BLE001
                pass

    def step(self, timeout_s: float = 0.0) -> int:
        """Copy one batch (up to 1,000 dead letters); returns how many rows were written."""
        msgs = self._consumer.consume(num_messages=1000, timeout=timeout_s)
        if not msgs:
            return 0
        rows: list[list[Any]] = []
        offsets: dict[tuple[str, int], int] = {}
        for m in msgs:
            if m.error() is not None:
                continue
            offsets[(m.topic(), m.partition())] = m.offset() + 1
            try:
                rows.append(dead_letter_row(self.serde.decode(m.value())))
            except CodecError as exc:
                log.warning("undecodable dead letter %s[%d]@%d: %s", m.topic(), m.partition(), m.offset(), exc)
        if rows:
            def insert() -> None:
                with CLICKHOUSE_LOCK:
                    self.client.insert("dead_letters", rows, column_names=list(DEAD_LETTER_COLUMNS))

            retry_sync(insert, self.policy, "sink", f"dead-letter copier {self.topic}", should_stop=self._stop.is_set)
            self.copied += len(rows)
        if offsets:
            self._consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                                  asynchronous=False)
        return len(rows)


__all__ = ["DeadLetterCopier"]
