"""Synthetic ``windows`` and ``documents`` rows, inserted directly (tests, bench, demos).

Nothing here touches Kafka: rows go straight into ClickHouse with
clickhouse-connect, shaped like the sink writes them. Window rows are
``[window_start, window_start + size)``; values are deterministic functions of
the index so tests can predict them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

WINDOW_COLUMNS = [
    "business_id", "granularity", "window_start", "window_end", "document_count", "total_amount",
    "avg_score", "avg_ocr_score", "median_score", "median_ocr_score", "ocr_seconds_p50", "ocr_seconds_p95",
    "type_counts", "late_events", "min_event_time", "max_event_time", "is_final", "emitted_at", "version",
    "too_late_events", "status",
]
DOCUMENT_COLUMNS = [
    "document_id", "business_id", "event_time", "processed_at", "source", "uri", "doc_type", "type_confidence",
    "engine", "text", "pages", "vendor", "date", "currency", "subtotal", "tax", "total", "field_confidences",
    "line_items", "lines", "score", "ocr_score", "fetch_s", "classify_s", "ocr_s", "extract_s", "is_late",
    "version", "field_evidence", "page_sizes",
]
SIZES = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1)}


def window_rows(business_id: str, start: datetime, count: int, granularity: str = "minute",
                is_final: int = 1, version: int | None = None) -> list[list[Any]]:
    """``count`` consecutive windows from ``start``; window i has ``document_count = i + 1``.

    Odd windows carry one late event (final ones are then ``late_update`` rows); none is too late.
    """
    size = SIZES[granularity]
    version = version if version is not None else int(time.time() * 1000)
    rows = []
    for i in range(count):
        ws = start + i * size
        we = ws + size
        n = i + 1
        rows.append([business_id, granularity, ws, we, n, 10.0 * n, 0.9, 0.85, 0.91, 0.86, 0.25 + 0.01 * i,
                     0.5 + 0.01 * i, {"receipt": n - n // 3, "invoice": n // 3}, i % 2, ws, we - timedelta(seconds=1),
                     is_final, we + timedelta(seconds=15), version, 0,
                     ("late_update" if i % 2 else "final") if is_final else "current"])
    return rows


def insert_windows(client: Client, rows: Sequence[Sequence[Any]]) -> None:
    client.insert("windows", list(rows), column_names=WINDOW_COLUMNS)


def document_row(document_id: str, business_id: str, event_time: datetime, *, uri: str = "",
                 doc_type: str = "receipt", text: str = "ACME STORE\nTOTAL 12.50", total: float | None = 12.5,
                 is_late: int = 0, version: int | None = None, evidence: dict[str, Any] | None = None,
                 page_sizes: list[dict[str, int]] | None = None) -> list[Any]:
    lines = [{"text": line, "confidence": 0.97, "box": [0, 20 * i, 200, 20 * i + 18], "page": 0}
             for i, line in enumerate(text.splitlines())]
    items = [{"description": "widget", "quantity": 1, "unit_price": total, "amount": total, "confidence": 0.8}]
    return [document_id, business_id, event_time, event_time + timedelta(seconds=2), "upload",
            uri or f"s3://ocrstream-documents/sha256/{document_id}.png", doc_type, 0.93, "onnx", text, 1,
            "ACME STORE", "2024-05-01", "EUR", 10.5, 2.0, total, {"total": 0.95, "vendor": 0.9},
            json.dumps(items), json.dumps(lines), 0.9, 0.88, 0.01, 0.02, 0.3, 0.01, is_late,
            version if version is not None else int(time.time() * 1000), json.dumps(evidence or {}),
            json.dumps(page_sizes or [])]


def insert_documents(client: Client, rows: Sequence[Sequence[Any]]) -> None:
    client.insert("documents", list(rows), column_names=DOCUMENT_COLUMNS)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]
