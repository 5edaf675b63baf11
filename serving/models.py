"""Response shapes, for the OpenAPI document (``/openapi.json``, ``/docs``).

The aggregates endpoint streams ClickHouse-serialized JSON straight through,
so these models describe it rather than produce it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Series(BaseModel):
    """One business's windows in range, columnar (index i of every array = window i)."""

    business_id: str
    points: int = Field(description="number of windows")
    window_start: list[int] = Field(description="epoch ms UTC, inclusive, ascending")
    window_end: list[int] = Field(description="epoch ms UTC, exclusive")
    document_count: list[int]
    total_amount: list[float]
    avg_score: list[float | None]
    avg_ocr_score: list[float | None]
    median_score: list[float | None]
    median_ocr_score: list[float | None]
    ocr_seconds_p50: list[float | None] = Field(description="seconds")
    ocr_seconds_p95: list[float | None] = Field(description="seconds")
    late_events: list[int] = Field(description="counted documents that arrived after the window closed")
    too_late_events: list[int] = Field(description="documents beyond allowed lateness (in no other metric)")
    is_final: list[int] = Field(description="1 once the window closed (its final row)")
    status: list[str] = Field(description="current (open, may change) | final (closed by the watermark) | "
                                          "late_update (closed, re-emitted after late documents)")
    type_counts: list[dict[str, int]]
    min_event_time: list[int]
    max_event_time: list[int]
    emitted_at: list[int]


class AggregatesResponse(BaseModel):
    granularity: str
    start: str = Field(description="ISO 8601 UTC, inclusive")
    end: str = Field(description="ISO 8601 UTC, exclusive")
    start_ms: int
    end_ms: int
    metrics: list[str] = Field(description="numeric per-window metrics (chartable columns)")
    series: list[Series] = Field(description="one per requested business_id, in request order")


class Business(BaseModel):
    business_id: str
    documents: int = Field(description="on-time documents counted in hour windows")
    late_events: int
    hour_windows: int
    first_window_start: int = Field(description="epoch ms UTC")
    last_window_end: int = Field(description="epoch ms UTC")


class BusinessesResponse(BaseModel):
    businesses: list[Business]


class DocumentBase(BaseModel):
    """Identity, routing and scores shared by the list and detail views."""

    document_id: str
    business_id: str
    event_time: str
    processed_at: str
    source: str
    uri: str
    doc_type: str
    type_confidence: float
    engine: str
    pages: int
    score: float
    ocr_score: float
    is_late: bool = Field(description="too late: arrived beyond allowed lateness, in no aggregate")
    late_update: bool = Field(False, description="arrived after its window closed, within allowed lateness (counted)")
    image_url: str = Field(description="signed, time-limited link streaming the original object")


class DocumentSummary(DocumentBase):
    vendor: str | None
    date: str | None
    currency: str | None
    total: float | None
    ocr_s: float
    text_preview: str = Field(description="first characters of the OCR text")
    text_chars: int
    url: str = Field(description="this document's detail route")


class DocumentsResponse(BaseModel):
    start: str
    end: str
    count: int
    documents: list[DocumentSummary]


class FieldEvidence(BaseModel):
    """An extracted field and where it was read (see serving.evidence)."""

    name: str
    value: Any
    confidence: float
    low: bool = Field(description="value present and confidence below low_confidence")
    located: str = Field(description="extraction | derived | matched | none")
    lines: list[int] = Field(description="indexes into lines")
    boxes: list[dict[str, Any]] = Field(description="{page, box: [x0, y0, x1, y1]} in source page pixels")
    raw: str | None = None


class DocumentWindow(BaseModel):
    """A window the document's event time falls in, and how the document counts there."""

    granularity: str
    window_start: str
    window_end: str = Field(description="exclusive")
    start_ms: int
    end_ms: int
    counted_as: str = Field(description="on time | late update (counted) | late: not in the aggregates | not counted")
    stored: bool
    is_final: bool | None
    document_count: int | None
    late_events: int | None


class DocumentDetail(DocumentBase):
    text: str
    fields: dict[str, Any] = Field(description="vendor, date, currency, subtotal, tax, total")
    field_confidences: dict[str, float]
    field_evidence: list[FieldEvidence]
    low_confidence: float = Field(description="confidences below this are marked low")
    line_items: list[dict[str, Any]]
    lines: list[dict[str, Any]] = Field(description="{text, confidence, box: [x0, y0, x1, y1] source page pixels, page}")
    timings_s: dict[str, float] = Field(description="fetch, classify, ocr, extract (seconds)")
    windows: list[DocumentWindow]
    page_sizes: list[dict[str, int]] = Field(description="per page {width, height}: the pixel frame of every box")
    page_images: list[str] = Field(description="signed links to each page as PNG (may be scaled down)")


class Health(BaseModel):
    status: str
    clickhouse: str
    clickhouse_ms: float | None = None
    embedded: bool
    # Stages running in the serving process (ocrstream.health): sink thread, worker, ...
    stages: dict[str, dict[str, Any]] = Field(default_factory=dict)
