"""One typed settings object for every ocrstream process.

Values come, in increasing priority, from defaults, the environment
(``OCRSTREAM_<SECTION>__<FIELD>``, e.g. ``OCRSTREAM_KAFKA__BOOTSTRAP``, plus the
flat ``OCRSTREAM_STATE_DIR`` / ``OCRSTREAM_PROFILE``; the state dir defaults to
:func:`default_state_dir`) and CLI flags (applied
with :func:`Settings.with_overrides`).

Two profiles share all code:

* ``local`` (default): the embedded stack that ``ocrstream stack up`` starts on
  127.0.0.1 — Tansu broker, SeaweedFS S3, a chDB data directory under
  ``state_dir``.
* ``production``: the same code pointed at Kafka bootstrap servers, an S3
  endpoint and a ClickHouse server URL (``http://user:pass@host:8123``,
  clickhouse-connect's HTTP interface). Nothing is started for you.

Each section belongs to one part of the pipeline; its docstring says which.
The former ``stream`` section is split by stage (``windows``, ``worker``,
``fetch``, ``retry``, ``sink``); its ``OCRSTREAM_STREAM__*`` variables still
work, each with a one-line deprecation warning naming the new variable
(:data:`STREAM_MOVES`).

Why this module is over 500 lines: it is the one typed settings object — a section
model per stage with each field's bounds and help text — and its loading (profiles,
the moves of deprecated variables, one-line errors); one place to read every knob.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Optional, Union, get_args, get_origin

from pydantic import BaseModel, Field, ValidationError, create_model, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as _PydanticSettingsError

from ocrstream.records import DOC_TYPES

log = logging.getLogger(__name__)


def default_state_dir() -> Path:
    """Where local data, logs and pids go unless ``OCRSTREAM_STATE_DIR`` says otherwise.

    ``$XDG_STATE_HOME/ocrstream`` when ``XDG_STATE_HOME`` is set, else
    ``.ocrstream`` in the working directory (never the source tree or the
    installed package), as an absolute path.
    """
    xdg = os.environ.get("XDG_STATE_HOME")
    return Path(xdg) / "ocrstream" if xdg else Path.cwd() / ".ocrstream"


class KafkaSettings(BaseModel):
    """Broker connection and client defaults (confluent-kafka and Faust)."""

    bootstrap: str = "127.0.0.1:19092"
    topic_prefix: str = "ocrstream."
    partitions: int = Field(4, ge=1, description="partitions for topics created by ocrstream")
    replication_factor: int = Field(1, ge=1)
    # Tansu joins a group in ~session.timeout/2: keep it small locally.
    session_timeout_ms: int = 6000
    # Optional Confluent Schema Registry; when set, the registry serde is used
    # instead of Avro single-object encoding.
    schema_registry_url: str | None = None
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    message_max_bytes: int = 8 * 1024 * 1024


class S3Settings(BaseModel):
    """Object store holding uploaded documents (and, locally, the broker's log)."""

    endpoint: str = "http://127.0.0.1:8333"
    access_key: str = "ocrstream"
    secret_key: str = "ocrstream-secret-key"
    region: str = "us-east-1"
    documents_bucket: str = "ocrstream-documents"
    broker_bucket: str = "ocrstream-broker"


class ClickHouseSettings(BaseModel):
    """Analytics store. ``dsn`` is ``chdb:///abs/path`` (embedded) or ``http(s)://...``.

    Empty ``dsn`` means the embedded default ``chdb://<state_dir>/clickhouse``.
    """

    dsn: str = ""
    database: str = "ocrstream"


class StackSettings(BaseModel):
    """The embedded local stack (``ocrstream stack``).

    It listens where the clients are told to connect: the broker on the port
    of ``kafka.bootstrap``, S3 on the port of ``s3.endpoint`` (both on
    127.0.0.1). SeaweedFS's internal ports are ``s3 port + 1 .. + 4`` (and
    their gRPC twins at +10000).
    """

    broker_storage: Literal["s3", "memory"] = "s3"
    start_timeout_s: float = 60.0
    stop_timeout_s: float = 15.0


class OcrSettings(BaseModel):
    """OCR stage (``ocr_agents``): engine choice, routing and threads."""

    default_engine: str = "onnx"
    # doc type -> engine; used when the classifier is at least
    # ``route_min_confidence`` sure, otherwise ``default_engine``.
    routing: dict[str, str] = Field(
        default_factory=lambda: {doc_type: ("none" if doc_type == "blank" else "onnx") for doc_type in DOC_TYPES}
    )
    route_min_confidence: float = 0.6
    threads: int = Field(2, ge=1, description="intra-op threads per engine instance")
    max_pixels: int = 60_000_000
    max_object_bytes: int = Field(
        25 * 1024 * 1024, ge=1,
        description="the one document size limit: producers refuse larger documents, the worker dead-letters them",
    )
    pdf_dpi: int = 200
    max_pages: int = Field(50, ge=1, description="pages per document (PDF/TIFF); more is TooManyPages")
    # PP-OCRv6 sizes for the onnx engine, chosen on real receipts (ocr_agents/engines/onnx.py):
    # tiny detector + small recogniser; onnx_model_size, when set, sets both
    onnx_model_size: Literal["tiny", "small"] | None = None
    onnx_det_size: Literal["tiny", "small"] = "tiny"
    onnx_rec_size: Literal["tiny", "small"] = "small"
    onnx_unclip_ratio: float = Field(2.0, gt=1.0, le=4.0, description="text box growth before cropping")
    onnx_det_short_side: int = Field(736, ge=32, description="detector input: short side scaled (up or down) to this")
    onnx_det_max_long_side: int = Field(4000, ge=32, description="detector input: long side at most this")
    onnx_rec_batch: int = Field(1, ge=1, description="crops per recogniser call at most (batched by width)")
    onnx_rec_min_width: int = Field(32, ge=8, description="narrowest recogniser input (px at height 48)")
    onnx_rec_width_scale: float = Field(1.0, gt=0.2, le=2.0,
                                        description="horizontal scale of a crop for the recogniser (1 keeps its aspect)")
    onnx_rec_sessions: int = Field(2, ge=1, le=16,
                                   description="recogniser sessions run in parallel, sharing threads (at most one per thread)")
    onnx_rec_space_min_prob: float = Field(0.3, ge=0.0, le=1.0,
                                           description="decode a space where the blank wins but the space has this probability (0 = off)")
    # Pixels bounded by what OCR needs: a page is scaled down to this long side before
    # preprocessing and OCR (boxes are still reported in the page's own pixels), and a
    # document may decode at most max_document_pixels over all its pages (ImageTooLarge).
    max_ocr_long_side: int = Field(4000, ge=640, description="long side (px) a page is scaled down to for OCR")
    max_document_pixels: int = Field(200_000_000, ge=1, description="decoded pixels per document, all pages")
    tesseract_psm: int = 6  # Tesseract page segmentation mode
    detect_orientation: bool = True  # 90/180/270 page rotation (ONNX classifier)
    deskew: bool = True  # small-angle rotation (projection profile)


class WindowSettings(BaseModel):
    """Event-time window semantics of the aggregation sink's operator (``streams/windows.py``).

    All durations are milliseconds of event time unless named otherwise.
    """

    out_of_orderness_ms: int = 5_000
    grace_ms: int = 10_000
    # A clock without records for this long (processing time) advances with processing time.
    idle_timeout_ms: int = 15_000
    # Open windows emit changed rows at most this often (processing time).
    emit_interval_ms: int = 1_000
    # Whose clock closes a window: "key" (each business's own watermark, default), "partition"
    # (one watermark per input partition) or "operator" (Flink's min over active partitions).
    watermark_scope: Literal["key", "partition", "operator"] = "key"
    # A window stays updatable this long (event time, of its key's watermark) after it closed:
    # later events are folded in and the window row is re-emitted as a late update; events
    # later than that are "too late" (late topic, documents.is_late = 1, too_late_events).
    allowed_lateness_ms: int = Field(7 * 86_400_000, ge=0)
    # Event time more than this ahead of the wall clock is dead-lettered (never moves a watermark).
    max_future_ms: int = Field(86_400_000, ge=0)


class WorkerSettings(BaseModel):
    """The Faust OCR worker (``ocrstream worker``, ``streams/app.py``) and its checks of the input."""

    app_id: str = Field("ocrstream", description="Faust app id = the workers' consumer group")
    ocr_workers: int = Field(1, ge=1, description="processes in the OCR pool per worker")
    # Documents in flight per worker (fills the OCR pool)
    agent_concurrency: int = Field(0, ge=0, description="0 = ocr_workers")
    ocr_pool: Literal["process", "thread"] = "process"
    # A stopping worker (SIGTERM/SIGHUP/SIGINT) exits after this long even if something hangs
    stop_timeout_s: float = Field(30.0, gt=0)
    # Serve /healthz and /metrics on this port (0 = off), on health_host (so does `sink --health-port`)
    health_port: int = Field(0, ge=0, le=65535)
    health_host: str = "127.0.0.1"
    # Businesses accepted by the worker, the sink's validation and the S3 bridge (empty = any business)
    known_businesses: list[str] = Field(default_factory=list)


class FetchSettings(BaseModel):
    """Fetch-stage security (``streams/fetch.py``): which document URIs may be read."""

    # Root of file:// URIs (None = <state_dir>/files; see Settings.file_root)
    file_root: Path | None = None
    allowed_schemes: list[str] = Field(default_factory=lambda: ["file", "s3"])
    allowed_buckets: list[str] = Field(default_factory=list)  # empty = documents bucket only
    allowed_http_hosts: list[str] = Field(default_factory=list)


class RetrySettings(BaseModel):
    """What every stage does with a failing record (``ocrstream/deadletter.py``): retries, then a dead letter."""

    # Unknown errors (a bug for one input) are retried this many times, then dead-lettered
    max_attempts: int = 5
    backoff_ms: int = 200  # first retry delay, doubled per attempt
    max_backoff_ms: int = 30_000  # transient errors retry forever, backoff capped here
    # Dead letters keep this many leading bytes of the failed record (never all of it)
    dead_letter_excerpt_bytes: int = Field(1024, ge=0, le=1_048_576)


class SinkSettings(BaseModel):
    """The aggregation sink (``ocrstream sink``, ``streams/sink.py``): consumes ocr-results, owns the window operator."""

    group: str = "ocrstream-sink"
    batch_rows: int = 20_000  # rows buffered before a flush (or flush_interval_ms, whichever first)
    publish_windows: bool = True  # every windows row also to the compacted `windows` topic
    flush_interval_ms: int = 1_000
    poll_batch: int = 10_000
    # Duplicate document_ids are dropped whatever their age: ids of the last `dedupe_memory_ms`
    # of event time (per partition, at most `dedupe_max_ids`) are indexed in memory, older
    # ones are looked up in ClickHouse's documents table.
    dedupe_memory_ms: int = Field(3_600_000, ge=0)
    dedupe_max_ids: int = Field(2_000_000, ge=1)
    # OcrResults larger than this (bytes on the wire) are dead-lettered by the sink.
    max_result_bytes: int = Field(4 * 1024 * 1024, ge=1024)


class ApiSettings(BaseModel):
    """HTTP API + dashboard (``ocrstream serve``)."""

    host: str = "127.0.0.1"
    port: int = 8080
    # token -> list of business ids ("*" = all). Empty dict = auth disabled.
    # From the environment: OCRSTREAM_API__TOKENS='{"tok-a": ["acme"], "tok-ops": ["*"]}'
    tokens: dict[str, list[str]] = Field(default_factory=dict)
    max_range_days: int = Field(31, ge=1, description="longest [start, end) a query may span")
    max_documents: int = Field(500, ge=1, description="upper bound of /api/documents?limit=")
    # Identical aggregate queries within this many seconds share one ClickHouse
    # query (single-flight + TTL cache); 0 disables the cache.
    cache_ttl_s: float = Field(1.0, ge=0)
    # Results up to this age are served at once while one background query
    # refreshes them (stale-while-revalidate), so hot queries never wait; older
    # ones (a lone dashboard polling every 5 s) are re-queried in the request.
    cache_stale_s: float = Field(3.0, ge=0)
    # Threads running ClickHouse queries: chDB serializes on its handle anyway,
    # so 1 is right embedded; a server benefits from a few.
    query_threads: int = Field(0, ge=0, description="0 = 1 for chDB, 8 for a server")
    # /metrics without a token even when tokens are set (Prometheus/KEDA scrape).
    metrics_public: bool = True
    # HMAC key for signed image links (empty = random per process: links die on restart).
    link_secret: str = ""
    link_ttl_s: int = Field(3600, ge=1)
    dashboard_refresh_s: float = Field(5.0, gt=0)
    # Dashboard sign-in: POST /api/session trades a token for an HttpOnly,
    # SameSite=Strict cookie (signed with link_secret), so no script-readable
    # storage ever holds the token.
    session_ttl_s: int = Field(12 * 3600, ge=60, description="lifetime of a dashboard session cookie")
    # "auto": Secure cookie when the request came over https (or X-Forwarded-Proto: https)
    cookie_secure: Literal["auto", "always", "never"] = "auto"
    # Document view: field values whose confidence is below this are marked low.
    low_confidence: float = Field(0.6, ge=0, le=1)
    # Document view: rendered page images kept in memory (LRU).
    page_cache_entries: int = Field(32, ge=0)


class ProducerSettings(BaseModel):
    """Producers (``producers``): document publisher, video producer, load generator."""

    # Broker availability: bounded retries before a clear error.
    connect_attempts: int = Field(3, ge=1, description="metadata requests before giving up")
    connect_timeout_s: float = Field(5.0, gt=0, description="seconds per metadata request")
    flush_timeout_s: float = Field(60.0, gt=0, description="seconds to wait for outstanding delivery reports")
    # Document publisher
    presign_expires_s: int = Field(24 * 3600, ge=1, description="lifetime of presigned GET URLs")
    upload_threads: int = Field(4, ge=1, description="parallel hash+upload workers")
    watch_interval_s: float = Field(1.0, gt=0, description="seconds between directory scans")
    watch_settle_s: float = Field(1.0, ge=0, description="a file must be unchanged this long before it is published")
    # Video producer
    video_queue_frames: int = Field(8, ge=1, description="bounded reader->processor queue for live sources")
    video_analysis_width: int = Field(320, ge=32, description="frames are downscaled to this width for motion/hash")
    video_motion_threshold: float = Field(6.0, gt=0, description="mean abs grey difference (0-255) below which a frame is still")
    video_stable_frames: int = Field(6, ge=1, description="consecutive still frames before a page counts as stable")
    video_dup_distance: int = Field(12, ge=0, description="pHash Hamming distance at or below which a page may repeat the last one")
    video_dup_difference: float = Field(3.0, gt=0, description="mean abs difference (0-255) of page crops below which it does")
    video_min_detail: float = Field(100.0, ge=0, description="min Laplacian variance (analysis size) of a page; below = empty view")
    video_jpeg_quality: int = Field(90, ge=10, le=100)
    video_inline_max_bytes: int = Field(1024 * 1024, ge=0, description="larger JPEGs go to the object store")
    # Load generator (events mode)
    generator_linger_ms: int = 100
    generator_batch_bytes: int = 1_000_000
    generator_queue_messages: int = 1_000_000


class BridgeSettings(BaseModel):
    """S3 bucket-notification bridge (``ocrstream bridge``, ``producers.bridge``).

    Turns "object created" events of the documents bucket into ``DocumentRef``s,
    business id = the first key segment (``acme/receipt.jpg`` -> ``acme``).
    Source ``seaweedfs``: the local S3's filer metadata log (``weed
    filer.meta.tail``), resumed from a checkpoint under ``state_dir/bridge``;
    ``kafka``: AWS/MinIO S3 event JSON on the ``s3-events`` topic (MinIO's Kafka
    notification target), consumer group ``group``; ``auto``: ``seaweedfs`` in
    the local profile, ``kafka`` in production.
    """

    source: Literal["auto", "seaweedfs", "kafka"] = "auto"
    group: str = "ocrstream-bridge"
    # SeaweedFS filer host:port (HTTP port; gRPC is +10000). Empty = the local
    # stack's filer on 127.0.0.1 at the S3 port + 3.
    filer: str = ""
    # Where a bridge without a checkpoint starts: the whole history of the bucket,
    # or only uploads from its first start on.
    start_at: Literal["beginning", "now"] = "beginning"
    batch_max: int = Field(200, ge=1, description="events per flush + checkpoint")
    batch_wait_ms: int = Field(0, ge=0, description="extra wait for more events before a flush (0: take what is queued)")
    # Keys ocrstream writes itself (content-addressed uploads of publish/video):
    # already published, never bridged.
    reserved_prefixes: list[str] = Field(default_factory=lambda: ["sha256/"])
    dedupe_max_ids: int = Field(100_000, ge=0, description="recent (business, sha256) pairs skipped as duplicates")
    # ``ocrstream stack up`` also starts the bridge (local profile).
    run_in_stack: bool = True


class DemoSettings(BaseModel):
    """``ocrstream demo`` (``ocrstream/cli/demo.py``): the backfilled history and the live trickle.

    Before the sample documents, the demo backfills ``history_hours`` of
    generated ``OcrResult`` events for its businesses (daily patterns:
    ``synth/history.py``) through the same topics and sink; while it
    serves, it publishes a rendered document every ``live_document_interval_s``
    and a short video clip of pages every ``live_video_interval_s`` (0 = none),
    OCR'd by the worker like any upload.
    """

    history_hours: float = Field(24.0, ge=0, le=24 * 30, description="hours of history to backfill (0 = none)")
    history_scale: float = Field(1.0, gt=0, le=100, description="multiplies every demo business's traffic")
    history_seed: int = 7
    live_document_interval_s: float = Field(10.0, ge=0, description="seconds between live documents (0 = none)")
    live_video_interval_s: float = Field(60.0, ge=0, description="seconds between live video clips (0 = none)")
    live_video_pages: int = Field(2, ge=1, le=10, description="pages per live video clip")


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    """Log ``message`` as a warning the first time this process sees it."""
    if message not in _WARNED:
        _WARNED.add(message)
        log.warning(message)


#: Where each field of the former ``stream`` section went: old name -> (section, field).
STREAM_MOVES: dict[str, tuple[str, str]] = {
    **{name: ("windows", name) for name in WindowSettings.model_fields},
    **{name: ("worker", name) for name in WorkerSettings.model_fields},
    **{name: ("fetch", name) for name in FetchSettings.model_fields},
    "max_attempts": ("retry", "max_attempts"),
    "retry_backoff_ms": ("retry", "backoff_ms"),
    "max_retry_backoff_ms": ("retry", "max_backoff_ms"),
    "dead_letter_excerpt_bytes": ("retry", "dead_letter_excerpt_bytes"),
    **{f"sink_{name}": ("sink", name) for name in ("group", "batch_rows", "publish_windows", "flush_interval_ms",
                                                   "poll_batch")},
    **{name: ("sink", name) for name in ("dedupe_memory_ms", "dedupe_max_ids", "max_result_bytes")},
}

_SECTION_MODELS: dict[str, type[BaseModel]] = {"windows": WindowSettings, "worker": WorkerSettings,
                                               "fetch": FetchSettings, "retry": RetrySettings, "sink": SinkSettings}

# The old section's fields with their new types, so that pydantic-settings decodes
# OCRSTREAM_STREAM__* (JSON lists included) as it decodes the new variables.
_StreamEnv = create_model(
    "_StreamEnv",
    **{old: (_SECTION_MODELS[section].model_fields[name].annotation, None)
       for old, (section, name) in STREAM_MOVES.items()},
)


class Settings(BaseSettings):
    """Everything an ocrstream process needs to know; see module docstring."""

    model_config = SettingsConfigDict(
        env_prefix="OCRSTREAM_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    profile: Literal["local", "production"] = "local"
    state_dir: Path = Field(default_factory=default_state_dir)
    log_level: str = "INFO"

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    clickhouse: ClickHouseSettings = Field(default_factory=ClickHouseSettings)
    stack: StackSettings = Field(default_factory=StackSettings)
    ocr: OcrSettings = Field(default_factory=OcrSettings)
    windows: WindowSettings = Field(default_factory=WindowSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    fetch: FetchSettings = Field(default_factory=FetchSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    sink: SinkSettings = Field(default_factory=SinkSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    producer: ProducerSettings = Field(default_factory=ProducerSettings)
    bridge: BridgeSettings = Field(default_factory=BridgeSettings)
    demo: DemoSettings = Field(default_factory=DemoSettings)
    # Only carries the deprecated OCRSTREAM_STREAM__* variables to _move_stream_keys (never set after it).
    stream: Optional[_StreamEnv] = Field(None, exclude=True, repr=False)  # type: ignore[valid-type]

    @model_validator(mode="before")
    @classmethod
    def _move_stream_keys(cls, data: Any) -> Any:
        """Move the old ``stream`` section's keys to their sections, each with a one-line deprecation warning.

        ``OCRSTREAM_STREAM__GRACE_MS`` becomes ``windows.grace_ms`` unless
        ``OCRSTREAM_WINDOWS__GRACE_MS`` is set too (the new name wins). The
        warning is logged once per process and variable (pydantic-settings
        reads the environment again in :meth:`with_overrides`).
        """
        if not isinstance(data, dict) or "stream" not in data:
            return data
        data = dict(data)
        old_section = data.pop("stream") or {}
        for old_name, value in old_section.items():
            section, name = STREAM_MOVES.get(old_name.lower(), (None, None))
            if section is None:  # not a field of the old section either: ignored, as it always was
                continue
            _warn_once(f"{env_name(('stream', old_name))} is deprecated: use {env_name((section, name))}")
            target = data.get(section) or {}
            target = dict(target.model_dump(exclude_unset=True) if isinstance(target, BaseModel) else target)
            target.setdefault(name, value)
            data[section] = target
        return data

    @property
    def clickhouse_dsn(self) -> str:
        """The effective ClickHouse DSN (embedded chDB path when none is set)."""
        if self.clickhouse.dsn:
            return self.clickhouse.dsn
        return f"chdb://{(self.state_dir / 'clickhouse').resolve()}"

    @property
    def file_root(self) -> Path:
        """Root under which ``file://`` URIs may be read by the fetch stage."""
        return (self.fetch.file_root or (self.state_dir / "files")).resolve()

    def topic(self, short_name: str) -> str:
        """Full topic name for a short name from :mod:`ocrstream.topics`."""
        return f"{self.kafka.topic_prefix}{short_name}"

    def with_overrides(self, **dotted: Any) -> "Settings":
        """Copy with ``{"kafka.bootstrap": "h:9092", "state_dir": p}`` applied.

        ``None`` values are ignored, so CLI options that were not given keep the
        environment's value.
        """
        data = self.model_dump()
        for key, value in dotted.items():
            if value is None:
                continue
            parts = key.replace("__", ".").split(".")
            node = data
            for part in parts[:-1]:
                node = node[part]
            node[parts[-1]] = value
        return Settings.model_validate(data)


    def as_env(self) -> dict[str, str]:
        """Environment variables that rebuild these settings in a child process.

        Every field becomes ``OCRSTREAM_<SECTION>__<FIELD>`` (flat fields
        ``OCRSTREAM_<FIELD>``); lists and dicts as JSON, which pydantic-settings
        parses back; ``None`` values are left out (the child uses the default).
        """
        env: dict[str, str] = {}

        def put(prefix: str, value: Any) -> None:
            if value is None:
                return
            if isinstance(value, (list, dict)):
                env[prefix] = json.dumps(value)
            else:
                env[prefix] = str(value)

        for name, value in self.model_dump(mode="json").items():
            if isinstance(value, dict) and name in _SECTIONS:
                for field_name, field_value in value.items():
                    put(f"OCRSTREAM_{name.upper()}__{field_name.upper()}", field_value)
            else:
                put(f"OCRSTREAM_{name.upper()}", value)
        return env


def _section_model(field: Any) -> type[BaseModel] | None:
    """The model of a section field of :class:`Settings` (``None`` for a flat field)."""
    annotation = getattr(field, "annotation", None)
    if get_origin(annotation) in (Union, UnionType):  # Optional[Model]: the deprecated stream section
        annotation = next((a for a in get_args(annotation) if a is not type(None)), None)
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


_SECTIONS = {name for name, f in Settings.model_fields.items() if _section_model(f) is not None}


class SettingsError(ValueError):
    """Invalid configuration; ``str()`` is one line naming the variable (or flag) and what is wrong."""


_SECRET_WORDS = ("secret", "password", "token", "key", "dsn")


def env_name(loc: tuple[Any, ...]) -> str:
    """The environment variable of a settings field: ``("kafka", "partitions")`` -> ``OCRSTREAM_KAFKA__PARTITIONS``."""
    parts = [str(p) for p in loc if not isinstance(p, int)]
    if not parts:
        return "OCRSTREAM_*"
    if parts[0] in _SECTIONS and len(parts) > 1:
        return f"OCRSTREAM_{parts[0].upper()}__{parts[1].upper()}"
    return f"OCRSTREAM_{parts[0].upper()}"


def describe_error(exc: Exception, flags: dict[str, str] | None = None) -> str:
    """One line for a settings validation error; ``flags`` maps dotted field names to the CLI flag that set them."""
    flags = flags or {}
    if isinstance(exc, ValidationError):
        errors = exc.errors(include_url=False)
        first = errors[0]
        loc = tuple(first.get("loc") or ())
        dotted = ".".join(str(p) for p in loc if not isinstance(p, int))
        name = flags.get(dotted) or env_name(loc)
        value = first.get("input")
        secret = any(w in dotted.lower() for w in _SECRET_WORDS)
        shown = "" if secret or isinstance(value, dict) else f"={value!r}"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return " ".join(f"invalid setting {name}{shown}: {first.get('msg', 'invalid value')}{more}".split())
    text = " ".join(str(exc).split())
    bad = _unparsable_env_var(text)
    if bad:
        return bad
    return f"invalid settings: {text[:300]}"


def _unparsable_env_var(text: str) -> str | None:
    """For pydantic-settings' 'error parsing value for field "api"': the variable whose JSON is broken."""
    import os
    import re

    m = re.search(r'field "(\w+)"', text)
    if not m:
        return None
    section = m.group(1)
    model = Settings.model_fields.get(section)
    prefix = f"OCRSTREAM_{section.upper()}"
    for name, value in sorted(os.environ.items()):
        if name != prefix and not name.startswith(prefix + "__"):
            continue
        field_name = name[len(prefix) + 2:].lower() if name != prefix else None
        annotation = str(_field_annotation(model, field_name)) if model is not None else ""
        if field_name is not None and not any(t in annotation for t in ("list", "dict")):
            continue
        try:
            json.loads(value)
        except ValueError as exc:
            kind = ("a JSON object" if annotation.startswith("dict") else
                    "a JSON list" if annotation.startswith("list") else "JSON")
            secret = any(w in name.lower() for w in _SECRET_WORDS)
            got = "" if secret else f", got {value[:80]!r}"
            return f"invalid setting {name}: expected {kind}{got} ({exc})"
    return None


def _field_annotation(model: Any, field_name: str | None) -> Any:
    section = _section_model(model)
    if field_name is None or section is None:
        return ""
    field = section.model_fields.get(field_name)
    return field.annotation if field is not None else ""


def load_settings(flags: dict[str, str] | None = None, **dotted: Any) -> Settings:
    """Settings from the environment with ``dotted`` overrides (see :meth:`Settings.with_overrides`).

    Raises :class:`SettingsError` with one line (the variable or flag, the
    value unless it is a secret, what is wrong) instead of pydantic's report.
    """
    try:
        return Settings().with_overrides(**dotted)
    except (ValidationError, _PydanticSettingsError, ValueError) as exc:
        raise SettingsError(describe_error(exc, flags)) from None
