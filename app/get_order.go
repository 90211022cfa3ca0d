package app

import (
	"context"
	"fmt"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
)

// GetOrderQuery asks for one order on behalf of Actor.
type GetOrderQuery struct {
	OrderID domain.ID
	Actor   Actor
}

// GetOrder folds an order's stream. Orders are visible to their customer and admins;
// to anyone else the order does not exist. (The projections replace it with a read
// model.)
type GetOrder struct{ env *Env }

// NewGetOrder returns the handler.
func NewGetOrder(env *Env) *GetOrder { return &GetOrder{env: env} }

// Handle returns the order, or a NotFound error.
func (h *GetOrder) Handle(ctx context.Context, q GetOrderQuery) (OrderView, error) {
	o, version, err := Load(ctx, h.env, order.StreamID(q.OrderID), func() *order.Order { return &order.Order{} })
	if err != nil {
		return OrderView{}, fmt.Errorf("load order %s: %w", q.OrderID, err)
	}
	if !o.VisibleTo(q.Actor.UserID, q.Actor.IsAdmin()) {
		return OrderView{}, domain.NotFound(order.CodeOrderNotFound, "order not found")
	}
	return orderView(o, version), nil
}
