// Package app is Ordo's application layer: one command or query per file, each a small
// handler with Handle(ctx, cmd), used by the HTTP edge and the order saga alike.
//
// Every command goes through Execute: load the aggregate's stream, fold it, decide, and
// append the new events with optimistic concurrency, retrying a bounded number of times
// when another writer got there first. Side rows that must commit with the events (an
// email reservation, an idempotency record) are written in the same transaction.
package app
