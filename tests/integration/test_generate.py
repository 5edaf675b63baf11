"""Load generator into the real broker: a one-hour backfill matches its ground truth.

The events themselves are checked in tests/unit/synth/test_events.py, images mode and the time
parsing in tests/unit/producers/test_generate.py.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ocrstream.codec import make_serde
from ocrstream.settings import Settings
from ocrstream.topics import OCR_RESULTS, ensure_topics
from producers.times import parse_time_ms
from tests.support.streams import read_topic

START = "2024-05-01T00:00:00Z"


@pytest.mark.integration
def test_one_hour_backfill_matches_ground_truth(settings: Settings, tmp_path: Path) -> None:
    ensure_topics(settings)
    from ocrstream.cli import app

    out = tmp_path / "gen"
    result = CliRunner().invoke(app, ["generate", "--mode", "events", "--businesses", "3", "--rate", "10",
                                      "--backfill", "1h", "--seed", "5", "--start", START, "--out", str(out),
                                      "--out-of-order", "0.05", "--late", "0.01"], env=settings.as_env())
    assert result.exit_code == 0, result.output
    truth = json.loads((out / "ground_truth.json").read_text())
    assert truth["events"] == truth["delivered"] == 36_000

    msgs = read_topic(settings, OCR_RESULTS.short_name, expected=36_001, idle_s=2.0)
    assert len(msgs) == 36_000
    serde = make_serde("OcrResult")
    count: dict[str, int] = defaultdict(int)
    cents: dict[str, int] = defaultdict(int)
    score: dict[str, float] = defaultdict(float)
    ids = set()
    start_ms = parse_time_ms(START)
    for m in msgs:
        r = serde.decode(m.value())
        b = r["business_id"]
        assert m.key().decode() == b
        count[b] += 1
        cents[b] += round((r["fields"]["total"] or 0.0) * 100)
        score[b] += r["score"]
        ids.add(r["document_id"])
        assert start_ms - 600_000 <= r["event_time"] < start_ms + 3_600_000
    assert len(ids) == 36_000
    assert set(count) == set(truth["businesses"]) == {"biz-000", "biz-001", "biz-002"}
    for b, t in truth["businesses"].items():
        assert count[b] == t["count"]
        assert cents[b] == round(t["sum_total"] * 100)
        assert math.isclose(score[b], t["sum_score"], rel_tol=1e-9)
        assert t["late"] > 0 and t["out_of_order"] > 0
