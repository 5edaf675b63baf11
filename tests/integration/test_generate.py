"""Load generator: deterministic OcrResult events with ground truth, images mode."""

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
from producers.errors import ProducerError
from synth.events import generate_events
from producers.times import parse_duration, parse_time_ms
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


def test_events_are_deterministic_and_dicts_match_bytes() -> None:
    kw = dict(rate=50, duration_s=120, start_ms=1_714_521_600_000, seed=11, out_of_order=0.1, late=0.05,
              max_disorder_ms=3_000, late_delay_ms=(60_000, 90_000))
    a = list(generate_events(4, **kw).encoded())
    b = list(generate_events(4, **kw).encoded())
    assert a == b and len(a) == 6_000
    assert a != list(generate_events(4, **{**kw, "seed": 12}).encoded())
    serde = make_serde("OcrResult")
    stream = generate_events(4, **kw)
    dicts = list(stream)
    assert [serde.decode(v) for _, v in a] == dicts  # fast path == fastavro path, field for field
    truth = stream.truth
    assert sum(t["count"] for t in truth.values()) == 6_000
    # disorder: out-of-order events stay within max_disorder_ms of the max seen so far, late ones far behind
    max_seen = 0
    lateness = []
    for d in dicts:
        if max_seen:
            lateness.append(max_seen - d["event_time"])
        max_seen = max(max_seen, d["event_time"])
    late = sum(1 for x in lateness if x >= 55_000)
    assert late == sum(t["late"] for t in truth.values())
    assert sum(1 for x in lateness if 0 < x < 55_000) > 0.05 * 6_000
    assert all(x <= 3_000 + 1_000 for x in lateness if x < 55_000)
    for d in dicts[:50]:
        items = d["line_items"]
        if d["fields"]["total"] is not None:
            assert items and math.isclose(sum(i["amount"] for i in items), d["fields"]["subtotal"], abs_tol=1e-6)
        assert 0 <= d["score"] <= 1 and 0 <= d["ocr_score"] <= 1


def test_images_mode_writes_pngs_truth_and_manifest(tmp_path: Path) -> None:
    from ocrstream.cli import app

    out = tmp_path / "img"
    result = CliRunner().invoke(app, ["--state-dir", str(tmp_path / "state"), "generate", "--mode", "images",
                                      "--businesses", "acme,globex", "--rate", "2", "--backfill", "3s",
                                      "--seed", "4", "--start", START, "--out", str(out)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["documents"]) == 6 == len(list(out.glob("*.png")))
    for doc in manifest["documents"]:
        assert (out / doc["image"]).with_suffix(".json").exists()
        assert doc["business_id"] in ("acme", "globex") and doc["kind"] in ("receipt", "invoice", "report", "form")
    assert [d["event_time"] for d in manifest["documents"]] == [parse_time_ms(START) + 500 * i for i in range(6)]


def test_duration_and_time_parsing() -> None:
    assert parse_duration("7d") == 604_800 and parse_duration("1h30m") == 5_400 and parse_duration("90") == 90
    assert parse_time_ms("2024-05-01T00:00:00Z") == 1_714_521_600_000 == parse_time_ms("1714521600000")
    with pytest.raises(ProducerError):
        parse_duration("soon")
    from ocrstream.cli import app

    result = CliRunner().invoke(app, ["generate", "--backfill", "1h", "--duration", "1h"])
    assert result.exit_code == 1 and "exactly one of --duration" in " ".join(result.output.split())


def test_old_events_interleave_history_with_live_traffic() -> None:
    day = 86_400_000
    kw = dict(rate=20, duration_s=600, start_ms=1_714_521_600_000, seed=3)
    plain = list(generate_events(2, **kw))
    mixed_stream = generate_events(2, **kw, old=0.3, old_span_ms=6 * day)
    mixed = list(mixed_stream)
    assert [e["document_id"] for e in list(generate_events(2, **kw, old=0.0))] == [e["document_id"] for e in plain]
    old = [e for e in mixed if e["event_time"] < kw["start_ms"]]
    assert 0.25 < len(old) / len(mixed) < 0.35
    assert min(e["event_time"] for e in old) >= kw["start_ms"] - 6 * day
    assert max(e["event_time"] for e in old) - min(e["event_time"] for e in old) > 4 * day  # spread over the span
    positions = [i for i, e in enumerate(mixed) if e["event_time"] < kw["start_ms"]]
    assert positions[0] < len(mixed) // 10 and positions[-1] > len(mixed) * 9 // 10  # interleaved, not a block
    truth = mixed_stream.truth
    assert min(t["min_event_time"] for t in truth.values()) == min(e["event_time"] for e in mixed)
    assert list(generate_events(2, **kw, old=0.3, old_span_ms=6 * day)) == mixed  # deterministic
