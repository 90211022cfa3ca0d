package product

import (
	"time"

	"github.com/ordo-platform/ordo/domain"
)

// Event type names. They are stored with every event and never change.
const (
	TypeCreated      = "product.created"
	TypeRenamed      = "product.renamed"
	TypeRepriced     = "product.repriced"
	TypeDiscontinued = "product.discontinued"

	TypeStockAdjusted = "inventory.stock_adjusted"
	TypeReserved      = "inventory.reserved"
	TypeReleased      = "inventory.released"
	TypeCommitted     = "inventory.committed"
)

// Created: a product was added to the catalogue.
type Created struct {
	ProductID   domain.ID
	SKU         string
	Name        string
	Description string
	Price       domain.Money
}

// Renamed: the product's name changed.
type Renamed struct {
	ProductID domain.ID
	Name      string
}

// Repriced: the product's price changed (same currency). Orders already
// placed keep the price they were placed at.
type Repriced struct {
	ProductID domain.ID
	Price     domain.Money
}

// Discontinued: the product is no longer sold. It stays in the catalogue for
// the orders that reference it.
type Discontinued struct {
	ProductID domain.ID
}

// StockAdjusted: an admin changed the stock on hand by Delta (positive for a
// delivery, negative for a write-off); OnHand is the level after it.
type StockAdjusted struct {
	ProductID domain.ID
	Delta     int64
	Reason    string
	OnHand    int64
}

// Reserved: Quantity units are held for an order until ExpiresAt, after
// which the saga releases them if the order has not been confirmed.
type Reserved struct {
	ProductID domain.ID
	OrderID   domain.ID
	Quantity  int64
	ExpiresAt time.Time
}

// Released: an order's reservation was given back to available stock.
type Released struct {
	ProductID domain.ID
	OrderID   domain.ID
	Quantity  int64
	Reason    string
}

// Committed: an order's reservation left the stock for good (the order was
// confirmed): on hand and reserved both drop by Quantity.
type Committed struct {
	ProductID domain.ID
	OrderID   domain.ID
	Quantity  int64
}

// EventType implements domain.Event.
func (Created) EventType() string { return TypeCreated }

// EventType implements domain.Event.
func (Renamed) EventType() string { return TypeRenamed }

// EventType implements domain.Event.
func (Repriced) EventType() string { return TypeRepriced }

// EventType implements domain.Event.
func (Discontinued) EventType() string { return TypeDiscontinued }

// EventType implements domain.Event.
func (StockAdjusted) EventType() string { return TypeStockAdjusted }

// EventType implements domain.Event.
func (Reserved) EventType() string { return TypeReserved }

// EventType implements domain.Event.
func (Released) EventType() string { return TypeReleased }

// EventType implements domain.Event.
func (Committed) EventType() string { return TypeCommitted }

// ProductEvents lists one zero value of every Product event type.
func ProductEvents() []domain.Event {
	return []domain.Event{Created{}, Renamed{}, Repriced{}, Discontinued{}}
}

// InventoryEvents lists one zero value of every Inventory event type.
func InventoryEvents() []domain.Event {
	return []domain.Event{StockAdjusted{}, Reserved{}, Released{}, Committed{}}
}

// Events lists the event types of both aggregates of the package: the closed
// set that the codec and the tests enumerate.
func Events() []domain.Event {
	return append(ProductEvents(), InventoryEvents()...)
}

// Stream types (and Kafka topic families).
const (
	StreamType          = "product"
	InventoryStreamType = "inventory"
)

// StreamID returns the stream id of a product: "product-<uuid>".
func StreamID(id domain.ID) string { return domain.StreamID(StreamType, id) }

// InventoryStreamID returns the stream id of a product's inventory:
// "inventory-<uuid>", with the product's id.
func InventoryStreamID(id domain.ID) string { return domain.StreamID(InventoryStreamType, id) }
