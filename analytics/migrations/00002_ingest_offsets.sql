-- Ordo analytics, version 2: where the sink resumes.
--
-- The sink writes, after every flush that ClickHouse acknowledged, the next Kafka offset
-- of each partition whose records the flush made durable. On joining its consumer group
-- it starts each partition at max(next_offset) of its group here, so its position always
-- lives with its data: a recreated database is filled again from what Kafka retains.
-- Rows only ever record offsets below which every record is in ClickHouse, and the
-- position is their maximum, so late writes (from a replica that just lost the
-- partition, say) can only move it forward over durable records, never back or past
-- missing ones. Kafka's committed offsets of the group are a copy for lag dashboards.
CREATE TABLE IF NOT EXISTS ingest_offsets
(
    consumer_group String,
    topic          String,
    partition      Int32,
    next_offset    Int64,
    flushed_at     DateTime('UTC')
)
ENGINE = ReplacingMergeTree(next_offset)
ORDER BY (consumer_group, topic, partition);
