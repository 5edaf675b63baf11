"""``ocrstream import``: history in the original documents-table shape, before and after live traffic.

A live business already has windows; then JSON Lines (and CSV) history of the
last 3 days is imported for it and for a new business, bad lines included.
The windows then equal one SQL aggregation over the raw documents and the
ground truth of the files; bad lines are dead-lettered with their line numbers;
importing the same files again changes nothing.
"""

from __future__ import annotations

import csv
import json
import random
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ocrstream.cli import app
from ocrstream.clickhouse import connect
from ocrstream.topics import ensure_topics
from producers.events import publish_events
from synth.events import generate_events
from producers.importer import to_ocr_result
from streams.sink import AggregationSink
from streams.verify import compare
from tests.support.streams import stream_settings

pytestmark = pytest.mark.integration

HOUR = 3_600_000


def history(business: str, n: int, start_ms: int, span_ms: int, seed: int) -> list[dict[str, Any]]:
    """Documents of the original design: total = sum of the line items, scores their means."""
    rnd = random.Random(seed)
    docs = []
    for i in range(n):
        items = [{"value": round(rnd.uniform(1, 80), 2), "score": round(rnd.uniform(0.6, 1), 3),
                  "ocr_score": round(rnd.uniform(0.6, 1), 3)} for _ in range(rnd.randint(1, 5))]
        total = {"value": round(sum(x["value"] for x in items), 2),
                 "score": round(sum(x["score"] for x in items) / len(items), 4),
                 "ocr_score": round(sum(x["ocr_score"] for x in items) / len(items), 4)}
        ts = start_ms + rnd.randrange(span_ms)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts // 1000)) + f".{ts % 1000:03d}Z"
        docs.append({"document_id": f"{business}-{seed}-{i:06d}", "timestamp": stamp,
                     "ml_response": {"business_id": business, "total": total, "line_items": items}})
    return docs


def run_import(s: Any, *paths: Path) -> Any:
    return CliRunner().invoke(app, ["import", *map(str, paths)], env=s.as_env())


def run_sink(s: Any, client: Any) -> Any:
    return AggregationSink(s, client=client).run(idle_exit_s=2.0, max_runtime_s=120)


def test_import_history_before_and_after_live_traffic(settings, tmp_path):
    s = stream_settings(settings)
    ensure_topics(s)
    client = connect(s)
    now = int(time.time() * 1000)
    live_start = now - now % HOUR - 2 * HOUR
    assert publish_events(s, generate_events(("acme",), rate=0.5, duration_s=7200, start_ms=live_start,
                                             seed=1)).failed == 0
    run_sink(s, client)  # acme's windows of the last 2 hours are final now

    acme = history("acme", 1_500, now - 3 * 86_400_000, 3 * 86_400_000 - 600_000, seed=2)
    beta = history("beta", 700, now - 3 * 86_400_000, 3 * 86_400_000, seed=3)
    jsonl = tmp_path / "acme.jsonl"
    lines = [json.dumps(d) for d in acme]
    bad = {3: "{not json", 10: json.dumps({**acme[0], "document_id": "b1", "ml_response": {"total": {}}}),
           20: json.dumps({**acme[1], "document_id": "b2", "timestamp": "yesterday"}),
           30: json.dumps({**acme[2], "document_id": "b3",
                           "ml_response": {**acme[2]["ml_response"], "total": {"value": 1, "score": 1.5,
                                                                               "ocr_score": 0.5}}}),
           40: json.dumps({**acme[3], "document_id": "b4", "timestamp": "2036-01-01T00:00:00Z"})}
    for line_no in sorted(bad):
        lines.insert(line_no - 1, bad[line_no])
    jsonl.write_text("\n".join(lines) + "\n")
    csv_path = tmp_path / "beta.csv"
    with csv_path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["document_id", "timestamp", "ml_response"])
        for d in beta:
            w.writerow([d["document_id"], d["timestamp"], json.dumps(d["ml_response"])])

    result = run_import(s, jsonl, csv_path)
    assert result.exit_code == 1, result.output  # bad lines make the exit code 1
    assert "imported 2,200 documents of 2 businesses" in result.output, result.output
    assert "5 bad lines dead-lettered" in result.output, result.output
    stats = run_sink(s, client)
    assert stats.records == 2_200 and stats.late > 0, stats.as_dict()

    report = compare(client)
    assert report["mismatches"] == [] and report["missing"] == 0, report["mismatches"]
    assert report["too_late_documents"] == 0 and report["documents"] == 3_600 + 2_200, report
    # ... and the ground truth of the files: hour windows, count and sum per business
    want: dict[tuple[str, int], list[float]] = {}
    for d in acme + beta:
        rec = to_ocr_result(d, "x", 0, "receipt", now)
        cell = want.setdefault((rec["business_id"], rec["event_time"] // HOUR * HOUR), [0, 0.0])
        cell[0] += 1
        cell[1] += rec["fields"]["total"]
    rows = client.query("SELECT business_id, toUnixTimestamp64Milli(window_start), document_count, total_amount "
                        "FROM windows FINAL WHERE granularity = 'hour'").result_rows
    got = {(b, int(ws)): [int(n), t] for b, ws, n, t in rows}
    live = {k for k in got if k[0] == "acme" and live_start <= k[1] < live_start + 2 * HOUR}
    for key, (n, total) in want.items():
        if key in live:
            assert got[key][0] > n  # the live documents are in these hours too
            continue
        assert got[key][0] == n and got[key][1] == pytest.approx(total, abs=1e-6), key
    assert {k for k in got if k not in live} == set(want) - live

    dead = client.query("SELECT source_offset, stage, error_message FROM dead_letters FINAL "
                        "WHERE source_topic = {t:String} ORDER BY source_offset",
                        parameters={"t": f"import:{jsonl}"}).result_rows
    assert [r[0] for r in dead] == sorted(bad) and {r[1] for r in dead} == {"import"}, dead
    assert "not JSON" in dead[0][2] and "business_id" in dead[1][2] and "ahead of the wall clock" in dead[4][2]

    # importing the same files again changes nothing
    before = client.query("SELECT business_id, granularity, window_start, document_count, total_amount, version "
                          "FROM windows FINAL ORDER BY 1, 2, 3").result_rows
    again = run_import(s, jsonl, csv_path)
    assert "imported 2,200 documents" in again.output, again.output
    stats = run_sink(s, client)
    assert stats.records == 0 and stats.duplicates == 2_200, stats.as_dict()
    after = client.query("SELECT business_id, granularity, window_start, document_count, total_amount, version "
                         "FROM windows FINAL ORDER BY 1, 2, 3").result_rows
    assert after == before
