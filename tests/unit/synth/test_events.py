"""synth.events: deterministic OcrResult events with ground truth, disorder, lateness and history."""

from __future__ import annotations

import math

from ocrstream.codec import make_serde
from synth.events import generate_events


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


def test_old_events_interleave_history_with_live_traffic() -> None:
    day = 86_400_000
    kw = dict(rate=5, duration_s=600, start_ms=1_714_521_600_000, seed=3)
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
