-- Streams (issue 5): exactly-once effect of the aggregation sink.
--
-- stream_checkpoints: one logical row per (consumer_group, topic, partition):
-- the window-operator state of that input partition (`state`, zlib-compressed
-- JSON of WindowOperator.snapshot(partitions=[p])) together with the last input
-- offset it covers. The sink writes documents + windows for a batch FIRST and the
-- checkpoint LAST; on (re)assignment it restores the newest checkpoint (highest
-- version) and seeks the consumer to `offset + 1`, ignoring Kafka's committed
-- offset. Rows written after the checkpoint by a crashed run are rewritten by the
-- replay with a higher version (ReplacingMergeTree keeps the newest).

CREATE TABLE IF NOT EXISTS stream_checkpoints
(
    consumer_group   LowCardinality(String),
    topic            LowCardinality(String),
    partition        Int32,
    offset           Int64 COMMENT 'last input offset covered by state; resume at offset + 1',
    state            String COMMENT 'zlib(JSON(WindowOperator snapshot of this partition))',
    state_format     LowCardinality(String) DEFAULT 'zlib+json/v1',
    records          UInt64 COMMENT 'input records handled by this writer since it started',
    writer           String COMMENT 'host:pid of the sink that wrote it',
    written_at       DateTime64(3, 'UTC'),
    version          UInt64 COMMENT 'monotonic (wall-clock microseconds); newest wins'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (consumer_group, topic, partition);

-- Source position of each raw document: duplicate OcrResults of one document_id
-- (an OCR worker re-sending after a crash) are recognised by an older
-- (partition, offset), and a replay of the same offset is not a duplicate.
ALTER TABLE documents ADD COLUMN IF NOT EXISTS source_partition Int32 DEFAULT -1;

ALTER TABLE documents ADD COLUMN IF NOT EXISTS source_offset Int64 DEFAULT -1;

ALTER TABLE documents ADD INDEX IF NOT EXISTS idx_document_id document_id TYPE bloom_filter(0.01) GRANULARITY 1;
