package order

import (
	"time"

	"github.com/ordo-platform/ordo/domain"
)

// Event type names. They are stored with every event and never change.
const (
	TypePlaced    = "order.placed"
	TypeConfirmed = "order.confirmed"
	TypeCancelled = "order.cancelled"
)

// Item is one line of a placed order, with the catalogue data of the moment
// the order was placed.
type Item struct {
	ProductID      domain.ID
	SKU            string
	Name           string
	UnitPriceCents int64
	Quantity       int64
	// LineTotalCents = UnitPriceCents × Quantity.
	LineTotalCents int64
}

// Placed: a customer placed an order; it is pending until the saga confirms
// or cancels it. All amounts are in Currency's minor unit.
type Placed struct {
	OrderID    domain.ID
	CustomerID domain.ID
	Items      []Item
	// TotalCents is the sum of the line totals.
	TotalCents int64
	Currency   string
	// PaymentToken is the payment provider's token for the customer's
	// payment method (never card data).
	PaymentToken string
	PlacedAt     time.Time
}

// Confirmed: stock is reserved and payment taken.
type Confirmed struct {
	OrderID domain.ID
}

// Cancelled: the order will not be fulfilled.
type Cancelled struct {
	OrderID domain.ID
	Reason  CancelReason
	// Detail is free text for people (a provider message, a customer's note).
	Detail string
}

// EventType implements domain.Event.
func (Placed) EventType() string { return TypePlaced }

// EventType implements domain.Event.
func (Confirmed) EventType() string { return TypeConfirmed }

// EventType implements domain.Event.
func (Cancelled) EventType() string { return TypeCancelled }

// Events lists one zero value of every event type of the aggregate: the
// closed set that the codec and the tests enumerate.
func Events() []domain.Event {
	return []domain.Event{Placed{}, Confirmed{}, Cancelled{}}
}

// StreamType is the stream type (and Kafka topic family) of orders.
const StreamType = "order"

// StreamID returns the stream id of an order: "order-<uuid>".
func StreamID(id domain.ID) string { return domain.StreamID(StreamType, id) }
