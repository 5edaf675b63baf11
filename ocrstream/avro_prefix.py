"""Avro building blocks for hot paths: a compiled prefix reader and object-container files.

* :func:`compile_prefix_reader` — reads only the first fields of a record body
  (up to, not including, a named field, possibly nested), as a flat tuple, with code generated
  for the schema at hand (one Python function, no per-field dispatch). Nested
  records are flattened (dotted names, e.g. ``fields.total``); unions of
  ``null`` and one type give ``None`` or the value; maps and arrays of
  primitives give dicts and lists. It is the reason ``OcrResult`` puts the
  fields the windows need first: the sink decodes eleven small values of a record
  instead of all of it (the full fastavro decode costs 25-45 µs).
* :func:`container` — an Avro object container file (``Obj\\x01``, the writer
  schema, one uncompressed block) from already encoded record bodies: how
  bodies reach ClickHouse's ``FORMAT Avro`` input without being decoded here.
* :func:`zigzag` — Avro's ``int``/``long`` encoding.

A body the reader cannot parse raises ``ValueError``, ``IndexError``,
``struct.error`` or ``UnicodeDecodeError``; :class:`ocrstream.codec.AvroCodec`
turns them into :class:`~ocrstream.codec.CodecError`.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from typing import Any

def zigzag(n: int) -> bytes:
    """Avro ``long``/``int``: zig-zag varint."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def container(schema: dict[str, Any], datums: list[Any], count: int | None = None, sync: bytes | None = None) -> bytes:
    """An object container file holding ``datums`` (encoded with ``schema``) in one block.

    ``datums`` may split records into several chunks (bytes-like); ``count`` is then
    the number of records (default: one per chunk).
    """
    sync = sync or os.urandom(16)
    meta = {b"avro.schema": json.dumps(schema, separators=(",", ":")).encode(), b"avro.codec": b"null"}
    header = b"".join([b"Obj\x01", zigzag(len(meta)),
                       *(zigzag(len(k)) + k + zigzag(len(v)) + v for k, v in meta.items()), zigzag(0), sync])
    data = b"".join(datums)
    return b"".join((header, zigzag(len(datums) if count is None else count), zigzag(len(data)), data, sync))


class PrefixReader:
    """``reader(data, pos) -> (values, end)``: the first fields of a body starting at ``pos``."""

    def __init__(self, names: tuple[str, ...], fn: Callable[[bytes, int], tuple[tuple[Any, ...], int]],
                 source: str) -> None:
        self.names = names
        self.source = source
        self._fn = fn

    def __call__(self, data: bytes, pos: int = 0) -> tuple[tuple[Any, ...], int]:
        return self._fn(data, pos)

    def index(self, name: str) -> int:
        return self.names.index(name)


def _kind(schema: Any) -> tuple[str, Any]:
    """``(kind, schema)``: a primitive name, "union", or the complex type's name with its dict."""
    if isinstance(schema, str):
        return schema, schema
    if isinstance(schema, list):
        return "union", schema
    t = schema["type"]
    if isinstance(t, (dict, list)):
        return _kind(t)
    return t, schema


class _Gen:
    def __init__(self, lengths_only: frozenset[str], stop_before: str) -> None:
        self.stop_before = stop_before
        self.stopped = False
        self.lines: list[str] = []
        self.names: list[str] = []
        self.tmp = 0
        self.lengths_only = lengths_only
        self.structs: dict[str, Any] = {}
        self.run: list[tuple[str, str]] = []  # pending (name, "f"|"d") fixed-size fields, read in one unpack

    def var(self) -> str:
        self.tmp += 1
        return f"t{self.tmp}"

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def long(self, indent: int, target: str) -> None:
        """``target`` = one zig-zag varint at ``p``."""
        e = self.emit
        e(indent, "b = d[p]; p += 1")
        e(indent, "if b & 0x80:")
        e(indent + 1, "n = b & 0x7F; s = 7")
        e(indent + 1, "while True:")
        e(indent + 2, "b = d[p]; p += 1; n |= (b & 0x7F) << s")
        e(indent + 2, "if not b & 0x80: break")
        e(indent + 2, "s += 7")
        e(indent + 1, "if s > 63: raise ValueError('varint too long')")
        e(indent, "else:")
        e(indent + 1, "n = b")
        e(indent, f"{target} = (n >> 1) ^ -(n & 1)")

    def value(self, indent: int, schema: Any, target: str, length_only: bool = False) -> None:
        """Code that reads one value of ``schema`` (no records: see :meth:`field`) into ``target``;
        ``length_only``: a string/bytes value gives its length in bytes (not decoded)."""
        kind, t = _kind(schema)
        if kind == "union":
            self.union(indent, t, target, length_only)
        elif kind in ("long", "int"):
            self.long(indent, target)
        elif kind in ("string", "bytes") and length_only:
            self.long(indent, target)
            self.emit(indent, f"if {target} < 0: raise ValueError('negative length')")
            self.emit(indent, f"p += {target}")
        elif kind in ("string", "bytes"):
            ln = self.var()
            self.long(indent, ln)
            self.emit(indent, f"if {ln} < 0: raise ValueError('negative length')")
            tail = ".decode()" if kind == "string" else ""
            self.emit(indent, f"{target} = d[p:p + {ln}]{tail}; p += {ln}")
        elif kind == "float":
            self.emit(indent, f"{target} = _f(d, p)[0]; p += 4")
        elif kind == "double":
            self.emit(indent, f"{target} = _d(d, p)[0]; p += 8")
        elif kind == "boolean":
            self.emit(indent, f"{target} = d[p] == 1; p += 1")
        elif kind == "null":
            self.emit(indent, f"{target} = None")
        elif kind == "enum":
            ix = self.var()
            self.long(indent, ix)
            self.emit(indent, f"{target} = {tuple(t['symbols'])!r}[{ix}]")
        elif kind == "fixed":
            self.emit(indent, f"{target} = d[p:p + {int(t['size'])}]; p += {int(t['size'])}")
        elif kind in ("map", "array"):
            items = t["values"] if kind == "map" else t["items"]
            if _kind(items)[0] in ("record", "map", "array", "union"):
                raise ValueError(f"prefix reader: {kind} of records is not supported")
            cnt, key, val = self.var(), self.var(), self.var()
            as_dict = kind == "map" and not length_only  # a length-only map gives its values' list
            self.emit(indent, f"{target} = {{}}" if as_dict else f"{target} = []")
            self.emit(indent, "while True:")
            self.long(indent + 1, cnt)
            self.emit(indent + 1, f"if {cnt} == 0: break")
            self.emit(indent + 1, f"if {cnt} < 0:")
            self.emit(indent + 2, f"{cnt} = -{cnt}")
            self.long(indent + 2, self.var())  # block size in bytes: not needed
            self.emit(indent + 1, f"for _ in range({cnt}):")
            if kind == "map":
                self.value(indent + 2, "string", key, length_only)
                self.value(indent + 2, items, val)
                self.emit(indent + 2, f"{target}[{key}] = {val}" if as_dict else f"{target}.append({val})")
            else:
                self.value(indent + 2, items, val)
                self.emit(indent + 2, f"{target}.append({val})")
        else:
            raise ValueError(f"prefix reader: unsupported type {t!r}")

    def union(self, indent: int, branches: list[Any], target: str, length_only: bool = False) -> None:
        ix = self.var()
        self.long(indent, ix)
        for i, branch in enumerate(branches):
            if _kind(branch)[0] == "record":
                raise ValueError("prefix reader: unions of records are not supported")
            self.emit(indent, f"{'if' if i == 0 else 'elif'} {ix} == {i}:")
            self.value(indent + 1, branch, target, length_only)
        self.emit(indent, "else:")
        self.emit(indent + 1, f"raise ValueError('union index ' + str({ix}))")

    def field(self, indent: int, name: str, schema: Any) -> None:
        """A record field: records flatten into their fields, anything else is one value."""
        if self.stopped or name == self.stop_before:
            self.stopped = True
            return
        kind, t = _kind(schema)
        if kind == "record":
            for f in t["fields"]:
                self.field(indent, f"{name}.{f['name']}", f["type"])
            return
        target = f"v{len(self.names)}"
        self.names.append(name)
        if kind in ("float", "double"):  # fixed size: batched with its neighbours into one unpack
            self.run.append((target, "f" if kind == "float" else "d"))
            return
        self.flush_run(indent)
        self.value(indent, schema, target, name in self.lengths_only)

    def flush_run(self, indent: int) -> None:
        if not self.run:
            return
        fmt = "<" + "".join(k for _, k in self.run)
        st = struct.Struct(fmt)
        name = f"_s{len(self.structs)}"
        self.structs[name] = st.unpack_from
        targets = ", ".join(t for t, _ in self.run)
        self.emit(indent, f"{targets}, = {name}(d, p); p += {st.size}")
        self.run = []


def compile_prefix_reader(schema: dict[str, Any], stop_before: str,
                          lengths_only: frozenset[str] | set[str] = frozenset()) -> PrefixReader:
    """A reader of the fields of record ``schema`` that come before field ``stop_before``
    (a dotted name may stop inside a nested record, e.g. ``"fields.subtotal"``).

    String fields named in ``lengths_only`` (dotted names) are skipped and give their
    length in bytes instead of a ``str``; a map named there gives the list of its values.
    """
    gen = _Gen(frozenset(lengths_only), stop_before)
    gen.emit(0, "def read(d, p):")
    for f in schema["fields"]:
        gen.field(1, f["name"], f["type"])
    if not gen.stopped:
        raise ValueError(f"{schema.get('name')} has no field {stop_before!r}")
    gen.flush_run(1)
    gen.emit(1, "if p > len(d): raise EOFError('body ends inside its prefix')")
    values = ", ".join(f"v{i}" for i in range(len(gen.names)))
    gen.emit(1, f"return ({values},), p")
    source = "\n".join(gen.lines)
    namespace: dict[str, Any] = {"_f": struct.Struct("<f").unpack_from, "_d": struct.Struct("<d").unpack_from,
                                 **gen.structs}
    exec(compile(source, f"<prefix reader {schema.get('name')}>", "exec"), namespace)  # noqa: S102 - generated here
    return PrefixReader(tuple(gen.names), namespace["read"], source)


__all__ = ["PrefixReader", "compile_prefix_reader", "container", "zigzag"]
