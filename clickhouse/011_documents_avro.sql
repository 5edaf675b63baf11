-- Throughput (issue 11): the sink inserts documents as Avro bodies, parsed by ClickHouse.
--
-- The sink decodes only the fields it needs from each OcrResult (window fields first in
-- the schema) and sends the raw Avro bodies, each followed by five fields of its own
-- (is_late, late_update, version, source_partition, source_offset), as one Avro object
-- container per flush: INSERT INTO documents_avro FORMAT Avro. documents_avro has the
-- shape of that record and keeps nothing (Null engine); the materialized view maps it
-- onto the documents columns (nested records flattened, arrays and maps as JSON text).
-- A new OcrResult field needs a column here and its mapping in the view (a new migration
-- that re-creates both); the sink test checks every documents column of a full record.
-- The CHECK constraints are the validation of the fields the sink does not decode.

CREATE TABLE IF NOT EXISTS documents_avro
(
    document_id      String,
    business_id      String,
    event_time       DateTime64(3, 'UTC'),
    doc_type         String,
    score            Float32,
    ocr_score        Float32,
    timings          Tuple(ocr_s Float64, fetch_s Float64, classify_s Float64, extract_s Float64),
    fields           Tuple(total Nullable(Float64), subtotal Nullable(Float64), tax Nullable(Float64),
                           vendor Nullable(String), date Nullable(String), currency Nullable(String),
                           confidences Map(String, Float32)),
    pages            Int32,
    type_confidence  Float32,
    processed_at     DateTime64(3, 'UTC'),
    uri              String,
    source           String,
    engine           String,
    text             String,
    lines            Array(Tuple(text String, confidence Float32, box Array(Float32), page Int32)),
    line_items       Array(Tuple(description String, quantity Nullable(Float64), unit_price Nullable(Float64),
                                 amount Nullable(Float64), confidence Float32, raw_text String, page Int32,
                                 box Array(Float32))),
    field_evidence   Map(String, Tuple(value Variant(String, Float64), confidence Float32, raw_text String,
                                       page Int32, box Array(Float32))),
    page_sizes       Array(Tuple(width Int32, height Int32)),
    is_late          UInt8,
    late_update      UInt8,
    version          UInt64,
    source_partition Int32,
    source_offset    Int64,
    -- ranges of the fields the sink does not decode itself (ocrstream/result_validation.py checks the
    -- window fields before the operator); a violating row is dead-lettered by the sink
    CONSTRAINT money_range CHECK (fields.subtotal IS NULL OR abs(fields.subtotal) <= 1e15)
                             AND (fields.tax IS NULL OR abs(fields.tax) <= 1e15),
    CONSTRAINT field_text_length CHECK ifNull(length(fields.vendor), 0) <= 1024
                                   AND ifNull(length(fields.date), 0) <= 64
                                   AND ifNull(length(fields.currency), 0) <= 16,
    CONSTRAINT confidences_range CHECK length(fields.confidences) <= 64
                                   AND arrayAll(k -> length(k) <= 64, mapKeys(fields.confidences))
                                   AND arrayAll(v -> v >= 0 AND v <= 1, mapValues(fields.confidences)),
    CONSTRAINT pages_range CHECK pages BETWEEN 1 AND 65535,
    CONSTRAINT type_confidence_range CHECK type_confidence >= 0 AND type_confidence <= 1,
    CONSTRAINT processed_at_range CHECK toUnixTimestamp64Milli(processed_at) >= 0,
    CONSTRAINT reference_length CHECK length(uri) <= 8192 AND length(source) <= 64 AND length(engine) <= 64
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS documents_avro_mv TO documents AS
SELECT document_id, business_id, event_time, processed_at, source, uri, doc_type, type_confidence, engine, text,
       toUInt16(pages) AS pages,
       fields.vendor AS vendor, fields.date AS date, fields.currency AS currency, fields.subtotal AS subtotal,
       fields.tax AS tax, fields.total AS total, fields.confidences AS field_confidences,
       toJSONString(line_items) AS line_items, toJSONString(lines) AS lines, score, ocr_score,
       timings.fetch_s AS fetch_s, timings.classify_s AS classify_s, timings.ocr_s AS ocr_s,
       timings.extract_s AS extract_s, is_late, late_update, version, source_partition, source_offset,
       toJSONString(field_evidence) AS field_evidence, toJSONString(page_sizes) AS page_sizes
FROM documents_avro;
