// Package notify tells customers about their orders as they change: over a WebSocket
// (GET /v1/notifications/ws) within a second, and by email when SMTP is configured.
//
// The pieces:
//   - History, a consumer group on the users and orders topics, turns each order status
//     change into a row of order_notifications numbered per customer, and NOTIFYs it in
//     the same transaction; for confirmed and cancelled orders it also queues an email in
//     email_outbox. Rows are keyed by event id, so redelivered records change nothing.
//     A poll's batches (one per partition) are recorded in one transaction.
//   - Hub, in every HTTP replica, LISTENs for those rows and pushes each to the
//     WebSocket clients of its customer only. A client reconnecting with ?since=<seq>
//     first gets what it missed from the table, then the live feed, without gaps or
//     duplicates. Each client has a bounded send buffer; a client too slow to drain it is
//     disconnected, never blocking the others. Clients are pinged to keep connections
//     alive through proxies and to notice dead peers.
//   - Mailer sends queued emails through SMTP (at least once; retried with backoff).
//
// Replays (`ordo replay`) rebuild read models only and never touch these tables, so
// they never notify or email anyone.
package notify
