package projections

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
)

// Read-your-writes: a wait for a version returns once the projector has committed it,
// and gives up with a clear "not yet" after its bound.
func TestWaitForVersion(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.startRelay(t)
	f.startProjector(t, Orders)
	ctx := context.Background()
	g := newTraffic(t, f.store, 20)
	id := g.newID()
	stream := order.StreamID(id)
	require.NoError(t, g.append(ctx, order.StreamType, stream, order.Placed{OrderID: id, CustomerID: g.customers[0],
		Items:      []order.Item{{ProductID: g.newID(), SKU: "A", Name: "A", UnitPriceCents: 1, Quantity: 1, LineTotalCents: 1}},
		TotalCents: 1, Currency: "EUR", PaymentToken: "tok_visa", PlacedAt: time.Now().UTC()}))
	v, err := f.q.WaitForVersion(ctx, stream, 1, time.Minute)
	require.NoError(t, err)
	require.EqualValues(t, 1, v)
	o, err := f.q.GetOrder(ctx, id)
	require.NoError(t, err)
	require.Equal(t, order.StatusPending, o.Status)
	require.Equal(t, `"1"`, o.ETag())

	// Waiting first, writing second.
	var wg sync.WaitGroup
	var got int64
	var waitErr error
	waiting := make(chan struct{})
	wg.Go(func() {
		close(waiting)
		got, waitErr = f.q.WaitForVersion(ctx, stream, 2, time.Minute)
	})
	<-waiting
	require.NoError(t, g.append(ctx, order.StreamType, stream, order.Confirmed{OrderID: id}))
	wg.Wait()
	require.NoError(t, waitErr)
	require.EqualValues(t, 2, got)

	// A version that never comes: a clean, typed "not yet".
	v, err = f.q.WaitForVersion(ctx, stream, 5, 300*time.Millisecond)
	require.ErrorIs(t, err, ErrNotCaughtUp)
	var nc *NotCaughtUpError
	require.ErrorAs(t, err, &nc)
	require.EqualValues(t, 2, nc.Have)
	require.EqualValues(t, 5, nc.Want)
	require.EqualValues(t, 2, v)

	// A stream the read model has never seen.
	_, err = f.q.WaitForVersion(ctx, order.StreamID(g.newID()), 1, 100*time.Millisecond)
	require.ErrorIs(t, err, ErrNotCaughtUp)
	_, err = f.q.GetOrder(ctx, g.newID())
	require.ErrorIs(t, err, ErrNotFound)
}

// Keyset pages cover every row exactly once, in order.
func TestCursorPagination(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := newTraffic(t, f.store, 21)
	g.run(t, 1500)
	ctx := context.Background()
	for _, name := range Names() {
		_, err := Rebuild(ctx, f.pool, f.store, name, RebuildOptions{})
		require.NoError(t, err)
	}
	want := foldStore(t, f.store)

	byCustomer := map[domain.ID][]domain.ID{}
	for id, o := range want.orders {
		byCustomer[o.CustomerID()] = append(byCustomer[o.CustomerID()], id)
	}
	for customer, ids := range byCustomer {
		var got []OrderView
		cursor := ""
		for {
			page, err := f.q.ListOrders(ctx, customer, cursor, 7)
			require.NoError(t, err)
			require.LessOrEqual(t, len(page.Orders), 7)
			got = append(got, page.Orders...)
			if page.Next == "" {
				break
			}
			cursor = page.Next
		}
		require.Len(t, got, len(ids))
		seen := map[domain.ID]bool{}
		for i, o := range got {
			require.False(t, seen[o.ID], "order %s twice", o.ID)
			seen[o.ID] = true
			require.Equal(t, customer, o.CustomerID)
			if i > 0 {
				require.False(t, o.PlacedAt.After(got[i-1].PlacedAt), "newest first")
			}
		}
	}

	var skus []string
	cursor := ""
	for {
		page, err := f.q.ListProducts(ctx, cursor, 3)
		require.NoError(t, err)
		for _, p := range page.Products {
			skus = append(skus, p.SKU)
			require.Equal(t, p.OnHand-p.Reserved, p.StockAvailable)
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	require.Len(t, skus, len(want.products))
	require.True(t, sort.StringsAreSorted(skus))

	_, err := f.q.ListOrders(ctx, g.customers[0], "not-a-cursor", 10)
	require.ErrorIs(t, err, ErrBadCursor)
	_, err = f.q.ListProducts(ctx, "!!", 10)
	require.ErrorIs(t, err, ErrBadCursor)
}
