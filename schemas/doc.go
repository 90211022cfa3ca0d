// Package schemas holds the Avro schemas of every domain event and the Codec
// that maps domain events to and from Avro binary, and Avro to JSON.
//
// There is one schema file per event type and version, named after the event
// type with its first dot replaced by an underscore: order.placed version 1
// is order_placed.v1.avsc. The files are embedded; every version ever
// published stays, and the Codec reads a payload of any version into the
// newest shape through Avro schema resolution. See README.md for how to
// evolve a schema; in short, add x.v2.avsc whose new fields have defaults,
// and never edit or delete a published file (the pinned-fingerprint test
// fails if you do).
//
// Design choices that matter to consumers:
//
//   - Ids are Avro strings with logicalType uuid (canonical lower-case text),
//     times are longs with logicalType timestamp-micros (UTC), money is a long
//     count of minor units plus an ISO 4217 string.
//   - Closed vocabularies (roles, cancellation reasons, statuses) are plain
//     strings, not Avro enums. Adding a symbol to an enum breaks every reader
//     that has not been upgraded yet (an old reader cannot resolve an unknown
//     symbol unless the enum declared a default, and a default would silently
//     turn "fraud_suspected" into "unknown"); with strings, the domain
//     validates values and old readers pass new ones through.
//   - The mapping between domain structs and Avro record structs lives here,
//     never in the domain: the domain has no serialisation tags.
//   - Fingerprint is the 8-byte CRC-64-AVRO (Rabin) fingerprint of a schema's
//     Parsing Canonical Form: it identifies the writer schema in Kafka headers
//     and in the event store, and changes with any change that matters to the
//     binary encoding (but not with "doc" edits).
package schemas
