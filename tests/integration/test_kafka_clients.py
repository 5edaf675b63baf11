"""ocrstream.kafka with the broker down: each command fails with one line, no librdkafka noise.

The producers' behaviour without a broker (a fenced producer rebuilt, a refused record) is in
tests/unit/ocrstream/test_kafka.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_broker_down_is_one_line_without_librdkafka_noise(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCRSTREAM_")}
    env.update({"OCRSTREAM_STATE_DIR": str(tmp_path), "OCRSTREAM_KAFKA__BOOTSTRAP": "127.0.0.1:9",
                "OCRSTREAM_PRODUCER__CONNECT_ATTEMPTS": "1", "OCRSTREAM_PRODUCER__CONNECT_TIMEOUT_S": "2"})
    for command in (["topics"], ["sink"], ["worker"]):
        res = subprocess.run([sys.executable, "-m", "ocrstream", *command], env=env, capture_output=True,
                             text=True, timeout=120)
        out = (res.stdout + res.stderr).strip()
        assert res.returncode == 1, (command, out)
        assert out.splitlines() == [out] and "%3|" not in out, (command, out)  # one line, no librdkafka lines
        assert out.startswith("error: cannot reach Kafka at 127.0.0.1:9") and "ocrstream stack up" in out, out
