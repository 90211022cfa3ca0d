// Package payment is the payment aggregate: the record of what the payment
// service provider (PSP) said about an order's payment. There is one payment
// per order and its id is the order id (stream "payment-<order id>").
//
// The aggregate makes no provider calls: the saga calls the PSP (with an
// idempotency key) and records the outcome through a Decide* method, which
// checks that the outcome is consistent with what came before.
//
// Lifecycle:
//
//	(none) ──authorized──▶ authorized ──captured──▶ captured ──refunded──▶ refunded
//	   │                       └──voided──▶ voided
//	   ├──declined──▶ declined            (terminal)
//	   └──fraud_suspected──▶ fraud_suspected (terminal)
//
// Rules: no capture without an authorization, none above the authorized
// amount, and only one capture (partial capture allowed, the rest of the
// authorization lapses); no void after a capture (refund instead); no refund
// without a capture, none above the captured amount, and only one refund.
// Declined and fraud_suspected are terminal: nothing may follow them (the
// order is cancelled; a new attempt would be a new order).
//
// Every outcome is idempotent: recording the same outcome again (same
// amount, same reference) returns no events, because the saga's steps are
// delivered at least once. Recording a different outcome for a step already
// taken is a conflict.
package payment
