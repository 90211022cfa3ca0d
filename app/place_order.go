package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/domain/product"
	"github.com/ordo-platform/ordo/eventstore"
)

// OrderLine is a line of an order to place: which product, how many.
type OrderLine struct {
	ProductID domain.ID
	Quantity  int64
}

// PlaceOrderCommand places an order for the caller.
type PlaceOrderCommand struct {
	Customer     Actor
	Items        []OrderLine
	PaymentToken string
}

// PlaceOrder places orders. Each line is priced with the product's current catalogue
// price (read by folding the product stream); the order records that price for good. All
// lines must be in one currency. The order is pending until the order saga confirms or
// cancels it.
type PlaceOrder struct{ env *Env }

// NewPlaceOrder returns the handler.
func NewPlaceOrder(env *Env) *PlaceOrder { return &PlaceOrder{env: env} }

// Handle prices the lines and appends order.placed with a new UUIDv7 order id.
func (h *PlaceOrder) Handle(ctx context.Context, cmd PlaceOrderCommand) (OrderView, Result, error) {
	if cmd.Customer.UserID.IsZero() {
		return OrderView{}, Result{}, domain.Forbidden("authentication_required", "orders are placed by a signed-in user")
	}
	priced, err := h.price(ctx, cmd.Items)
	if err != nil {
		return OrderView{}, Result{}, err
	}
	id := newID()
	o, res, err := Execute(ctx, h.env, Command[*order.Order]{
		Stream: eventstore.Stream{Type: order.StreamType, ID: order.StreamID(id)},
		New:    func() *order.Order { return &order.Order{} },
		Decide: func(o *order.Order) ([]domain.Event, error) {
			return o.DecidePlace(order.Place{
				OrderID: id, CustomerID: cmd.Customer.UserID, Items: priced, PaymentToken: cmd.PaymentToken, At: h.env.now(),
			})
		},
		Meta:      metadata(ctx, cmd.Customer),
		NewStream: true, // id is new: nothing to read
	})
	if err != nil {
		var derr *domain.Error
		if !errors.As(err, &derr) {
			err = fmt.Errorf("place order: %w", err)
		}
		return OrderView{}, Result{}, err
	}
	return orderView(o, res.Version), res, nil
}

// price reads each product's current catalogue entry. Lines naming a product that does
// not exist or is discontinued are reported together, by their index. An empty or
// oversized order is left to the domain to refuse, without loading anything.
func (h *PlaceOrder) price(ctx context.Context, lines []OrderLine) ([]order.PricedItem, error) {
	priced := make([]order.PricedItem, len(lines))
	if len(lines) == 0 || len(lines) > order.MaxItems {
		return priced, nil
	}
	streams := make([]string, 0, len(lines))
	for _, l := range lines {
		if !l.ProductID.IsZero() {
			streams = append(streams, product.StreamID(l.ProductID))
		}
	}
	products, err := LoadMany(ctx, h.env, streams, func() *product.Product { return &product.Product{} })
	if err != nil {
		return nil, fmt.Errorf("load products: %w", err)
	}
	var errs []error
	for i, l := range lines {
		priced[i] = order.PricedItem{ProductID: l.ProductID, Quantity: l.Quantity}
		if l.ProductID.IsZero() {
			continue // the domain reports it
		}
		p := products[product.StreamID(l.ProductID)]
		field := fmt.Sprintf("items[%d].product_id", i)
		switch {
		case !p.Exists():
			errs = append(errs, domain.Invalid(product.CodeProductNotFound, field, fmt.Sprintf("product %s does not exist", l.ProductID)))
			continue
		case p.Discontinued():
			errs = append(errs, domain.Invalid(product.CodeProductDiscontinued, field, fmt.Sprintf("product %s is discontinued", p.SKU())))
			continue
		}
		priced[i].SKU, priced[i].Name, priced[i].UnitPrice = p.SKU(), p.Name(), p.Price()
	}
	if err := domain.JoinValidation(errs...); err != nil {
		return nil, err
	}
	return priced, nil
}
