// Package order is the order aggregate: an order is placed with the prices
// of that moment, then confirmed or cancelled by the order saga, or
// cancelled by its customer.
//
// Lifecycle: pending → confirmed, pending → cancelled, confirmed → cancelled
// (by the customer only; there is no shipping in Ordo, and the saga refunds
// a confirmed order that is cancelled).
//
// Decisions made here, which callers rely on:
//
//   - Prices come in with the command (PricedItem): the caller reads the
//     catalogue, the order records what it was told and computes every line
//     total and the order total itself, with overflow checks.
//   - Two lines for the same product are rejected (CodeDuplicateProduct)
//     rather than merged: a client that means "3 of X" says so, and a merge
//     would have to pick between two possibly different price snapshots.
//   - Confirming a confirmed order and cancelling a cancelled order are
//     idempotent no-ops (no events, no error), whatever reason the retry
//     gives: the saga's steps are delivered at least once, and a customer's
//     second click must not fail. The first reason stands.
//   - Confirming a cancelled order is a conflict (CodeOrderAlreadyCancelled).
//   - A confirmed order can only be cancelled with reason cancelled_by_user:
//     the saga's reasons (out_of_stock, payment_declined, fraud_suspected,
//     timeout) describe a pending order's failure, and arriving after the
//     confirmation they are stale, so they are refused
//     (CodeOrderAlreadyConfirmed).
package order
