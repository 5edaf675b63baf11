"""Window-operator checkpoints in ClickHouse (table ``stream_checkpoints``, migration 002).

One logical row per ``(consumer_group, topic, partition)``: the operator state
of that input partition (``WindowOperator.snapshot(partitions=[p])``, JSON,
zlib-compressed) and ``offset`` = the last input offset the state covers. The
newest version wins (ReplacingMergeTree + ``argMax`` on read), so a checkpoint
is written by a single append and read back without FINAL.

Recovery contract (see :mod:`streams.sink`): restore the state, seek the
consumer to ``offset + 1`` — never to Kafka's committed offset, which is only
advisory (lag monitoring) and may lag or lead the checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

#: chDB's client is shared by every sink thread of a process: serialise calls.
CLICKHOUSE_LOCK = threading.RLock()

STATE_FORMAT = "zlib+json/v1"


class VersionClock:
    """Strictly increasing wall-clock microseconds (row versions; newest wins)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            v = max(time.time_ns() // 1000, self._last + 1)
            self._last = v
            return v


VERSIONS = VersionClock()


@dataclass(frozen=True)
class Checkpoint:
    partition: int
    offset: int  # last input offset covered; resume at offset + 1
    state: dict[str, Any]
    version: int = 0
    records: int = 0


def encode_state(state: dict[str, Any]) -> bytes:
    return zlib.compress(json.dumps(state, separators=(",", ":")).encode(), 3)


def decode_state(blob: bytes | str) -> dict[str, Any]:
    if isinstance(blob, str):
        blob = blob.encode("latin-1")
    return json.loads(zlib.decompress(blob))


class CheckpointStore:
    """Reads and writes the checkpoints of one consumer group and input topic."""

    def __init__(self, client: Any, group: str, topic: str) -> None:
        self.client = client
        self.group = group
        self.topic = topic
        self.writer = f"{socket.gethostname()}:{os.getpid()}"

    def load(self, partitions: list[int]) -> dict[int, Checkpoint]:
        """Newest checkpoint per partition (partitions without one are absent)."""
        if not partitions:
            return {}
        with CLICKHOUSE_LOCK:
            result = self.client.query(
                "SELECT partition, argMax(offset, version), argMax(state, version), max(version), "
                "argMax(records, version) FROM stream_checkpoints "
                "WHERE consumer_group = {g:String} AND topic = {t:String} AND partition IN {ps:Array(Int32)} "
                "GROUP BY partition",
                parameters={"g": self.group, "t": self.topic, "ps": list(partitions)},
                column_formats={"argMax(state, version)": "bytes"},
            )
        out: dict[int, Checkpoint] = {}
        for p, offset, blob, version, records in result.result_rows:
            out[int(p)] = Checkpoint(int(p), int(offset), decode_state(blob), int(version), int(records))
        return out

    def save(self, checkpoints: list[Checkpoint]) -> None:
        """Append one row per checkpoint (one insert)."""
        if not checkpoints:
            return
        now_ms = time.time_ns() // 1_000_000
        rows = [
            [self.group, self.topic, cp.partition, cp.offset, encode_state(cp.state), STATE_FORMAT,
             cp.records, self.writer, now_ms, cp.version or VERSIONS()]
            for cp in checkpoints
        ]  # fmt: skip
        with CLICKHOUSE_LOCK:
            self.client.insert(
                "stream_checkpoints",
                rows,
                column_names=["consumer_group", "topic", "partition", "offset", "state", "state_format",
                              "records", "writer", "written_at", "version"],
            )
