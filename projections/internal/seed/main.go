// Command seed fills an event store with plausible commerce events (products with
// stock, orders that reserve stock and are then confirmed or cancelled), fast, so that
// a rebuild has something to chew on:
//
//	ORDO_POSTGRES_URL='postgres://ordo:ordo@127.0.0.1:5432/ordo?sslmode=disable&search_path=bench' \
//	  go run ./projections/internal/seed -events 1000000
//
// It appends through the real store (AppendTx, many streams per transaction, a few
// writers in parallel), so positions and versions are exactly what production makes.
// It creates the schema's tables first (the same migrations as `ordo migrate`).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/domain/product"
	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/internal/pgmigrate"
	pgpool "github.com/ordo-platform/ordo/internal/postgres"
	"github.com/ordo-platform/ordo/projections"
	"github.com/ordo-platform/ordo/schemas"
)

func main() {
	events := flag.Int("events", 100000, "events to append (at least)")
	writers := flag.Int("writers", 4, "parallel writers")
	perTx := flag.Int("per-tx", 200, "business actions per transaction")
	flag.Parse()
	if err := run(*events, *writers, *perTx); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func run(events, writers, perTx int) error {
	ctx := context.Background()
	url := os.Getenv("ORDO_POSTGRES_URL")
	if url == "" {
		url = "postgres://ordo:ordo@127.0.0.1:5432/ordo?sslmode=disable"
	}
	pool, err := pgpool.Open(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	var schema string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil || schema == "" {
		return fmt.Errorf("no current schema (create the schema of search_path first): %w", err)
	}
	if _, err := pgmigrate.Up(ctx, pool, slog.New(slog.DiscardHandler), postgres.Migrations(), projections.Migrations()); err != nil {
		return err
	}
	store, err := postgres.New(ctx, pool)
	if err != nil {
		return err
	}
	defer store.Close()

	var done atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			g := newGen(uint64(w) + uint64(time.Now().UnixNano()))
			for done.Load() < int64(events) {
				n, err := g.tx(ctx, store, perTx)
				if err != nil {
					errs <- err
					return
				}
				done.Add(int64(n))
			}
		})
	}
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				n := done.Load()
				fmt.Printf("%d events, %.0f events/s\n", n, float64(n)/time.Since(start).Seconds())
			}
		}
	}()
	wg.Wait()
	close(stop)
	select {
	case err := <-errs:
		return err
	default:
	}
	n := done.Load()
	fmt.Printf("appended %d events in %s (%.0f events/s) to schema %s\n", n, time.Since(start).Round(time.Millisecond),
		float64(n)/time.Since(start).Seconds(), schema)
	return nil
}

type pending struct {
	id    domain.ID
	items []order.Item
}

// gen is one writer's world: its own customers and products, so writers never conflict.
type gen struct {
	rnd       *rand.Rand
	codec     *schemas.Codec
	customers []domain.ID
	products  []domain.ID
	versions  map[string]int64
	pending   []pending
}

func newGen(seed uint64) *gen {
	g := &gen{rnd: rand.New(rand.NewPCG(seed, seed*31+7)), codec: schemas.Default(), versions: map[string]int64{}}
	for range 200 {
		g.customers = append(g.customers, g.id())
	}
	return g
}

// id returns a UUIDv7, as the API makes them (time-ordered: new rows land at the right
// edge of the primary-key index, as in production).
func (g *gen) id() domain.ID { return domain.ID(eventstore.NewID()) }

type appendReq struct {
	stream eventstore.Stream
	events []domain.Event
}

// tx appends n business actions in one transaction and returns the events appended.
func (g *gen) tx(ctx context.Context, store *postgres.Store, n int) (int, error) {
	// A transaction appends to a stream once (the store refuses a second append to the
	// same stream in one transaction), so actions are gathered per stream.
	var reqs []*appendReq
	byStream := map[string]*appendReq{}
	add := func(typ, id string, evs ...domain.Event) {
		r := byStream[id]
		if r == nil {
			r = &appendReq{stream: eventstore.Stream{Type: typ, ID: id}}
			byStream[id] = r
			reqs = append(reqs, r)
		}
		r.events = append(r.events, evs...)
	}
	for range n {
		r := g.rnd.IntN(100)
		switch {
		case len(g.products) < 50 || r < 2:
			id := g.id()
			g.products = append(g.products, id)
			add(product.StreamType, product.StreamID(id), product.Created{ProductID: id, SKU: fmt.Sprintf("SKU-%x", id[:6]),
				Name: "Product", Description: "A thing", Price: domain.Money{Cents: int64(100 + g.rnd.IntN(5000)), Currency: "EUR"}})
			add(product.InventoryStreamType, product.InventoryStreamID(id), product.StockAdjusted{ProductID: id, Delta: 1_000_000, Reason: "delivery", OnHand: 1_000_000})
		case r < 4:
			id := g.products[g.rnd.IntN(len(g.products))]
			add(product.StreamType, product.StreamID(id), product.Repriced{ProductID: id, Price: domain.Money{Cents: int64(100 + g.rnd.IntN(5000)), Currency: "EUR"}})
		case r < 55 || len(g.pending) == 0:
			id := g.id()
			var items []order.Item
			var total int64
			for _, i := range g.rnd.Perm(len(g.products))[:1+g.rnd.IntN(2)] {
				q := int64(1 + g.rnd.IntN(3))
				items = append(items, order.Item{ProductID: g.products[i], SKU: "SKU", Name: "Product", UnitPriceCents: 250, Quantity: q, LineTotalCents: 250 * q})
				total += 250 * q
			}
			add(order.StreamType, order.StreamID(id), order.Placed{OrderID: id, CustomerID: g.customers[g.rnd.IntN(len(g.customers))],
				Items: items, TotalCents: total, Currency: "EUR", PaymentToken: "tok_visa", PlacedAt: time.Now().UTC()})
			for _, it := range items {
				add(product.InventoryStreamType, product.InventoryStreamID(it.ProductID),
					product.Reserved{ProductID: it.ProductID, OrderID: id, Quantity: it.Quantity, ExpiresAt: time.Now().Add(time.Hour).UTC()})
			}
			g.pending = append(g.pending, pending{id, items})
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
				add(order.StreamType, order.StreamID(o.id), order.Cancelled{OrderID: o.id, Reason: order.ReasonPaymentDeclined})
				for _, it := range o.items {
					add(product.InventoryStreamType, product.InventoryStreamID(it.ProductID), product.Released{ProductID: it.ProductID, OrderID: o.id, Quantity: it.Quantity, Reason: "order_cancelled"})
				}
			}
		}
	}
	total := 0
	err := pgx.BeginFunc(ctx, store.Pool(), func(tx pgx.Tx) error {
		for _, r := range reqs {
			batch := make([]eventstore.NewEvent, len(r.events))
			for i, e := range r.events {
				enc, err := g.codec.Encode(e)
				if err != nil {
					return err
				}
				batch[i] = eventstore.NewEvent{ID: eventstore.NewID(), Type: enc.Type, SchemaVersion: enc.Version,
					SchemaFingerprint: enc.Fingerprint, Payload: enc.Payload, OccurredAt: time.Now().UTC()}
			}
			res, err := store.AppendTx(ctx, tx, r.stream, eventstore.Exact(g.versions[r.stream.ID]), batch...)
			if err != nil {
				return err
			}
			g.versions[r.stream.ID] = res.LastVersion
			total += len(batch)
		}
		return nil
	})
	return total, err
}
