"""The sink's decode path without a broker: compiled prefix reader, object containers, history, validation."""

from __future__ import annotations

import io
import random

import fastavro
import pytest

from ocrstream.avro_prefix import compile_prefix_reader, container
from ocrstream.codec import MAGIC, CodecError, Schema, load_schema, make_serde
from ocrstream.errors import Permanent, UnknownBusiness
from ocrstream.paths import schemas_dir
from ocrstream.result_decode import ResultDecoder
from ocrstream.result_validation import PREFIX, FutureEventTime, RecordTooLarge
from ocrstream.settings import Settings
from synth.events import generate_events

NOW = 1_767_225_600_000
EVERY_TYPE = {
    "type": "record", "name": "T", "fields": [
        {"name": "s", "type": "string"}, {"name": "l", "type": "long"}, {"name": "i", "type": "int"},
        {"name": "f", "type": "float"}, {"name": "d", "type": "double"}, {"name": "b", "type": "boolean"},
        {"name": "u", "type": ["null", "string"]}, {"name": "u2", "type": ["null", "string", "double"]},
        {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}},
        {"name": "x", "type": {"type": "fixed", "name": "X", "size": 3}},
        {"name": "r", "type": {"type": "record", "name": "R", "fields": [
            {"name": "a", "type": "double"}, {"name": "m", "type": {"type": "map", "values": "float"}},
            {"name": "arr", "type": {"type": "array", "items": "long"}}]}},
        {"name": "by", "type": "bytes"}, {"name": "rest", "type": "string"},
    ]}  # fmt: skip


def _random_record(rnd: random.Random) -> dict:
    return {
        "s": "".join(rnd.choice("aé€x") for _ in range(rnd.randrange(0, 90))), "l": rnd.randrange(-2**62, 2**62),
        "i": rnd.randrange(-2**31, 2**31), "f": rnd.random(), "d": rnd.uniform(-1e300, 1e300),
        "b": rnd.random() < 0.5, "u": rnd.choice([None, "x" * rnd.randrange(200)]),
        "u2": rnd.choice([None, "s", 2.5]), "e": rnd.choice("ABC"), "x": bytes(rnd.randrange(256) for _ in range(3)),
        "r": {"a": rnd.random(), "m": {f"k{j}": float(j) for j in range(rnd.randrange(5))},
              "arr": [rnd.randrange(-5, 10**12) for _ in range(rnd.randrange(70))]},
        "by": bytes(rnd.randrange(256) for _ in range(rnd.randrange(200))), "rest": "tail",
    }  # fmt: skip


def test_prefix_reader_equals_fastavro_for_every_supported_type() -> None:
    parsed = fastavro.parse_schema(EVERY_TYPE)
    reader = compile_prefix_reader(EVERY_TYPE, "rest")
    assert reader.names == ("s", "l", "i", "f", "d", "b", "u", "u2", "e", "x", "r.a", "r.m", "r.arr", "by")
    rnd = random.Random(1)
    for _ in range(300):
        rec = _random_record(rnd)
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed, rec)
        data = buf.getvalue()
        back = fastavro.schemaless_reader(io.BytesIO(data), parsed, None)
        values, end = reader(data)
        want = (back["s"], back["l"], back["i"], back["f"], back["d"], back["b"], back["u"], back["u2"], back["e"],
                back["x"], back["r"]["a"], back["r"]["m"], back["r"]["arr"], back["by"])
        assert values == want
        assert data[end:] == b"\x08tail"  # stopped exactly before "rest"
    lengths = compile_prefix_reader(EVERY_TYPE, "x", {"s", "u"})
    values, _ = lengths(data)
    assert values[0] == len(rec["s"].encode()) and values[6] == (None if rec["u"] is None else len(rec["u"]))
    with pytest.raises(ValueError, match="no field"):
        compile_prefix_reader(EVERY_TYPE, "nope")


def test_prefix_of_ocr_results_and_the_container_round_trip() -> None:
    schema = load_schema("OcrResult")
    serde = make_serde("OcrResult")
    events = list(generate_events(3, rate=5, duration_s=60, start_ms=NOW, seed=4))
    decoder = ResultDecoder(Settings(), now_ms=lambda: NOW)
    assert decoder.reader.names == PREFIX
    bodies = []
    for e in events:
        prefix, body = decoder.decode(serde.encode(e))
        assert prefix == (e["document_id"], e["business_id"], e["event_time"], e["doc_type"], e["score"],
                          e["ocr_score"], e["timings"]["ocr_s"], e["timings"]["fetch_s"], e["timings"]["classify_s"],
                          e["timings"]["extract_s"], e["fields"]["total"])
        bodies.append(body)
    blob = container(schema.raw, bodies)
    assert list(fastavro.reader(io.BytesIO(blob))) == events


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_records_of_older_writer_schemas_decode_to_the_same_prefix(version: str) -> None:
    old = Schema.from_file(schemas_dir() / "history" / f"OcrResult.{version}.avsc")
    names = {f["name"] for f in old.raw["fields"]}
    (event,) = list(generate_events(1, rate=1, duration_s=1, start_ms=NOW, seed=5))
    rec = {k: v for k, v in event.items() if k in names}
    if version == "v1":
        rec["line_items"] = [{k: v for k, v in item.items() if k not in ("raw_text", "page", "box")}
                             for item in rec["line_items"]]
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, old.parsed, rec)
    decoder = ResultDecoder(Settings(), now_ms=lambda: NOW)
    prefix, body = decoder.decode(MAGIC + old.fingerprint + buf.getvalue())
    assert decoder.reencoded == 1
    assert prefix[:4] == (event["document_id"], event["business_id"], event["event_time"], event["doc_type"])
    assert decoder.full(body)["fields"] == event["fields"]


def test_undecodable_and_out_of_range_records() -> None:
    serde = make_serde("OcrResult")
    settings = Settings().with_overrides(**{"sink.max_result_bytes": 4096,
                                            "worker.known_businesses": ["biz-000", "biz-001"]})
    decoder = ResultDecoder(settings, now_ms=lambda: NOW)
    (good,) = list(generate_events(1, rate=1, duration_s=1, start_ms=NOW, seed=6))
    data = serde.encode(good)
    assert decoder.decode(data)[0][0] == good["document_id"]
    with pytest.raises(CodecError):
        decoder.decode(data[:25])  # cut inside the window prefix
    with pytest.raises(CodecError):
        decoder.decode(b"\xc3\x01" + b"\x00" * 8 + b"garbage")
    with pytest.raises(RecordTooLarge):
        decoder.decode(serde.encode({**good, "text": "x" * 5000}))

    def bad(**changes: object) -> Exception:
        rec = {**good, **changes}
        with pytest.raises(Permanent) as info:
            decoder.decode(serde.encode(rec))
        return info.value

    assert "score" in str(bad(score=1.0000001))
    assert decoder.decode(serde.encode({**good, "score": 1.0, "ocr_score": 0.0}))  # the bounds are in range
    assert isinstance(bad(event_time=NOW + 86_400_001), FutureEventTime)
    assert decoder.decode(serde.encode({**good, "event_time": NOW + 86_400_000}))  # exactly one day ahead: ok
    assert "timings.fetch_s" in str(bad(timings={**good["timings"], "fetch_s": float("inf")}))
    assert "fields.total" in str(bad(fields={**good["fields"], "total": float("nan")}))
    assert isinstance(bad(business_id="biz-999"), UnknownBusiness)
    err = bad(document_id="")
    assert "document_id" in str(err)
