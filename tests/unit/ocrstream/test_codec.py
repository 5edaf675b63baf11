"""Avro single-object codec: round trip, evolution, and every failure's typed error."""

from __future__ import annotations

import copy

import pytest

from ocrstream.codec import (
    MAGIC,
    SCHEMA_NAMES,
    AvroCodec,
    CodecError,
    RegistryCodec,
    Schema,
    SchemaStore,
    load_schema,
    make_serde,
)

REF = {
    "document_id": "doc-1",
    "business_id": "acme",
    "uri": "s3://ocrstream-documents/sha256/ab/abc.png",
    "sha256": "ab" * 32,
    "size_bytes": 12345,
    "media_type": "image/png",
    "event_time": 1_763_000_000_123,
    "source": "upload",
    "presigned_url": None,
    "filename": "r.png",
    "published_at": 1_763_000_000_456,
}


def _rabin(data: bytes) -> int:
    """CRC-64-AVRO exactly as the Avro specification writes it."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def test_every_schema_loads_and_header_is_spec_fingerprint() -> None:
    from fastavro.schema import to_parsing_canonical_form

    for name in SCHEMA_NAMES:
        schema = load_schema(name)
        expected = _rabin(to_parsing_canonical_form(schema.parsed).encode()).to_bytes(8, "little")
        assert schema.fingerprint == expected, name


def test_round_trip_document_ref() -> None:
    codec = make_serde("DocumentRef")
    data = codec.encode(REF)
    assert data[:2] == MAGIC and data[2:10] == load_schema("DocumentRef").fingerprint
    assert codec.decode(data) == REF


def test_round_trip_ocr_result_nested() -> None:
    record = {
        "document_id": "d", "business_id": "b", "uri": "file:///x", "source": "upload",
        "event_time": 1, "processed_at": 2, "doc_type": "receipt", "type_confidence": 0.75,
        "engine": "onnx", "text": "TOTAL 12.50", "pages": 1,
        "lines": [{"text": "TOTAL 12.50", "confidence": 0.5, "box": [1.0, 2.0, 3.0, 4.0], "page": 0}],
        "fields": {"vendor": "Shop", "date": "2026-01-02", "currency": "EUR", "subtotal": None,
                   "tax": None, "total": 12.5, "confidences": {"total": 0.25}},
        "line_items": [{"description": "tea", "quantity": 1.0, "unit_price": 12.5, "amount": 12.5,
                        "confidence": 0.5, "raw_text": "tea 12.50", "page": 0, "box": [1.0, 5.0, 3.0, 6.0]}],
        "field_evidence": {"total": {"value": 12.5, "confidence": 0.25, "raw_text": "TOTAL 12.50", "page": 0,
                                     "box": [1.0, 2.0, 3.0, 4.0]}},
        "page_sizes": [{"width": 10, "height": 20}],
        "score": 0.5, "ocr_score": 0.25,
        "timings": {"fetch_s": 0.0, "classify_s": 0.01, "ocr_s": 0.5, "extract_s": 0.001},
    }
    codec = make_serde("OcrResult")
    assert codec.decode(codec.encode(record)) == record


def _evolved(base: Schema) -> Schema:
    raw = copy.deepcopy(base.raw)
    raw["fields"].append({"name": "priority", "type": "int", "default": 7})
    return Schema.from_dict(raw)


def test_evolution_new_reader_reads_old_writer() -> None:
    old = load_schema("DocumentRef")
    new = _evolved(old)
    store = SchemaStore()
    old_codec = AvroCodec(old, store)
    new_codec = AvroCodec(new, store)
    decoded = new_codec.decode(old_codec.encode(REF))
    assert decoded["priority"] == 7  # the default fills the field the writer lacked
    assert {k: decoded[k] for k in REF} == REF


def test_evolution_old_reader_reads_new_writer() -> None:
    old = load_schema("DocumentRef")
    new = _evolved(old)
    store = SchemaStore()
    old_codec = AvroCodec(old, store)
    new_codec = AvroCodec(new, store)
    decoded = old_codec.decode(new_codec.encode({**REF, "priority": 3}))
    assert decoded == REF  # the new field is skipped


def test_unknown_fingerprint() -> None:
    codec = AvroCodec(load_schema("DocumentRef"), SchemaStore())
    data = bytearray(codec.encode(REF))
    data[2:10] = b"\x01" * 8
    with pytest.raises(CodecError, match="unknown writer schema fingerprint"):
        codec.decode(bytes(data))


def test_truncated_body() -> None:
    codec = make_serde("DocumentRef")
    data = codec.encode(REF)
    with pytest.raises(CodecError, match="truncated"):
        codec.decode(data[:-5])
    with pytest.raises(CodecError, match="at least 10"):
        codec.decode(data[:6])


def test_wrong_magic_and_trailing_bytes() -> None:
    codec = make_serde("DocumentRef")
    data = codec.encode(REF)
    with pytest.raises(CodecError, match="magic"):
        codec.decode(b"\x00\x01" + data[2:])
    with pytest.raises(CodecError, match="trailing"):
        codec.decode(data + b"\x00")


def test_wrong_type_on_encode_and_on_decode() -> None:
    codec = make_serde("DocumentRef")
    with pytest.raises(CodecError, match="size_bytes"):
        codec.encode({**REF, "size_bytes": "large"})
    with pytest.raises(CodecError):
        codec.encode({k: v for k, v in REF.items() if k != "business_id"})
    # A VideoFrame record read as a DocumentRef: schemas do not resolve.
    video = make_serde("VideoFrame").encode({
        "stream_id": "cam", "business_id": "b", "frame_number": 1, "event_time": 5,
        "image_jpeg": b"\xff\xd8", "image_uri": None, "sha256": "00", "phash": "0" * 16,
        "sharpness": 1.0, "width": 2, "height": 2,
    })
    with pytest.raises(CodecError, match="cannot decode VideoFrame as DocumentRef"):
        codec.decode(video)


def test_codec_error_is_one_line() -> None:
    codec = make_serde("DocumentRef")
    try:
        codec.decode(b"garbage-garbage-garbage")
    except CodecError as exc:
        assert "\n" not in str(exc)
    else:
        pytest.fail("garbage decoded")


def _events():
    from synth.events import generate_events

    return generate_events(3, rate=50.0, duration_s=4.0, start_ms=1_714_521_600_000, seed=7, templates=8,
                           out_of_order=0.2)


def test_generated_events_with_a_registry_decode_with_the_registry_aware_decoders() -> None:
    """With ``kafka.schema_registry_url`` set, the generator's fast path writes Confluent framing
    (``00`` + the registry's schema id), and the sink's decoder and the registry serde read it."""
    from ocrstream.settings import Settings
    from producers.events import encoded_events
    from ocrstream.result_decode import BUSINESS_ID, DOCUMENT_ID, EVENT_TIME, ResultDecoder

    settings = Settings().with_overrides(**{"kafka.schema_registry_url": "mock://codec-test-registry"})
    topic = settings.topic("ocr-results")
    pairs = list(encoded_events(settings, _events(), topic))
    expected = list(_events())
    assert len(pairs) == len(expected) == 200
    serde = make_serde("OcrResult", settings.kafka.schema_registry_url)
    header = serde.header(topic)
    assert header[:1] == b"\x00" and len(header) == 5
    decoder = ResultDecoder(settings)
    for (key, value), event in zip(pairs, expected):
        assert value.startswith(header) and not value.startswith(MAGIC)
        assert key == event["business_id"].encode()
        assert serde.decode(value, topic) == event
        prefix, _body = decoder.decode(value)
        assert (prefix[DOCUMENT_ID], prefix[BUSINESS_ID], prefix[EVENT_TIME]) == (
            event["document_id"], event["business_id"], event["event_time"])
    assert decoder.reencoded == len(pairs)


def test_generated_events_without_a_registry_are_single_object_avro() -> None:
    from ocrstream.settings import Settings
    from producers.events import encoded_events

    codec = AvroCodec(load_schema("OcrResult"))
    pairs = list(encoded_events(Settings(), _events(), "t.ocr-results"))
    assert [value for _, value in pairs] == [codec.encode(e) for e in _events()]


def test_run_encoder_refuses_a_composition_that_differs_from_the_serde() -> None:
    from ocrstream.codec import RunEncoder, encode_string

    enc = RunEncoder(make_serde("DocumentRef"), None, {"document_id"})
    parts = enc.shared_parts(REF)
    good = enc.compose({"document_id": encode_string(REF["document_id"])}, parts)
    assert good == make_serde("DocumentRef").encode(REF)
    enc.verify(good, REF)
    bad = enc.compose({"document_id": encode_string("doc-2")}, parts)
    with pytest.raises(CodecError, match="fast DocumentRef encoding differs"):
        enc.verify(bad, REF)


def test_registry_url_selects_confluent_serializer(monkeypatch: pytest.MonkeyPatch) -> None:
    from confluent_kafka.schema_registry import SchemaRegistryClient

    from ocrstream import codec

    # the failure is the point: no retries with backoff against the closed port
    monkeypatch.setattr(codec, "_registry_client", lambda url: SchemaRegistryClient({"url": url, "max.retries": 0}))
    serde = make_serde("DocumentRef", "http://127.0.0.1:9")  # nothing listens on port 9
    assert isinstance(serde, RegistryCodec)
    with pytest.raises(CodecError, match="cannot encode DocumentRef"):
        serde.encode({"document_id": "x"}, topic="t")
