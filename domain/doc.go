// Package domain holds the vocabulary shared by Ordo's aggregates: the Event
// interface, identifiers (ID), money (Money), the typed error (*Error) that
// handlers map to HTTP problem documents, and small value checks the
// aggregates share.
//
// The domain is pure: it imports the standard library and its own
// sub-packages only. It never reads a clock, a database or the network;
// commands carry everything a decision needs (ids, prices, timestamps), so
// every decision is a deterministic function of (state, command).
//
// Each aggregate package (user, product, order, payment) follows one shape:
//
//   - a closed set of event types, each a named struct whose EventType
//     returns an explicit constant ("order.placed"), listed by Events();
//   - an aggregate with unexported fields, rebuilt from history by Fold and
//     Evolve, which never validate and never fail on a known event;
//   - Decide* methods, one per command, which validate the command against
//     the current state and return the events to append, or a *Error;
//     an empty slice with a nil error means "nothing to do" (an idempotent
//     retry);
//   - StreamType and StreamID naming the aggregate's stream in the store.
//
// Serialisation (Avro, JSON, SQL) lives outside: events carry no struct tags.
package domain
