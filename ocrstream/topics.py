"""Every Kafka topic of ocrstream, defined once.

Names are ``<kafka.topic_prefix><short name>``. Each topic states its record
schema, its key and explicit configs (``retention.ms`` included: Tansu's
DescribeConfigs only returns configs set at creation, and libraries read them).

Data flow::

    s3-events (S3 event JSON) ─▶ bridge ──DocumentRef──▶ documents
    producers ──DocumentRef──▶ documents ─┐
    producers ──VideoFrame───▶ video-frames ─┤ streams worker: fetch → classify
                                             ▼
                          classified (ClassifiedDocument, audit trail of routing)
                                             ▼ OCR → extract
                          ocr-results (OcrResult, key business_id)
                                             ▼ window operator
              windows (WindowAggregate)  late-events (OcrResult)   dlq (DeadLetter)
                                             ▼ sink
                                      ClickHouse tables
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from confluent_kafka.admin import AdminClient, NewTopic

from ocrstream.settings import Settings

log = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """One topic: short name, record schema, what the key holds, configs."""

    short_name: str
    schema: str
    key: str
    retention_ms: int = 7 * DAY_MS
    compact: bool = False
    partitions: int | None = None  # None = settings.kafka.partitions
    extra_config: dict[str, str] = field(default_factory=dict)

    def config(self) -> dict[str, str]:
        cfg = {
            "retention.ms": str(self.retention_ms),
            "cleanup.policy": "compact" if self.compact else "delete",
        }
        cfg.update(self.extra_config)
        return cfg


DOCUMENTS = TopicSpec("documents", "DocumentRef", key="document_id")
VIDEO_FRAMES = TopicSpec("video-frames", "VideoFrame", key="stream_id", retention_ms=2 * DAY_MS)
CLASSIFIED = TopicSpec("classified", "ClassifiedDocument", key="document_id")
OCR_RESULTS = TopicSpec("ocr-results", "OcrResult", key="business_id", retention_ms=30 * DAY_MS)
WINDOWS = TopicSpec("windows", "WindowAggregate", key="business_id|granularity|window_start", compact=True)
LATE_EVENTS = TopicSpec("late-events", "OcrResult", key="business_id", retention_ms=30 * DAY_MS)
DLQ = TopicSpec("dlq", "DeadLetter", key="document_id or topic/partition/offset", retention_ms=30 * DAY_MS)
# S3 event notifications (AWS/MinIO JSON, written by MinIO's Kafka target), read by ``ocrstream bridge``
S3_EVENTS = TopicSpec("s3-events", "S3 event JSON", key="bucket/key")

ALL_TOPICS: tuple[TopicSpec, ...] = (
    DOCUMENTS,
    VIDEO_FRAMES,
    CLASSIFIED,
    OCR_RESULTS,
    WINDOWS,
    LATE_EVENTS,
    DLQ,
    S3_EVENTS,
)


def ensure_topics(
    settings: Settings, specs: tuple[TopicSpec, ...] = ALL_TOPICS, timeout_s: float = 30.0
) -> list[str]:
    """Create missing topics (idempotent). Returns the names it created."""
    from ocrstream.kafka import admin_client

    admin: AdminClient = admin_client(settings)
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    new = [
        NewTopic(
            settings.topic(spec.short_name),
            num_partitions=spec.partitions or settings.kafka.partitions,
            replication_factor=settings.kafka.replication_factor,
            config=spec.config(),
        )
        for spec in specs
        if settings.topic(spec.short_name) not in existing
    ]
    created: list[str] = []
    if not new:
        return created
    for name, future in admin.create_topics(new, request_timeout=timeout_s).items():
        try:
            future.result(timeout=timeout_s)
            created.append(name)
            log.info("created topic %s", name)
        except Exception as exc:  # TOPIC_ALREADY_EXISTS from a concurrent creator is fine
            if "already exists" in str(exc).lower() or "TOPIC_ALREADY_EXISTS" in str(exc):
                continue
            raise
    return created
