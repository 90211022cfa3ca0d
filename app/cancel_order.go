package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/eventstore"
)

// CancelOrderCommand cancels an order on behalf of its customer (or an admin).
type CancelOrderCommand struct {
	OrderID domain.ID
	Actor   Actor
	// Detail is an optional note (at most 500 characters).
	Detail string
}

// CancelOrder cancels orders with reason cancelled_by_user. Only the order's customer
// and admins may; anyone else is told the order does not exist, so that order ids do not
// leak. Cancelling a cancelled order changes nothing and succeeds. The order saga runs
// the compensations (releasing stock, voiding or refunding the payment).
type CancelOrder struct{ env *Env }

// NewCancelOrder returns the handler.
func NewCancelOrder(env *Env) *CancelOrder { return &CancelOrder{env: env} }

// Handle appends order.cancelled and returns the order as it is now.
func (h *CancelOrder) Handle(ctx context.Context, cmd CancelOrderCommand) (OrderView, Result, error) {
	o, res, err := Execute(ctx, h.env, Command[*order.Order]{
		Stream: eventstore.Stream{Type: order.StreamType, ID: order.StreamID(cmd.OrderID)},
		New:    func() *order.Order { return &order.Order{} },
		Decide: func(o *order.Order) ([]domain.Event, error) {
			if !o.VisibleTo(cmd.Actor.UserID, cmd.Actor.IsAdmin()) {
				return nil, domain.NotFound(order.CodeOrderNotFound, "order not found")
			}
			return o.DecideCancel(order.Cancel{Reason: order.ReasonCancelledByUser, Detail: cmd.Detail})
		},
		Meta: metadata(ctx, cmd.Actor),
	})
	if err != nil {
		var derr *domain.Error
		if !errors.As(err, &derr) {
			err = fmt.Errorf("cancel order %s: %w", cmd.OrderID, err)
		}
		return OrderView{}, Result{}, err
	}
	return orderView(o, res.Version), res, nil
}
