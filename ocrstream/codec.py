"""Avro encoding of every record that crosses a topic.

Two wire formats, one interface (:class:`Serde`):

* **Single-object encoding** (default, registry-free, Avro spec §"Single object
  encoding"): ``C3 01`` + 8-byte little-endian CRC-64-AVRO fingerprint of the
  writer schema's Parsing Canonical Form + the Avro binary body. The reader
  looks the writer schema up by fingerprint in a :class:`SchemaStore` and
  resolves it against its own reader schema, so a field added with a default
  reads both ways (old reader / new writer and new reader / old writer).
* **Confluent Schema Registry** (when ``kafka.schema_registry_url`` is set):
  confluent-kafka's ``AvroSerializer``/``AvroDeserializer`` (magic ``00`` +
  4-byte schema id).

Fast paths go through the same serde: :meth:`Serde.header` gives the bytes
before the Avro body in either wire format (``C3 01`` + fingerprint, or
``00`` + the registry's schema id), and :class:`RunEncoder` composes bodies
from pre-encoded runs of fields for producers that write many records sharing
most of their values (the load generator), checked against :meth:`Serde.encode`.

Every decoding or encoding failure — unknown fingerprint, wrong magic,
truncated body, a value of the wrong type — raises :class:`CodecError` with a
one-line message; the stream layer sends such records to the dead-letter topic.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import fastavro
import fastavro.read as _fastavro_read
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from ocrstream.avro_prefix import zigzag
from ocrstream.errors import Permanent
from ocrstream.paths import schemas_dir

# Timestamps travel as ``timestamp-millis`` longs and are handed to Python as
# plain ``int`` epoch milliseconds (not datetimes): the window operator works in
# integer ms and the hot path avoids datetime objects. Writers accept both.
_fastavro_read.LOGICAL_READERS["long-timestamp-millis"] = lambda value, *_: value

MAGIC = b"\xc3\x01"
HEADER_LEN = 10

SCHEMA_NAMES = (
    "DocumentRef",
    "VideoFrame",
    "ClassifiedDocument",
    "OcrResult",
    "WindowAggregate",
    "DeadLetter",
)


class CodecError(Permanent, ValueError):
    """A record could not be encoded or decoded; ``str(err)`` is one line."""

    def __init__(self, message: str, *, schema: str | None = None) -> None:
        super().__init__(message)
        self.schema = schema


@dataclass(frozen=True)
class Schema:
    """A parsed Avro schema with its CRC-64-AVRO fingerprint.

    ``parsed`` carries fastavro's "already parsed" hint, so readers and
    writers never re-parse it per record (a 6x difference on the hot path).
    """

    name: str
    raw: dict[str, Any]
    parsed: Any
    fingerprint: bytes  # 8 bytes, little-endian as on the wire

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "Schema":
        parsed = parse_schema(raw, _force=True)
        canonical = to_parsing_canonical_form(parse_schema(raw, _write_hint=False, _force=True))
        fp_hex = fingerprint(canonical, "CRC-64-AVRO")
        # fastavro's hex is already the wire order: the 64-bit Rabin
        # fingerprint as 8 little-endian bytes (checked against the spec's
        # reference algorithm in tests/unit/ocrstream/test_codec.py).
        fp = bytes.fromhex(fp_hex)
        return cls(name=raw.get("name", "?"), raw=raw, parsed=parsed, fingerprint=fp)

    @classmethod
    def from_file(cls, path: Path) -> "Schema":
        return cls.from_dict(json.loads(path.read_text()))


@dataclass
class SchemaStore:
    """Writer schemas by fingerprint (every version a reader may meet)."""

    by_fingerprint: dict[bytes, Schema] = field(default_factory=dict)

    def add(self, schema: Schema) -> Schema:
        self.by_fingerprint[schema.fingerprint] = schema
        return schema

    def get(self, fp: bytes) -> Schema:
        try:
            return self.by_fingerprint[fp]
        except KeyError:
            raise CodecError(
                f"unknown writer schema fingerprint {fp[::-1].hex()} "
                f"(not among {len(self.by_fingerprint)} known schemas)"
            ) from None


@lru_cache(maxsize=1)
def default_store() -> SchemaStore:
    """Store holding every ``schemas/*.avsc`` and ``schemas/history/*.avsc``."""
    store = SchemaStore()
    root = schemas_dir()
    for path in sorted(root.glob("*.avsc")) + sorted(root.glob("history/*.avsc")):
        store.add(Schema.from_file(path))
    return store


@lru_cache(maxsize=None)
def load_schema(name: str) -> Schema:
    """The current version of schema ``name`` (e.g. ``"OcrResult"``)."""
    path = schemas_dir() / f"{name}.avsc"
    if not path.exists():
        raise CodecError(f"no schema file {path}")
    return Schema.from_file(path)


class Serde(Protocol):
    """Encodes/decodes one record type for one topic."""

    schema_name: str
    schema: Schema

    def header(self, topic: str | None = None) -> bytes:
        """The bytes every record ``encode`` writes for ``topic`` starts with (the rest is the Avro body)."""
        ...

    def encode(self, record: dict[str, Any], topic: str | None = None) -> bytes: ...

    def decode(self, data: bytes, topic: str | None = None) -> dict[str, Any]: ...


class AvroCodec:
    """Single-object Avro codec for one reader/writer schema.

    ``encode`` writes with ``schema`` (the current version); ``decode`` reads
    any writer version known to ``store`` and resolves it to ``schema``.
    """

    def __init__(self, schema: Schema, store: SchemaStore | None = None) -> None:
        self.schema = schema
        self.schema_name = schema.name
        self.store = store or default_store()
        self.store.add(schema)
        self._header = MAGIC + schema.fingerprint

    def header(self, topic: str | None = None) -> bytes:
        """``C3 01`` + the schema's fingerprint (the same for every topic)."""
        return self._header

    def encode(self, record: dict[str, Any], topic: str | None = None) -> bytes:
        buf = io.BytesIO()
        buf.write(self._header)
        try:
            fastavro.schemaless_writer(buf, self.schema.parsed, record, strict_allow_default=True)
        except (ValueError, TypeError, KeyError, AttributeError, struct.error) as exc:
            raise CodecError(
                f"cannot encode {self.schema_name}: {_one_line(exc)}", schema=self.schema_name
            ) from exc
        return buf.getvalue()

    def decode(self, data: bytes, topic: str | None = None) -> dict[str, Any]:
        if data is None or len(data) < HEADER_LEN:
            raise CodecError(
                f"not an Avro single-object record: {0 if data is None else len(data)} bytes "
                f"(need at least {HEADER_LEN})",
                schema=self.schema_name,
            )
        if data[:2] != MAGIC:
            raise CodecError(
                f"not an Avro single-object record: magic {data[:2].hex()} != c301",
                schema=self.schema_name,
            )
        fp = bytes(data[2:HEADER_LEN])
        if fp == self.schema.fingerprint:  # the common case: no schema resolution needed
            writer, reader = self.schema, None
        else:
            writer = self.store.get(fp)
            reader = self.schema.parsed
        buf = io.BytesIO(data)
        buf.seek(HEADER_LEN)
        try:
            record = fastavro.schemaless_reader(buf, writer.parsed, reader)
        except (EOFError, IndexError, struct.error) as exc:  # ran off the end of the buffer
            raise CodecError(
                f"truncated {writer.name} body ({len(data)} bytes)", schema=self.schema_name
            ) from exc
        except Exception as exc:  # fastavro raises a mix of types on bad input
            raise CodecError(
                f"cannot decode {writer.name} as {self.schema_name}: {_one_line(exc)}",
                schema=self.schema_name,
            ) from exc
        if buf.tell() != len(data):
            raise CodecError(
                f"{len(data) - buf.tell()} trailing bytes after {writer.name} body",
                schema=self.schema_name,
            )
        return record


class RegistryCodec:
    """Confluent Schema Registry wire format via confluent-kafka's serializers."""

    def __init__(self, schema: Schema, registry_url: str) -> None:
        from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer

        self.schema = schema
        self.schema_name = schema.name
        client = _registry_client(registry_url)
        schema_str = json.dumps(schema.raw)
        self._client = client
        self._schema_str = schema_str
        self._ser = AvroSerializer(client, schema_str)
        self._de = AvroDeserializer(client, schema_str)
        self._headers: dict[str, bytes] = {}

    def header(self, topic: str | None = None) -> bytes:
        """``00`` + the 4-byte big-endian id the registry gives this schema under ``<topic>-value``
        (registered if new, as the serializer does on its first record)."""
        subject = f"{topic or ''}-value"
        if subject not in self._headers:
            from confluent_kafka.schema_registry import Schema as RegistrySchema

            try:
                schema_id = self._client.register_schema(subject, RegistrySchema(self._schema_str, "AVRO"))
            except Exception as exc:
                raise CodecError(f"cannot register {self.schema_name} as {subject}: {_one_line(exc)}",
                                 schema=self.schema_name) from exc
            self._headers[subject] = b"\x00" + struct.pack(">I", schema_id)
        return self._headers[subject]

    def encode(self, record: dict[str, Any], topic: str | None = None) -> bytes:
        from confluent_kafka.serialization import MessageField, SerializationContext

        try:
            return self._ser(record, SerializationContext(topic or "", MessageField.VALUE))
        except Exception as exc:
            raise CodecError(f"cannot encode {self.schema_name}: {_one_line(exc)}") from exc

    def decode(self, data: bytes, topic: str | None = None) -> dict[str, Any]:
        from confluent_kafka.serialization import MessageField, SerializationContext

        try:
            return self._de(data, SerializationContext(topic or "", MessageField.VALUE))
        except Exception as exc:
            raise CodecError(f"cannot decode {self.schema_name}: {_one_line(exc)}") from exc


@lru_cache(maxsize=None)
def _registry_client(registry_url: str) -> Any:
    """One registry client per URL in a process (its schema cache shared by every serde;
    ``mock://`` gives confluent-kafka's in-process registry, for tests)."""
    from confluent_kafka.schema_registry import SchemaRegistryClient

    return SchemaRegistryClient.new_client({"url": registry_url})


def make_serde(schema_name: str, registry_url: str | None = None) -> Serde:
    """The serde for ``schema_name``: registry path if a URL is given, else single-object."""
    schema = load_schema(schema_name)
    if registry_url:
        return RegistryCodec(schema, registry_url)
    return AvroCodec(schema)


encode_long = zigzag
"""Avro ``int``/``long``: a zig-zag varint."""


def encode_string(s: str) -> bytes:
    """Avro ``string``: its UTF-8 length as a long, then the bytes."""
    b = s.encode()
    return encode_long(len(b)) + b


class RunEncoder:
    """Records of one schema composed from pre-encoded runs of fields (a producer's fast path).

    An Avro body is the concatenation of its fields' encodings in schema order.
    The fields named ``per_record`` vary per record and the caller encodes them
    itself (:func:`encode_long`, :func:`encode_string`); every other run of
    consecutive fields is encoded once by :meth:`shared_parts` (with fastavro)
    for records that share those values, and reused. :meth:`compose` puts
    ``serde``'s header (so a configured registry is honoured) and the runs
    together; :meth:`verify` checks a composed record against ``serde.encode``.
    """

    def __init__(self, serde: Serde, topic: str | None, per_record: set[str] | frozenset[str]) -> None:
        self.serde = serde
        self.topic = topic
        self.header = serde.header(topic)
        self.runs = _field_runs(serde.schema.raw, set(per_record))

    def shared_parts(self, record: dict[str, Any]) -> list[bytes]:
        """The encodings of the runs of fields not in ``per_record``, in schema order."""
        parts = []
        for run in self.runs:
            if isinstance(run, tuple):
                continue
            buf = io.BytesIO()
            try:
                fastavro.schemaless_writer(buf, run, {k: record[k] for k in run["__names"]})
            except (ValueError, TypeError, KeyError, AttributeError, struct.error) as exc:
                raise CodecError(f"cannot encode {self.serde.schema_name}: {_one_line(exc)}",
                                 schema=self.serde.schema_name) from exc
            parts.append(buf.getvalue())
        return parts

    def compose(self, own: dict[str, bytes], shared: list[bytes]) -> bytes:
        """Header + body: ``own`` maps each per-record field to its encoding, ``shared`` is
        :meth:`shared_parts` of a record with the same other values."""
        it = iter(shared)
        return self.header + b"".join(
            b"".join(own[n] for n in run) if isinstance(run, tuple) else next(it) for run in self.runs)

    def verify(self, value: bytes, record: dict[str, Any]) -> None:
        """Raise :class:`CodecError` unless ``value`` is exactly ``serde.encode(record)``."""
        if value != self.serde.encode(record, self.topic):
            raise CodecError(f"fast {self.serde.schema_name} encoding differs from the serde's",
                             schema=self.serde.schema_name)


def _field_runs(schema: dict[str, Any], per_record: set[str]) -> list[Any]:
    """The record's fields cut into runs: a tuple of consecutive per-record field names, or a
    parsed record schema of consecutive other fields (``__names`` lists them)."""
    runs: list[Any] = []
    cur: list[dict[str, Any]] = []
    own: list[str] = []

    def close_shared() -> None:
        if cur:
            sub = {"type": "record", "name": f"Run{len(runs)}", "namespace": schema.get("namespace"),
                   "fields": list(cur)}
            parsed = parse_schema(sub, _force=True)
            parsed["__names"] = [f["name"] for f in cur]
            runs.append(parsed)
            cur.clear()

    for f in schema["fields"]:
        if f["name"] in per_record:
            close_shared()
            own.append(f["name"])
        else:
            if own:
                runs.append(tuple(own))
                own.clear()
            cur.append(f)
    close_shared()
    if own:
        runs.append(tuple(own))
    return runs


def _one_line(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return " ".join(text.split())[:300]
