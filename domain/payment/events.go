package payment

import (
	"time"

	"github.com/ordo-platform/ordo/domain"
)

// Event type names. They are stored with every event and never change.
const (
	TypeAuthorized     = "payment.authorized"
	TypeCaptured       = "payment.captured"
	TypeDeclined       = "payment.declined"
	TypeVoided         = "payment.voided"
	TypeRefunded       = "payment.refunded"
	TypeFraudSuspected = "payment.fraud_suspected"
)

// Authorized: the provider reserved Amount on the customer's payment method.
type Authorized struct {
	OrderID           domain.ID
	Amount            domain.Money
	Provider          string
	ProviderReference string
	AuthorizedAt      time.Time
}

// Captured: the provider moved Amount (at most the authorized amount).
type Captured struct {
	OrderID           domain.ID
	Amount            domain.Money
	ProviderReference string
}

// Declined: the provider refused to authorize.
type Declined struct {
	OrderID domain.ID
	// Reason is a snake_case code such as "card_declined".
	Reason string
	// ProviderCode is the provider's own code, kept for support; may be empty.
	ProviderCode string
}

// Voided: the authorization was cancelled before capture.
type Voided struct {
	OrderID domain.ID
}

// Refunded: captured money went back to the customer.
type Refunded struct {
	OrderID domain.ID
	Amount  domain.Money
}

// FraudSuspected: the provider's risk check refused the payment.
type FraudSuspected struct {
	OrderID domain.ID
	Reasons []string
	// Score is the provider's risk score, 0 (none) to 100 (certain).
	Score int
}

// EventType implements domain.Event.
func (Authorized) EventType() string { return TypeAuthorized }

// EventType implements domain.Event.
func (Captured) EventType() string { return TypeCaptured }

// EventType implements domain.Event.
func (Declined) EventType() string { return TypeDeclined }

// EventType implements domain.Event.
func (Voided) EventType() string { return TypeVoided }

// EventType implements domain.Event.
func (Refunded) EventType() string { return TypeRefunded }

// EventType implements domain.Event.
func (FraudSuspected) EventType() string { return TypeFraudSuspected }

// Events lists one zero value of every event type of the aggregate: the
// closed set that the codec and the tests enumerate.
func Events() []domain.Event {
	return []domain.Event{Authorized{}, Captured{}, Declined{}, Voided{}, Refunded{}, FraudSuspected{}}
}

// StreamType is the stream type (and Kafka topic family) of payments.
const StreamType = "payment"

// StreamID returns the stream id of an order's payment: "payment-<order id>".
func StreamID(orderID domain.ID) string { return domain.StreamID(StreamType, orderID) }
