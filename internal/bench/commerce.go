package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/domain/product"
	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/schemas"
)

// seedCommerce appends at least n plausible commerce events to store with SeedCommerce's
// defaults (4 writers, 200 business actions per transaction, no progress) and returns
// the position of the last event (wait for it to be visible before reading).
func seedCommerce(ctx context.Context, store *postgres.Store, n int) (int64, error) {
	return SeedCommerce(ctx, store, n, 4, 200, nil)
}

// SeedCommerce appends at least n plausible commerce events to store, fast: products
// with stock, orders that reserve stock and are then confirmed (stock committed) or
// cancelled (stock released), reprices. Each of the writers has its own products and
// customers (so they never conflict) and appends perTx business actions per transaction
// through AppendTx, so positions and versions are what production makes. progress, when
// not nil, is called with the running total after each transaction. It returns the
// position of the last event. (The benches and `go run ./projections/internal/seed`.)
func SeedCommerce(ctx context.Context, store *postgres.Store, n, writers, perTx int, progress func(done int64)) (int64, error) {
	var (
		done atomic.Int64
		last atomic.Int64
		wg   sync.WaitGroup
		errs = make(chan error, writers)
	)
	for w := range writers {
		wg.Go(func() {
			g := newCommerceGen(uint64(w) + uint64(time.Now().UnixNano()))
			for done.Load() < int64(n) {
				k, pos, err := g.tx(ctx, store, perTx)
				if err != nil {
					errs <- err
					return
				}
				total := done.Add(int64(k))
				for p := last.Load(); pos > p && !last.CompareAndSwap(p, pos); p = last.Load() {
				}
				if progress != nil {
					progress(total)
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return 0, fmt.Errorf("seed: %w", err)
	default:
	}
	return last.Load(), nil
}

type pendingOrder struct {
	id    domain.ID
	items []order.Item
}

// commerceGen is one writer's world.
type commerceGen struct {
	rnd       *rand.Rand
	codec     *schemas.Codec
	customers []domain.ID
	products  []domain.ID
	versions  map[string]int64
	pending   []pendingOrder
}

func newCommerceGen(seed uint64) *commerceGen {
	g := &commerceGen{rnd: rand.New(rand.NewPCG(seed, seed*31+7)), codec: schemas.Default(), versions: map[string]int64{}}
	for range 200 {
		g.customers = append(g.customers, domain.ID(eventstore.NewID()))
	}
	return g
}

type streamAppend struct {
	stream eventstore.Stream
	events []domain.Event
}

// tx appends n business actions in one transaction and returns the events appended and
// the last position.
func (g *commerceGen) tx(ctx context.Context, store *postgres.Store, n int) (int, int64, error) {
	// A transaction appends to a stream once, so actions are gathered per stream.
	var reqs []*streamAppend
	byStream := map[string]*streamAppend{}
	add := func(typ, id string, evs ...domain.Event) {
		r := byStream[id]
		if r == nil {
			r = &streamAppend{stream: eventstore.Stream{Type: typ, ID: id}}
			byStream[id] = r
			reqs = append(reqs, r)
		}
		r.events = append(r.events, evs...)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	for range n {
		r := g.rnd.IntN(100)
		switch {
		case len(g.products) < 50 || r < 2:
			id := domain.ID(eventstore.NewID())
			g.products = append(g.products, id)
			add(product.StreamType, product.StreamID(id), product.Created{ProductID: id, SKU: fmt.Sprintf("SKU-%x", id[10:]),
				Name: "Product", Description: "A thing", Price: domain.Money{Cents: int64(100 + g.rnd.IntN(5000)), Currency: "EUR"}})
			add(product.InventoryStreamType, product.InventoryStreamID(id), product.StockAdjusted{ProductID: id, Delta: 1_000_000, Reason: "delivery", OnHand: 1_000_000})
		case r < 4:
			id := g.products[g.rnd.IntN(len(g.products))]
			add(product.StreamType, product.StreamID(id), product.Repriced{ProductID: id, Price: domain.Money{Cents: int64(100 + g.rnd.IntN(5000)), Currency: "EUR"}})
		case r < 55 || len(g.pending) == 0:
			id := domain.ID(eventstore.NewID())
			var items []order.Item
			var total int64
			for _, i := range g.rnd.Perm(len(g.products))[:1+g.rnd.IntN(2)] {
				q := int64(1 + g.rnd.IntN(3))
				items = append(items, order.Item{ProductID: g.products[i], SKU: "SKU", Name: "Product", UnitPriceCents: 250, Quantity: q, LineTotalCents: 250 * q})
				total += 250 * q
			}
			add(order.StreamType, order.StreamID(id), order.Placed{OrderID: id, CustomerID: g.customers[g.rnd.IntN(len(g.customers))],
				Items: items, TotalCents: total, Currency: "EUR", PaymentToken: "tok_visa", PlacedAt: now})
			for _, it := range items {
				add(product.InventoryStreamType, product.InventoryStreamID(it.ProductID),
					product.Reserved{ProductID: it.ProductID, OrderID: id, Quantity: it.Quantity, ExpiresAt: now.Add(time.Hour)})
			}
			g.pending = append(g.pending, pendingOrder{id, items})
		default:
			i := g.rnd.IntN(len(g.pending))
			o := g.pending[i]
			g.pending[i] = g.pending[len(g.pending)-1]
			g.pending = g.pending[:len(g.pending)-1]
			if g.rnd.IntN(4) > 0 {
				add(order.StreamType, order.StreamID(o.id), order.Confirmed{OrderID: o.id})
				for _, it := range o.items {
					add(product.InventoryStreamType, product.InventoryStreamID(it.ProductID), product.Committed{ProductID: it.ProductID, OrderID: o.id, Quantity: it.Quantity})
				}
			} else {
				add(order.StreamType, order.StreamID(o.id), order.Cancelled{OrderID: o.id, Reason: order.ReasonPaymentDeclined, Detail: "card declined"})
				for _, it := range o.items {
					add(product.InventoryStreamType, product.InventoryStreamID(it.ProductID), product.Released{ProductID: it.ProductID, OrderID: o.id, Quantity: it.Quantity, Reason: "order_cancelled"})
				}
			}
		}
	}
	var (
		total int
		last  int64
	)
	versions := map[string]int64{}
	err := pgx.BeginFunc(ctx, store.Pool(), func(tx pgx.Tx) error {
		total, last = 0, 0
		for _, r := range reqs {
			batch := make([]eventstore.NewEvent, len(r.events))
			for i, e := range r.events {
				enc, err := g.codec.Encode(e)
				if err != nil {
					return err
				}
				batch[i] = eventstore.NewEvent{ID: eventstore.NewID(), Type: enc.Type, SchemaVersion: enc.Version,
					SchemaFingerprint: enc.Fingerprint, Payload: enc.Payload, OccurredAt: now,
					Metadata: eventstore.Metadata{Actor: "bench"}}
			}
			res, err := store.AppendTx(ctx, tx, r.stream, eventstore.Exact(g.versions[r.stream.ID]), batch...)
			if err != nil {
				return err
			}
			versions[r.stream.ID] = res.LastVersion
			total += len(batch)
			last = max(last, res.LastPosition)
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	for id, v := range versions {
		g.versions[id] = v
	}
	return total, last, nil
}

// readAllEvents reads every event after `after` up to head, waiting for it to be visible.
func readAllEvents(ctx context.Context, store eventstore.Store, after, head int64) ([]eventstore.Event, error) {
	var out []eventstore.Event
	deadline := time.Now().Add(time.Minute)
	for after < head {
		page, err := store.ReadAll(ctx, after, 10000)
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("events up to %d not visible after a minute (a transaction left open?)", head)
			}
			time.Sleep(5 * time.Millisecond)
			continue
		}
		out = append(out, page...)
		after = page[len(page)-1].Position
	}
	return out, nil
}
