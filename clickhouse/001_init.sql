-- ocrstream analytics schema. Applied in file-name order by `ocrstream stack up`
-- (ocrstream/clickhouse.py), each file once, recorded in schema_migrations.
-- Statements are separated by lines holding only ';'-terminated SQL.
-- Idempotency: every table is a ReplacingMergeTree keyed on the natural id,
-- so a replayed row replaces its twin; read with FINAL (or argMax by version).

CREATE TABLE IF NOT EXISTS documents
(
    document_id      String,
    business_id      LowCardinality(String),
    event_time       DateTime64(3, 'UTC'),
    processed_at     DateTime64(3, 'UTC'),
    source           LowCardinality(String),
    uri              String,
    doc_type         LowCardinality(String),
    type_confidence  Float32,
    engine           LowCardinality(String),
    text             String,
    pages            UInt16,
    vendor           Nullable(String),
    date             Nullable(String),
    currency         Nullable(String),
    subtotal         Nullable(Float64),
    tax              Nullable(Float64),
    total            Nullable(Float64),
    field_confidences Map(String, Float32),
    line_items       String COMMENT 'JSON array of {description, quantity, unit_price, amount, confidence}',
    lines            String COMMENT 'JSON array of {text, confidence, box, page}',
    score            Float32,
    ocr_score        Float32,
    fetch_s          Float64,
    classify_s       Float64,
    ocr_s            Float64,
    extract_s        Float64,
    is_late          UInt8 COMMENT '1 when the event arrived after its windows closed',
    version          UInt64 COMMENT 'ingest time in ms; the newest copy wins'
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(event_time)
ORDER BY (business_id, event_time, document_id);

CREATE TABLE IF NOT EXISTS windows
(
    business_id      LowCardinality(String),
    granularity      LowCardinality(String) COMMENT 'minute | hour',
    window_start     DateTime64(3, 'UTC') COMMENT 'inclusive',
    window_end       DateTime64(3, 'UTC') COMMENT 'exclusive',
    document_count   UInt64,
    total_amount     Float64,
    avg_score        Float64,
    avg_ocr_score    Float64,
    median_score     Float64,
    median_ocr_score Float64,
    ocr_seconds_p50  Float64,
    ocr_seconds_p95  Float64,
    type_counts      Map(String, UInt64),
    late_events      UInt64,
    min_event_time   DateTime64(3, 'UTC'),
    max_event_time   DateTime64(3, 'UTC'),
    is_final         UInt8,
    emitted_at       DateTime64(3, 'UTC'),
    version          UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (business_id, granularity, window_start);

CREATE TABLE IF NOT EXISTS dead_letters
(
    source_topic       LowCardinality(String),
    source_partition   Int32,
    source_offset      Int64,
    stage              LowCardinality(String),
    error_class        LowCardinality(String),
    error_message      String,
    attempts           UInt32,
    first_failure_time DateTime64(3, 'UTC'),
    last_failure_time  DateTime64(3, 'UTC'),
    document_id        Nullable(String),
    business_id        Nullable(String),
    reference          Nullable(String)
)
ENGINE = ReplacingMergeTree
ORDER BY (source_topic, source_partition, source_offset, stage);
