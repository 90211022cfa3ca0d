package sagas

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ordo-platform/ordo/app"
	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/domain/product"
)

// sweep releases the expired reservations of orders that are no longer pending. It is
// a safety net: every saga gives its stock back in the same transaction that cancels
// its order, so stock stays reserved only when that failed (a saga parked in
// compensation_failed before its stock was released). It never touches the stock of a
// pending order: a saga that is still paying holds its reservation, however old, and
// the configuration guarantees that the forward steps time out before reservations
// expire (Config.Validate).
func (w *Worker) sweep(ctx context.Context) {
	rows, err := w.store.pool.Query(ctx, `SELECT order_id FROM order_sagas
		WHERE stock = 'reserved' AND reservation_expires_at <= now()
		  AND state IN ('cancelled', 'compensation_failed') AND (wake_at IS NULL OR wake_at <= now())
		ORDER BY reservation_expires_at LIMIT 100`)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("sweeper: find expired reservations", "err", err)
		}
		return
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		w.log.Warn("sweeper: find expired reservations", "err", err)
		return
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		s, err := w.store.claimIdle(ctx, domain.ID(id), w.token(), w.cfg.Lease)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err == nil {
			err = w.releaseExpired(ctx, s)
		}
		if err != nil && ctx.Err() == nil {
			w.log.Warn("sweeper: release expired reservation", "order_id", domain.ID(id), "err", err)
		}
	}
}

// releaseExpired releases the reservations of one claimed saga whose order is no longer
// pending, read from the order's own stream.
func (w *Worker) releaseExpired(ctx context.Context, s *Saga) error {
	start := time.Now()
	o, _, err := app.Load(ctx, w.env, order.StreamID(s.OrderID), func() *order.Order { return &order.Order{} })
	if err != nil {
		return w.store.save(ctx, w.store.pool, s, "", false, 0)
	}
	if o.Status() == order.StatusPending || o.Status() == "" {
		w.log.Warn("sweeper: an expired reservation belongs to a pending order; leaving it to the saga", "order_id", s.OrderID)
		return w.store.save(ctx, w.store.pool, s, "", false, 0)
	}
	next := *s
	return w.transition(ctx, s, &next, nil, func(ctx context.Context, tx pgx.Tx) error {
		var skipped []string
		for _, it := range s.Items {
			err := w.inventory(ctx, s, StepReleaseExpired, it.ProductID, func(inv *product.Inventory) ([]domain.Event, error) {
				return inv.DecideRelease(product.Release{OrderID: s.OrderID, Reason: product.ReleaseReasonExpired})
			})
			if e, ok := domain.AsError(err); ok {
				skipped = append(skipped, fmt.Sprintf("%s: %s", it.ProductID, e.Code))
				continue
			}
			if err != nil {
				return err
			}
		}
		next.Stock = StockReleased
		metricExpiredReleased.Inc()
		detail := fmt.Sprintf("order %s; released %s", o.Status(), itemsDetail(s.Items))
		if len(skipped) > 0 {
			detail += fmt.Sprintf("; skipped %v", skipped)
		}
		return w.logIn(ctx, tx, w.done(s, StepReleaseExpired, 1, "released", detail, start))
	})
}
