// Package projections builds Ordo's read models in Postgres from the event stream and
// answers the query side from them: the order view (each order's status, reason, items,
// totals and timestamps), each customer's order list, and the product catalogue with
// stock (on hand, reserved, available).
//
// # Live projectors
//
// One consumer group per read model (GroupOrders, GroupProducts, constant names) on the
// shared consumer runtime (internal/consumer): batches per partition, in offset order.
// The projector keeps a poll's batches (Handle) and applies them together (Flush, as a
// consumer.Flusher due after every poll), in one Postgres transaction that
//
//  1. takes the projection's live lock shared (a rebuild's switch-over takes it
//     exclusively, so it waits for batches in flight and new batches wait for it);
//  2. locks the rows of the poll's partitions in projection_offsets for the active
//     version (in topic and partition order) and reads their next_offset;
//  3. skips records below next_offset (a redelivery, or a zombie member's batch after a
//     rebalance: the row lock serialises it behind the new owner, and by then the offset
//     has moved past it);
//  4. dead-letters records it cannot decode (reason in the headers) and goes on;
//  5. folds the rest into the rows, which carry the stream version they reflect: an event
//     at or below a row's version is a duplicate and changes nothing, an event beyond
//     version+1 means records are missing and the versions in between are read from the
//     event store first;
//  6. stores each partition's next_offset = last offset + 1 and sends NOTIFY (delivered
//     at commit).
//
// Effects and position commit together or not at all, so a crash, a restart without a
// Kafka commit, a rebalance or a duplicated record never loses or doubles an event; the
// group resumes from projection_offsets (consumer.OffsetStore), not from Kafka's
// committed offsets (those are kept up to date for monitoring only).
//
// # Versions and rebuilds
//
// A read model's tables are versioned (read_orders_v3, read_products_v3); the registry
// projection_versions says which version is active and which one is being built.
// Queries read the views read_orders and read_products, which point at the active
// version. Rebuild (ordo replay) loads a new version from the event store, catches up,
// and switches over in one transaction; see Rebuild and docs/projections.md.
package projections
