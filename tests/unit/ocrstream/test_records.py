"""ocrstream.records against schemas/*.avsc: a schema changed without its record (or the reverse) fails here."""

from __future__ import annotations

import json
import re
import types
import typing
from pathlib import Path
from typing import Any

import pytest

from ocrstream import records
from ocrstream.codec import make_serde
from ocrstream.paths import schemas_dir

_PRIMITIVE = {"string": str, "bytes": bytes, "int": int, "long": int, "float": float, "double": float,
              "boolean": bool, "null": type(None)}


def _avsc(name: str) -> dict[str, Any]:
    return json.loads((schemas_dir() / f"{name}.avsc").read_text())


def _from_avro(t: Any, named: dict[str, dict[str, Any]]) -> Any:
    """A comparable shape of an Avro type: a frozenset for unions, tuples for containers, names for records."""
    if isinstance(t, list):
        return frozenset(_from_avro(b, named) for b in t)
    if isinstance(t, str):
        return ("record", t) if t in named else _PRIMITIVE[t]
    kind = t["type"]
    if kind == "record":
        named[t["name"]] = t
        return ("record", t["name"])
    if kind == "map":
        return ("map", _from_avro(t["values"], named))
    if kind == "array":
        return ("array", _from_avro(t["items"], named))
    if kind == "enum":
        return ("enum", tuple(t["symbols"]))
    return _from_avro(kind, named)  # a logical type on a primitive


def _from_python(tp: Any) -> Any:
    """The same shape for a record's annotation."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return frozenset(_from_python(a) for a in typing.get_args(tp))
    if origin is dict:
        key, value = typing.get_args(tp)
        assert key is str
        return ("map", _from_python(value))
    if origin is list:
        return ("array", _from_python(typing.get_args(tp)[0]))
    if typing.is_typeddict(tp):
        return ("record", tp.__name__)
    if tp is None:
        return type(None)
    return tp


def _unwrap(shape: Any) -> frozenset[Any]:
    return shape if isinstance(shape, frozenset) else frozenset({shape})


def _check_record(record_type: type, schema: dict[str, Any], named: dict[str, dict[str, Any]]) -> list[str]:
    hints = typing.get_type_hints(record_type)
    problems: list[str] = []
    names = [f["name"] for f in schema["fields"]]
    if list(hints) != names:
        problems.append(f"{schema['name']}: fields {list(hints)} != schema {names}")
    defaults = records.DEFAULTS[record_type]
    for f in schema["fields"]:
        name = f["name"]
        if name not in hints:
            continue
        want = _unwrap(_from_avro(f["type"], named))
        got = _unwrap(_from_python(hints[name]))
        if got != want:
            problems.append(f"{schema['name']}.{name}: type {got} != schema {want}")
        optional = name in record_type.__optional_keys__
        if optional != ("default" in f):
            problems.append(f"{schema['name']}.{name}: NotRequired={optional} but schema default={'default' in f}")
        if "default" in f and defaults.get(name, ...) != f["default"]:
            problems.append(f"{schema['name']}.{name}: default {defaults.get(name, '<none>')!r} != {f['default']!r}")
    extra = set(defaults) - set(record_type.__optional_keys__)
    if extra:
        problems.append(f"{schema['name']}: defaults for keys that are not optional: {sorted(extra)}")
    for f in schema["fields"]:  # nested records: checked against the record type of the same name
        for shape in _unwrap(_from_avro(f["type"], named)):
            for inner in _nested_records(shape):
                nested_type = getattr(records, inner)
                problems += _check_record(nested_type, named[inner], named)
    return problems


def _nested_records(shape: Any) -> list[str]:
    if isinstance(shape, tuple) and shape[0] == "record":
        return [shape[1]]
    if isinstance(shape, tuple) and shape[0] in ("map", "array"):
        return [n for s in _unwrap(shape[1]) for n in _nested_records(s)]
    return []


def test_every_top_level_schema_has_its_record() -> None:
    on_disk = sorted(p.stem for p in Path(schemas_dir()).glob("*.avsc"))
    assert sorted(records.RECORDS) == on_disk


@pytest.mark.parametrize("name", sorted(records.RECORDS))
def test_record_matches_its_schema(name: str) -> None:
    record_type = records.RECORDS[name]
    assert record_type.__name__ == name
    schema = _avsc(name)
    assert _check_record(record_type, schema, {}) == []


def test_the_checker_sees_a_changed_schema() -> None:
    schema = _avsc("DocumentRef")
    schema["fields"][4]["type"] = "string"  # size_bytes: long -> string
    schema["fields"][7]["default"] = "watch"  # source's default
    schema["fields"].append({"name": "added", "type": "int", "default": 0})
    problems = _check_record(records.DocumentRef, schema, {})
    assert any("size_bytes: type" in p for p in problems)
    assert any("source: default" in p for p in problems)
    assert any("fields" in p and "added" in p for p in problems)


def _doc_symbols(schema: dict[str, Any], field: str) -> tuple[str, ...]:
    """The ``a | b | c`` vocabulary a string field's doc lists."""
    doc = next(f for f in schema["fields"] if f["name"] == field)["doc"]
    match = re.match(r"\s*([a-z_]+(?:\s*\|\s*[a-z_]+)+)", doc)
    assert match, doc
    return tuple(s.strip() for s in match.group(1).split("|"))


@pytest.mark.parametrize(("schema", "field", "vocabulary"), [
    ("ClassifiedDocument", "doc_type", records.DOC_TYPES),
    ("DeadLetter", "stage", records.STAGES),
    ("DocumentRef", "source", records.SOURCES),
    ("WindowAggregate", "granularity", records.GRANULARITIES),
    ("WindowAggregate", "status", records.WINDOW_STATUSES),
])  # fmt: skip
def test_vocabularies_are_the_schemas_symbols(schema: str, field: str, vocabulary: tuple[str, ...]) -> None:
    assert _doc_symbols(_avsc(schema), field) == vocabulary


def test_field_names_are_the_extracted_fields_and_the_evidence_keys() -> None:
    ocr = _avsc("OcrResult")
    extracted = next(f for f in ocr["fields"] if f["name"] == "fields")["type"]
    assert {f["name"] for f in extracted["fields"]} - {"confidences"} == set(records.FIELD_NAMES)
    evidence = next(f for f in ocr["fields"] if f["name"] == "field_evidence")["type"]["values"]
    listed = re.search(r"Keys of the map: ([a-z, ]+);", evidence["doc"]).group(1)
    assert {k.strip() for k in listed.split(",")} == set(records.FIELD_NAMES)


def test_doc_type_subsets_keep_the_vocabulary_order() -> None:
    for subset in (records.TEXT_DOC_TYPES, records.FIELD_DOC_TYPES):
        assert list(subset) == [t for t in records.DOC_TYPES if t in subset]
    assert set(records.FIELD_DOC_TYPES) <= set(records.TEXT_DOC_TYPES)


def test_the_vocabulary_is_imported_not_written_again() -> None:
    from ocr_agents import classify, types as ocr_types
    from ocrstream.settings import OcrSettings
    from synth import documents

    assert classify.DOC_TYPES is records.DOC_TYPES
    assert ocr_types.FIELD_NAMES is records.FIELD_NAMES
    assert documents.KINDS is records.DOC_TYPES
    assert set(OcrSettings().routing) == set(records.DOC_TYPES)


def test_a_record_built_with_defaults_round_trips_through_the_codec() -> None:
    ref = records.DocumentRef(document_id="d", business_id="b", uri="s3://x/y", sha256="0" * 64, size_bytes=3,
                              media_type="image/png", event_time=1_700_000_000_000)
    full = records.with_defaults(records.DocumentRef, ref)
    assert make_serde("DocumentRef").decode(make_serde("DocumentRef").encode(ref)) == full
    a, b = records.with_defaults(records.OcrLine, {}), records.with_defaults(records.OcrLine, {})
    a["box"].append(1.0)
    assert b["box"] == []  # defaults are copied, never shared
