// Package analytics streams every Ordo event into ClickHouse, where analysts query it
// with SQL (docs/analytics.md is their guide, and a test runs every query in it), and
// answers the sales report of the HTTP API from there.
//
// # The sink
//
// Sink (`ordo analytics`) is a consumer group over every event topic (internal/consumer).
// Handle decodes each batch (envelope, Avro payload to JSON for the raw events table and
// to the domain event for the typed tables) into a column-wise buffer; records that do
// not decode go to the dead-letter topic. The buffer is flushed when it holds FlushRows
// events or its oldest event is FlushInterval old (the runtime keeps polling across
// batches until then: consumer.Flusher), or at a backlog's tail (after a full flush or
// a batch with records beyond it, once every owned partition is read to its end; see
// sinkHandler.FlushIn), as one INSERT per table over the native protocol, the tables in
// parallel, in the background: decoding the next records overlaps with ClickHouse
// inserting the previous ones; at most one flush is in flight.
// Under a trickle the broker holds each fetch for a sixth of FlushInterval (at most
// 500 ms; consumer.Config.Linger): the events wait in the buffer anyway, and a fetch per
// produce batch of the relay cost the broker and the sink more CPU than the inserts.
// Reading a backlog, each fetch brings at most 8 MiB (sinkFetchMaxBytes): franz-go
// decodes a response whole before the sink sees any of it, so smaller ones let the
// next decode while the sink handles the last.
//
// # Offsets
//
// The sink's position lives with its data: after ClickHouse acknowledged every row of a
// flush, the flush records in ingest_offsets the next offset of each partition it
// covered, and the group starts every partition at the maximum recorded for it
// (consumer.OffsetStore). A recorded offset therefore never exceeds what is durable, and
// a crash anywhere loses nothing: what was not acknowledged is consumed again. The
// maximum only moves forward, over durable records, whichever replica writes last, so
// rebalances and zombie replicas are harmless too. A rebalance may come while a flush is
// being inserted; the new assignment's offsets are read once that insert has recorded
// its own (waiting up to 30 s), so its events are not delivered and inserted again. The
// backlog's-tail rule counts only the partitions the sink owns now. Kafka's committed
// offsets of the group, which the runtime writes after each flush started, are a copy
// for lag dashboards.
//
// # Exactly once, as analysts see it
//
// Delivery is at least once: a crash between an acknowledged insert and the offsets row
// delivers a flush again, and `ordo replay --target analytics` writes everything again.
// Every table the sink writes is a ReplacingMergeTree whose sorting key is the row's
// identity (an event is (stream_id, version), which the event store keeps unique), so
// duplicates are the same row twice, in the same partition (partition keys are
// functions of the event), and FINAL (or uniqExact of the key, or GROUP BY the key)
// counts each once. Materialized views see every insert, duplicates included, so they
// only keep idempotent aggregate states (argMin and argMax on the stream version, min,
// max, uniqExact, and their -If forms): a duplicate cannot change them. Sums and counts
// are computed at query time by views over those states or over FINAL, never
// pre-summed: ClickHouse 18.16 has no insert deduplication for non-replicated tables, so
// a SummingMergeTree rollup would count a redelivered batch twice.
//
// # ClickHouse versions
//
// The DDL in migrations/ and every query here and in the guide run on ClickHouse 18.16
// (the local stack) and on current versions: DateTime('UTC') plus Int64 microseconds
// instead of DateTime64, no LowCardinality, visitParamExtract* instead of JSONExtract*,
// no window functions, explicit column lists on INSERT, and no alias that repeats a
// column name its SELECT reads. Migrate applies the versioned files of migrations/ and
// records them in the database's own schema_migrations table; every statement is
// idempotent, so an interrupted run is finished by the next.
package analytics
