"""The records that cross topics, and the vocabularies they use: one definition each.

Every record is a :class:`~typing.TypedDict` named like its Avro schema
(``schemas/<Name>.avsc``): a key with an Avro default is ``NotRequired`` and
its default is in :data:`DEFAULTS`. ``tests/test_records.py`` checks names,
types, defaults and vocabularies against the ``.avsc`` files, so a schema
changed without its record (or the reverse) fails there.

Why TypedDicts and not dataclasses: the codec (fastavro) reads and writes
plain dicts, and the hot paths (the event generator's encoder, the sink's
prefix decoder, the window operator) handle hundreds of thousands of records a
second as dicts. A TypedDict is a dict at run time — ``DocumentRef(...)``
builds one with no conversion and no copy — while the type checker sees every
key and its type.

Vocabularies: :data:`DOC_TYPES` (what the classifier answers and the routing
table is keyed by), :data:`FIELD_NAMES` (what the extractor reads), the
dead-letter :data:`STAGES`, the document :data:`SOURCES` and the window
:data:`GRANULARITIES` and :data:`WINDOW_STATUSES`.
"""

from typing import Any, Literal, NotRequired, TypedDict, get_args

# --------------------------------------------------------------------------- vocabularies

DocType = Literal["receipt", "invoice", "report", "form", "photo", "blank"]
DOC_TYPES: tuple[DocType, ...] = get_args(DocType)
"""Document types, in the classifier's order (ClassifiedDocument/OcrResult ``doc_type``)."""

TEXT_DOC_TYPES: tuple[DocType, ...] = ("receipt", "invoice", "report", "form")
"""The document types made of text lines (the others are a photo or nothing)."""

FIELD_DOC_TYPES: tuple[DocType, ...] = ("receipt", "invoice")
"""The document types that carry a vendor, a date and amounts."""

FieldName = Literal["vendor", "date", "currency", "subtotal", "tax", "total"]
FIELD_NAMES: tuple[FieldName, ...] = get_args(FieldName)
"""The document fields the extractor reads (amounts in the document's currency)."""

Stage = Literal["decode", "validate", "fetch", "classify", "ocr", "extract", "aggregate", "sink", "publish"]
STAGES: tuple[Stage, ...] = get_args(Stage)
"""Where a dead letter failed (DeadLetter ``stage``)."""

Source = Literal["upload", "watch", "generator", "video"]
SOURCES: tuple[Source, ...] = get_args(Source)
"""How a document arrived (DocumentRef ``source``)."""

Granularity = Literal["minute", "hour"]
GRANULARITIES: tuple[Granularity, ...] = get_args(Granularity)

WindowStatus = Literal["current", "final", "late_update"]
WINDOW_STATUSES: tuple[WindowStatus, ...] = get_args(WindowStatus)


# --------------------------------------------------------------------------- records


class DocumentRef(TypedDict):
    """A document uploaded by a business: a reference to the object, never its bytes (topic ``documents``)."""

    document_id: str
    business_id: str
    uri: str
    sha256: str
    size_bytes: int
    media_type: str
    event_time: int  # epoch ms
    source: NotRequired[str]
    presigned_url: NotRequired[str | None]
    filename: NotRequired[str | None]
    published_at: NotRequired[int]


class VideoFrame(TypedDict):
    """One stable, de-duplicated page seen by a camera (topic ``video-frames``)."""

    stream_id: str
    business_id: str
    frame_number: int
    event_time: int
    image_jpeg: NotRequired[bytes | None]
    image_uri: NotRequired[str | None]
    sha256: str
    phash: str
    sharpness: float
    width: int
    height: int


class ClassifiedDocument(TypedDict):
    """The classifier's verdict on one document (topic ``classified``, audit)."""

    document_id: str
    business_id: str
    uri: str
    event_time: int
    source: NotRequired[str]
    doc_type: str
    type_confidence: float
    engine: str
    pages: NotRequired[int]
    classify_ms: NotRequired[float]


class StageTimings(TypedDict):
    """Seconds spent per stage."""

    ocr_s: NotRequired[float]
    fetch_s: NotRequired[float]
    classify_s: NotRequired[float]
    extract_s: NotRequired[float]


class ExtractedFields(TypedDict):
    """The values of :data:`FIELD_NAMES` (``None`` when not found) and their confidences."""

    total: NotRequired[float | None]
    subtotal: NotRequired[float | None]
    tax: NotRequired[float | None]
    vendor: NotRequired[str | None]
    date: NotRequired[str | None]
    currency: NotRequired[str | None]
    confidences: NotRequired[dict[str, float]]


class OcrLine(TypedDict):
    """One recognised line (``box`` x0,y0,x1,y1 in page pixels)."""

    text: str
    confidence: float
    box: NotRequired[list[float]]
    page: NotRequired[int]


class LineItem(TypedDict):
    """One line item of a receipt or invoice."""

    description: str
    quantity: NotRequired[float | None]
    unit_price: NotRequired[float | None]
    amount: NotRequired[float | None]
    confidence: NotRequired[float]
    raw_text: NotRequired[str]
    page: NotRequired[int]
    box: NotRequired[list[float]]


class FieldEvidence(TypedDict):
    """Where one extracted field was read."""

    value: NotRequired[str | float | None]
    confidence: NotRequired[float]
    raw_text: NotRequired[str]
    page: NotRequired[int]
    box: NotRequired[list[float]]


class PageSize(TypedDict):
    width: int
    height: int


class OcrResult(TypedDict):
    """OCR text and extracted fields of one document (topics ``ocr-results``, ``late-events``)."""

    document_id: str
    business_id: str
    event_time: int
    doc_type: str
    score: float
    ocr_score: float
    timings: StageTimings
    fields: ExtractedFields
    pages: NotRequired[int]
    type_confidence: NotRequired[float]
    processed_at: NotRequired[int]
    uri: NotRequired[str]
    source: NotRequired[str]
    engine: str
    text: str
    lines: NotRequired[list[OcrLine]]
    line_items: NotRequired[list[LineItem]]
    field_evidence: NotRequired[dict[str, FieldEvidence]]
    page_sizes: NotRequired[list[PageSize]]


class WindowAggregate(TypedDict):
    """Aggregate of one event-time tumbling window of one business (topic ``windows``)."""

    business_id: str
    granularity: str
    window_start: int
    window_end: int
    document_count: int
    total_amount: float
    avg_score: float
    avg_ocr_score: float
    median_score: float
    median_ocr_score: float
    ocr_seconds_p50: float
    ocr_seconds_p95: float
    type_counts: dict[str, int]
    late_events: NotRequired[int]
    too_late_events: NotRequired[int]
    min_event_time: int
    max_event_time: int
    is_final: bool
    status: NotRequired[str]
    emitted_at: int


class DeadLetter(TypedDict):
    """A record that failed permanently, with why (topic ``dlq``)."""

    source_topic: str
    source_partition: int
    source_offset: int
    stage: str
    error_class: str
    error_message: str
    attempts: int
    first_failure_time: int
    last_failure_time: int
    document_id: NotRequired[str | None]
    business_id: NotRequired[str | None]
    reference: NotRequired[str | None]
    payload: NotRequired[bytes | None]
    payload_size: NotRequired[int | None]


#: Schema name -> record type, for every top-level schema in ``schemas/``.
RECORDS: dict[str, type] = {
    "DocumentRef": DocumentRef, "VideoFrame": VideoFrame, "ClassifiedDocument": ClassifiedDocument,
    "OcrResult": OcrResult, "WindowAggregate": WindowAggregate, "DeadLetter": DeadLetter,
}  # fmt: skip

#: Record type -> the Avro default of each ``NotRequired`` key (a fresh copy per :func:`with_defaults`).
DEFAULTS: dict[type, dict[str, Any]] = {
    DocumentRef: {"source": "upload", "presigned_url": None, "filename": None, "published_at": 0},
    VideoFrame: {"image_jpeg": None, "image_uri": None},
    ClassifiedDocument: {"source": "upload", "pages": 1, "classify_ms": 0.0},
    StageTimings: {"ocr_s": 0.0, "fetch_s": 0.0, "classify_s": 0.0, "extract_s": 0.0},
    ExtractedFields: {"total": None, "subtotal": None, "tax": None, "vendor": None, "date": None, "currency": None,
                      "confidences": {}},
    OcrLine: {"box": [], "page": 0},
    LineItem: {"quantity": None, "unit_price": None, "amount": None, "confidence": 0.0, "raw_text": "", "page": 0,
               "box": []},
    FieldEvidence: {"value": None, "confidence": 0.0, "raw_text": "", "page": -1, "box": []},
    PageSize: {},
    OcrResult: {"pages": 1, "type_confidence": 0.0, "processed_at": 0, "uri": "", "source": "upload", "lines": [],
                "line_items": [], "field_evidence": {}, "page_sizes": []},
    WindowAggregate: {"late_events": 0, "too_late_events": 0, "status": "final"},
    DeadLetter: {"document_id": None, "business_id": None, "reference": None, "payload": None,
                 "payload_size": None},
}  # fmt: skip


def frame_document_id(frame: VideoFrame | dict[str, Any]) -> str:
    """The document id of a video page: ``<stream_id>:<frame_number>:<first 16 hex of its JPEG's sha256>``.

    The same record replayed, or the same video file published again (same frames, same JPEG
    bytes), gets the same id and is counted once; a camera stream restarted under the same
    ``--stream-id`` numbers its frames from 0 again, and its new pages (other bytes) get new
    ids instead of being taken for replays of the old ones.
    """
    return f"{frame['stream_id']}:{frame['frame_number']}:{str(frame.get('sha256') or '')[:16]}"


def with_defaults(record_type: type, record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with every missing optional key of ``record_type`` set to its Avro default (a new dict)."""
    out = {k: (v.copy() if isinstance(v, (dict, list)) else v) for k, v in DEFAULTS[record_type].items()}
    out.update(record)
    return out


__all__ = [
    "DEFAULTS", "DOC_TYPES", "FIELD_DOC_TYPES", "FIELD_NAMES", "GRANULARITIES", "RECORDS", "SOURCES", "STAGES",
    "TEXT_DOC_TYPES", "WINDOW_STATUSES", "ClassifiedDocument", "DeadLetter", "DocType", "DocumentRef",
    "ExtractedFields", "FieldEvidence", "FieldName", "Granularity", "LineItem", "OcrLine", "OcrResult", "PageSize",
    "Source", "Stage", "StageTimings", "VideoFrame", "WindowAggregate", "WindowStatus", "frame_document_id",
    "with_defaults",
]
