// Package sagas is the order saga orchestrator: it takes every placed order to
// confirmed, or to cancelled with a reason, reserving stock, checking for fraud and
// taking payment through the payment provider port (sagas/psp), and undoing what was
// done when a step fails, times out or the customer cancels. docs/saga.md is the full
// description; this comment is the map.
//
// # State machine
//
//	reserving ──reserve (all items, one tx)──▶ authorizing ──fraud check, authorize──▶ capturing
//	    │ out of stock                            │ declined / fraud / timeout            │ capture
//	    ▼                                         ▼                                       ▼
//	compensating ◀─────────────────────────── (any forward step: timeout, ◀──── confirming
//	    │  1. release stock (or restock) + cancel order, one tx      customer cancel)    │ confirm + commit stock (one tx)
//	    │  2. void the authorization, or refund the capture                              ▼
//	    ├──▶ cancelled                                                                confirmed
//	    └──▶ compensation_failed (a compensation failed for good: an operator's)          │ customer cancel
//	                                                                           compensating ◀┘ (restock, refund)
//
// An authorization is captured at once when it can be (captureNow): authorizing then
// goes to confirmed in one transaction; capturing and confirming are the states of a
// capture or confirmation that could not follow at once.
//
// # Persistence: a versioned state row
//
// Each saga is a row of order_sagas, updated with optimistic concurrency (every write
// checks and bumps version), plus a step log (saga_steps). A row rather than an
// event-sourced saga stream, because the saga is queried by what it is waiting for:
// the timer loop picks due rows by wake_at with FOR UPDATE SKIP LOCKED, the sweeper by
// reservation expiry, the admin list by state, the fraud rule by customer. A stream
// would need a projection for each of those. The business facts are events anyway, in
// the order, inventory and payment streams; the row commits in the same Postgres
// transaction as the events of each step (app.WithTx), so the saga never believes
// something the streams do not say.
//
// # Workers, leases and timers
//
// Orders come in through Kafka (group ordo-saga-orders on the orders topic, keyed by
// order stream, so each order's events reach one member in order). The intake writes
// the new saga rows and the topic offsets in one transaction (exactly-once intake) and
// runs the new sagas on the same worker. A running saga is leased: owner is a token
// of the worker's claim and wake_at the lease's end, renewed every third of the lease
// while a step runs. A worker that dies stops renewing; its sagas become due and the
// timer loop of any worker claims them and resumes each from its state. Deadlines
// (each step's timeout) are in the row, so they survive crashes too. The version check
// fences a worker that lost its lease (a zombie): its writes are refused.
//
// # Idempotency
//
// Every command to an aggregate is idempotent per order (reserve, release, commit,
// confirm, cancel; restocking uses seeded event ids), and every provider call carries
// the key psp.Key(order id, step), so a step repeated after a crash or by a second
// worker changes nothing and charges nothing twice.
package sagas
