"""``OcrResult`` bytes -> the validated scalar prefix + the Avro body, decoding only what the sink needs.

The current ``OcrResult`` schema puts the fields the windows and dedupe need
first (:data:`ocrstream.result_validation.PREFIX`: ids, event time, type, scores,
timings, total). For a record in the current writer schema (single-object
encoding, the common case) :class:`ResultDecoder` reads just that prefix with a
reader compiled for the schema (:func:`ocrstream.avro_prefix.compile_prefix_reader`,
a few µs instead of 25-45 µs for a full fastavro decode) and hands the *body* on
untouched: ClickHouse parses it (``FORMAT Avro``, :class:`streams.writers.DocumentWriter`)
and checks the other fields' ranges (:mod:`ocrstream.result_validation`). Any other
record — an older writer schema (``schemas/history/``) or Confluent Schema
Registry framing — is decoded fully, re-encoded in the current schema, and then
takes the same path, so there is one validation and one insert path for all.

``decode(value) -> (prefix, body)``: ``prefix`` is a tuple in
:data:`ocrstream.result_validation.PREFIX` order (the constants below are its indices); ``body`` the record body in the current schema (a ``memoryview``
into ``value`` when no re-encoding was needed). Raises
:class:`~ocrstream.codec.CodecError` for undecodable bytes and
:class:`~ocrstream.deadletter.InvalidRecord` subclasses for out-of-range values.
"""

from __future__ import annotations

import struct
from typing import Any

from ocrstream.avro_prefix import compile_prefix_reader
from ocrstream.codec import HEADER_LEN, MAGIC, AvroCodec, CodecError, load_schema, make_serde
from ocrstream.errors import Permanent
from ocrstream.result_validation import PREFIX_END, ResultValidator
from ocrstream.settings import Settings

#: Indices into the prefix tuple.
DOCUMENT_ID, BUSINESS_ID, EVENT_TIME, DOC_TYPE, SCORE, OCR_SCORE, OCR_S = 0, 1, 2, 3, 4, 5, 6
TOTAL = 10

_BAD_BODY = (ValueError, IndexError, struct.error, UnicodeDecodeError, EOFError)


class ResultDecoder:
    """See the module docstring."""

    def __init__(self, settings: Settings, now_ms: Any = None) -> None:
        self.schema = load_schema("OcrResult")
        self.header = MAGIC + self.schema.fingerprint
        self.codec = AvroCodec(self.schema)
        self.serde = make_serde("OcrResult", settings.kafka.schema_registry_url)
        self.reader = compile_prefix_reader(self.schema.raw, PREFIX_END)
        kw = {} if now_ms is None else {"now_ms": now_ms}
        self.validator = ResultValidator(self.reader.names, max_bytes=settings.sink.max_result_bytes,
                                         max_future_ms=settings.windows.max_future_ms,
                                         known_businesses=settings.worker.known_businesses, **kw)
        self._read = self.reader.fn  # the hot path calls the generated function directly
        self._check = self.validator.check
        self.reencoded = 0

    def decode(self, value: bytes) -> tuple[tuple[Any, ...], Any]:
        if len(value) > self.validator.max_bytes:
            self.validator.check_size(len(value))  # raises RecordTooLarge
        if value[:HEADER_LEN] == self.header:
            data = value
        else:  # another writer schema or registry framing: one slow decode, then the same path
            data = self.codec.encode(self.serde.decode(value))
            self.reencoded += 1
        try:
            prefix = self._read(data, HEADER_LEN)[0]
        except _BAD_BODY as exc:
            raise CodecError(f"cannot decode OcrResult: {type(exc).__name__}: {exc}"[:300],
                             schema="OcrResult") from exc
        try:
            self._check(prefix)
        except Permanent as exc:  # the dead letter names the document
            exc.document_id, exc.business_id = prefix[DOCUMENT_ID], prefix[BUSINESS_ID]  # type: ignore[attr-defined]
            raise
        return prefix, memoryview(data)[HEADER_LEN:]

    def full(self, body: bytes | memoryview) -> dict[str, Any]:
        """The whole record of a current-schema body (raises :class:`CodecError`): the check of a
        body ClickHouse refused."""
        return self.codec.decode(self.header + bytes(body))


__all__ = ["BUSINESS_ID", "DOCUMENT_ID", "DOC_TYPE", "EVENT_TIME", "OCR_S", "OCR_SCORE", "ResultDecoder", "SCORE",
           "TOTAL"]
