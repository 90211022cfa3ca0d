// Package psp is the payment service provider (PSP) port of the order saga: the four
// calls the saga makes to whoever moves the money (Authorize, Capture, Void, Refund),
// their requests and answers, and the errors an adapter translates its provider's
// failures into. The built-in simulator (pspsim) implements it; a real provider plugs
// in behind the same interface (see docs/saga.md, "Plugging in a real provider").
//
// The contract every adapter honours:
//
//   - Every request carries an IdempotencyKey, derived by the saga from (order id,
//     step). Calling again with a key the provider has seen returns the first answer
//     and moves no money: a crash and a redelivery never charge twice.
//   - Every request carries the order id as the merchant reference. Void and Refund
//     must work from it alone ("technical cancel"): after an Authorize that timed out
//     the saga does not know whether, or under which reference, the provider
//     authorized, and it must still be able to take the authorization back.
//   - Calls respect the context's deadline: the saga's step timeout. An adapter
//     returns the context's error when it ends, never blocks past it.
//   - A business answer (declined, refused as fraud) is a result, not an error. Errors
//     are failures: transient ones (network, 5xx, timeouts) are retried by the saga
//     with the same key; permanent ones (wrapped with Permanent, or ErrAlreadyCaptured,
//     ErrNotAuthorized) are not.
package psp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ordo-platform/ordo/domain"
)

// Provider is a payment service provider as the saga sees it. Implementations are safe
// for concurrent use.
type Provider interface {
	// Name is the provider's snake_case name, recorded in payment events ("simulator").
	Name() string
	// Authorize reserves the amount on the customer's payment method.
	Authorize(ctx context.Context, req AuthorizeRequest) (Authorization, error)
	// Capture moves (at most) the authorized amount. Capturing an authorization that
	// was voided, or that does not exist, is ErrNotAuthorized.
	Capture(ctx context.Context, req CaptureRequest) (Capture, error)
	// Void cancels the order's authorization if there is one, found by the reference
	// or else by the order id. With no authorization it answers Voided=false and
	// makes sure a late authorization under that order can no longer succeed. After a
	// capture it fails with ErrAlreadyCaptured: refund instead.
	Void(ctx context.Context, req VoidRequest) (Void, error)
	// Refund gives the order's captured money back. Without a capture it fails with
	// ErrNotCaptured.
	Refund(ctx context.Context, req RefundRequest) (Refund, error)
}

// AuthorizeRequest asks to authorize an order's total.
type AuthorizeRequest struct {
	IdempotencyKey string
	OrderID        domain.ID
	CustomerID     domain.ID
	// Token is the provider's token of the customer's payment method (never card data).
	Token  string
	Amount domain.Money
}

// Outcome is the provider's business answer to an authorization.
type Outcome string

// Outcomes of Authorize.
const (
	Authorized Outcome = "authorized"
	Declined   Outcome = "declined"
	// Fraud: the provider's own risk check refused the payment.
	Fraud Outcome = "fraud"
)

// Authorization is the answer to Authorize.
type Authorization struct {
	Outcome Outcome
	// Reference is the provider's reference of the authorization (Authorized only).
	Reference string
	Amount    domain.Money
	At        time.Time
	// DeclineReason is a snake_case reason ("card_declined"); DeclineCode the
	// provider's own code, kept for support (Declined only).
	DeclineReason string
	DeclineCode   string
	// FraudReasons and FraudScore (0..100) explain a Fraud outcome.
	FraudReasons []string
	FraudScore   int
}

// CaptureRequest asks to capture an authorization.
type CaptureRequest struct {
	IdempotencyKey string
	OrderID        domain.ID
	// AuthorizationReference is Authorization.Reference.
	AuthorizationReference string
	Amount                 domain.Money
}

// Capture is the answer to a successful Capture.
type Capture struct {
	Reference string
	Amount    domain.Money
}

// VoidRequest asks to cancel an order's authorization.
type VoidRequest struct {
	IdempotencyKey string
	OrderID        domain.ID
	// AuthorizationReference is the authorization to void when the saga knows it;
	// empty after an Authorize that timed out (the order id then finds it).
	AuthorizationReference string
}

// Void is the answer to Void.
type Void struct {
	// Voided is true when an authorization existed and is now cancelled; false when
	// there was none (nothing was ever reserved on the customer's card).
	Voided bool
	// Authorization describes what was voided (Voided only), so that the saga can
	// record an authorization it never heard of (one whose Authorize timed out).
	Authorization Authorization
}

// RefundRequest asks to refund an order's capture.
type RefundRequest struct {
	IdempotencyKey string
	OrderID        domain.ID
	// CaptureReference is the capture to refund when known.
	CaptureReference string
	Amount           domain.Money
}

// Refund is the answer to a successful Refund.
type Refund struct {
	Reference string
	Amount    domain.Money
	// Capture describes what was refunded.
	Capture Capture
}

// Errors adapters return (wrapped); test them with errors.Is. All are permanent.
var (
	// ErrAlreadyCaptured: Void after a capture; refund instead.
	ErrAlreadyCaptured = errors.New("psp: payment already captured")
	// ErrNotAuthorized: Capture without a live authorization (none, or voided).
	ErrNotAuthorized = errors.New("psp: no live authorization")
	// ErrNotCaptured: Refund without a capture.
	ErrNotCaptured = errors.New("psp: nothing captured")
	// ErrIdempotencyKeyReuse: a key was sent again with another operation or order.
	ErrIdempotencyKeyReuse = errors.New("psp: idempotency key reused for another request")
)

type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks err as a failure that retrying with the same request will not fix
// (a validation error of the provider, a refused operation).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err is permanent: marked with Permanent or one of the
// package's sentinel errors. Context errors and anything else are transient.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p) || errors.Is(err, ErrAlreadyCaptured) || errors.Is(err, ErrNotAuthorized) ||
		errors.Is(err, ErrNotCaptured) || errors.Is(err, ErrIdempotencyKeyReuse)
}

// Key derives the idempotency key of one call: one key per (order, step), so a retry
// of the step reuses it and a different step never does.
func Key(orderID domain.ID, step string) string {
	return fmt.Sprintf("ordo:%s:%s", orderID, step)
}
