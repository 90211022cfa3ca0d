package order

import (
	"fmt"

	"github.com/ordo-platform/ordo/domain"
)

// Status is where an order is in its lifecycle. The zero value means the
// order does not exist.
type Status string

// Statuses.
const (
	StatusPending   Status = "pending"
	StatusConfirmed Status = "confirmed"
	StatusCancelled Status = "cancelled"
)

// CancelReason says why an order was cancelled.
type CancelReason string

// Cancellation reasons, exactly these.
const (
	ReasonOutOfStock      CancelReason = "out_of_stock"
	ReasonPaymentDeclined CancelReason = "payment_declined"
	ReasonFraudSuspected  CancelReason = "fraud_suspected"
	ReasonCancelledByUser CancelReason = "cancelled_by_user"
	ReasonTimeout         CancelReason = "timeout"
)

// CancelReasons lists every cancellation reason.
func CancelReasons() []CancelReason {
	return []CancelReason{ReasonOutOfStock, ReasonPaymentDeclined, ReasonFraudSuspected, ReasonCancelledByUser, ReasonTimeout}
}

// ParseCancelReason checks a cancellation reason.
func ParseCancelReason(s string) (CancelReason, error) {
	switch r := CancelReason(s); r {
	case ReasonOutOfStock, ReasonPaymentDeclined, ReasonFraudSuspected, ReasonCancelledByUser, ReasonTimeout:
		return r, nil
	}
	return "", domain.Invalid(CodeInvalidCancelReason, "reason", fmt.Sprintf(
		"reason %q must be one of out_of_stock, payment_declined, fraud_suspected, cancelled_by_user, timeout", s))
}
