package app

import (
	"time"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/domain/product"
	"github.com/ordo-platform/ordo/domain/user"
)

// What the handlers return. Each view carries the version of the stream it was folded
// from, so that a client can later ask a read model for "at least this version".

// UserView is a user as the API shows it (never the password hash).
type UserView struct {
	ID           domain.ID
	Email        string
	Name         string
	Role         user.Role
	RegisteredAt time.Time
	Version      int64
}

func userView(u *user.User, version int64) UserView {
	return UserView{ID: u.ID(), Email: u.Email(), Name: u.Name(), Role: u.Role(), RegisteredAt: u.RegisteredAt(), Version: version}
}

// ProductView is a catalogue entry with its available stock.
type ProductView struct {
	ID           domain.ID
	SKU          string
	Name         string
	Description  string
	Price        domain.Money
	Discontinued bool
	// Version is the product stream's version.
	Version int64
	// StockAvailable is on hand minus reserved; StockVersion the inventory stream's
	// version it was read at.
	StockAvailable int64
	StockVersion   int64
}

func productView(p *product.Product, version int64) ProductView {
	return ProductView{
		ID: p.ID(), SKU: p.SKU(), Name: p.Name(), Description: p.Description(),
		Price: p.Price(), Discontinued: p.Discontinued(), Version: version,
	}
}

// StockLevel is a product's inventory.
type StockLevel struct {
	ProductID domain.ID
	OnHand    int64
	Reserved  int64
	Available int64
	Version   int64
}

// OrderView is an order as its owner (or an admin) sees it.
type OrderView struct {
	ID           domain.ID
	CustomerID   domain.ID
	Status       order.Status
	StatusReason order.CancelReason
	StatusDetail string
	Items        []order.Item
	Total        domain.Money
	PlacedAt     time.Time
	Version      int64
}

func orderView(o *order.Order, version int64) OrderView {
	return OrderView{
		ID: o.ID(), CustomerID: o.CustomerID(), Status: o.Status(), StatusReason: o.CancelReason(),
		StatusDetail: o.CancelDetail(), Items: o.Items(), Total: o.Total(), PlacedAt: o.PlacedAt(), Version: version,
	}
}
