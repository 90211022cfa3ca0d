package product_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/product"
)

var expires = time.Date(2025, 3, 4, 12, 15, 0, 0, time.UTC)

func stocked(n int64) product.StockAdjusted {
	return product.StockAdjusted{ProductID: productID, Delta: n, Reason: "delivery", OnHand: n}
}

func reserved(order domain.ID, q int64) product.Reserved {
	return product.Reserved{ProductID: productID, OrderID: order, Quantity: q, ExpiresAt: expires}
}

func TestDecideAdjustStock(t *testing.T) {
	t.Parallel()
	adjust := func(delta int64) product.AdjustStock {
		return product.AdjustStock{ProductID: productID, Delta: delta, Reason: " count "}
	}
	tests := []struct {
		name     string
		history  []domain.Event
		cmd      product.AdjustStock
		want     []domain.Event
		wantKind domain.ErrorKind
		wantCode string
	}{
		{name: "first delivery", cmd: adjust(10),
			want: []domain.Event{product.StockAdjusted{ProductID: productID, Delta: 10, Reason: "count", OnHand: 10}}},
		{name: "write-off", history: []domain.Event{stocked(10)}, cmd: adjust(-4),
			want: []domain.Event{product.StockAdjusted{ProductID: productID, Delta: -4, Reason: "count", OnHand: 6}}},
		{name: "write-off to exactly zero", history: []domain.Event{stocked(10)}, cmd: adjust(-10),
			want: []domain.Event{product.StockAdjusted{ProductID: productID, Delta: -10, Reason: "count", OnHand: 0}}},
		{name: "stock never below zero", history: []domain.Event{stocked(10)}, cmd: adjust(-11),
			wantKind: domain.KindConflict, wantCode: product.CodeInsufficientStock},
		{name: "empty inventory cannot go negative", cmd: adjust(-1),
			wantKind: domain.KindConflict, wantCode: product.CodeInsufficientStock},
		{name: "write-off down to what is reserved", history: []domain.Event{stocked(10), reserved(orderA, 7)}, cmd: adjust(-3),
			want: []domain.Event{product.StockAdjusted{ProductID: productID, Delta: -3, Reason: "count", OnHand: 7}}},
		{name: "write-off below what is reserved", history: []domain.Event{stocked(10), reserved(orderA, 7)}, cmd: adjust(-4),
			wantKind: domain.KindConflict, wantCode: product.CodeInsufficientStock},
		{name: "zero delta", cmd: adjust(0), wantKind: domain.KindValidation, wantCode: product.CodeInvalidDelta},
		{name: "no reason", cmd: product.AdjustStock{ProductID: productID, Delta: 1}, wantKind: domain.KindValidation, wantCode: product.CodeInvalidReason},
		{name: "overflow", history: []domain.Event{stocked(math.MaxInt64)}, cmd: adjust(1), wantKind: domain.KindValidation, wantCode: product.CodeStockOverflow},
		{name: "wrong product", history: []domain.Event{stocked(1)}, cmd: product.AdjustStock{ProductID: otherID, Delta: 1, Reason: "x"},
			wantKind: domain.KindValidation, wantCode: product.CodeProductMismatch},
		{name: "nil product", cmd: product.AdjustStock{Delta: 1, Reason: "x"}, wantKind: domain.KindValidation, wantCode: domain.CodeInvalidID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inv, err := product.FoldInventory(tt.history)
			require.NoError(t, err)
			got, err := inv.DecideAdjustStock(tt.cmd)
			requireOutcome(t, got, err, tt.want, tt.wantKind, tt.wantCode)
		})
	}
}

func TestDecideReserve(t *testing.T) {
	t.Parallel()
	reserve := func(order domain.ID, q int64) product.Reserve {
		return product.Reserve{ProductID: productID, OrderID: order, Quantity: q, ExpiresAt: expires}
	}
	released := product.Released{ProductID: productID, OrderID: orderA, Quantity: 3, Reason: "expired"}
	tests := []struct {
		name     string
		history  []domain.Event
		cmd      product.Reserve
		want     []domain.Event
		wantKind domain.ErrorKind
		wantCode string
	}{
		{name: "reserves", history: []domain.Event{stocked(10)}, cmd: reserve(orderA, 3), want: []domain.Event{reserved(orderA, 3)}},
		{name: "reserves everything available", history: []domain.Event{stocked(10), reserved(orderA, 4)}, cmd: reserve(orderB, 6),
			want: []domain.Event{reserved(orderB, 6)}},
		{name: "more than available", history: []domain.Event{stocked(10), reserved(orderA, 4)}, cmd: reserve(orderB, 7),
			wantKind: domain.KindConflict, wantCode: product.CodeInsufficientStock},
		{name: "nothing in stock", cmd: reserve(orderA, 1), wantKind: domain.KindConflict, wantCode: product.CodeInsufficientStock},
		{name: "same order, same quantity is an idempotent no-op", history: []domain.Event{stocked(3), reserved(orderA, 3)},
			cmd: product.Reserve{ProductID: productID, OrderID: orderA, Quantity: 3, ExpiresAt: expires.Add(time.Hour)}},
		{name: "same order, other quantity", history: []domain.Event{stocked(10), reserved(orderA, 3)}, cmd: reserve(orderA, 4),
			wantKind: domain.KindConflict, wantCode: product.CodeReservationConflict},
		{name: "order already released", history: []domain.Event{stocked(10), reserved(orderA, 3), released}, cmd: reserve(orderA, 3),
			wantKind: domain.KindConflict, wantCode: product.CodeReservationSettled},
		{name: "discontinued", history: []domain.Event{stocked(10)},
			cmd:      product.Reserve{ProductID: productID, OrderID: orderA, Quantity: 1, ExpiresAt: expires, Discontinued: true},
			wantKind: domain.KindConflict, wantCode: product.CodeProductDiscontinued},
		{name: "discontinued does not break a retry", history: []domain.Event{stocked(10), reserved(orderA, 1)},
			cmd: product.Reserve{ProductID: productID, OrderID: orderA, Quantity: 1, ExpiresAt: expires, Discontinued: true}},
		{name: "zero quantity", history: []domain.Event{stocked(10)}, cmd: reserve(orderA, 0), wantKind: domain.KindValidation, wantCode: product.CodeInvalidQuantity},
		{name: "negative quantity", history: []domain.Event{stocked(10)}, cmd: reserve(orderA, -1), wantKind: domain.KindValidation, wantCode: product.CodeInvalidQuantity},
		{name: "no expiry", history: []domain.Event{stocked(10)}, cmd: product.Reserve{ProductID: productID, OrderID: orderA, Quantity: 1},
			wantKind: domain.KindValidation, wantCode: domain.CodeInvalidTime},
		{name: "nil order", history: []domain.Event{stocked(10)}, cmd: reserve(domain.ID{}, 1), wantKind: domain.KindValidation, wantCode: domain.CodeInvalidID},
		{name: "wrong product", history: []domain.Event{stocked(10)},
			cmd:      product.Reserve{ProductID: otherID, OrderID: orderA, Quantity: 1, ExpiresAt: expires},
			wantKind: domain.KindValidation, wantCode: product.CodeProductMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inv, err := product.FoldInventory(tt.history)
			require.NoError(t, err)
			got, err := inv.DecideReserve(tt.cmd)
			requireOutcome(t, got, err, tt.want, tt.wantKind, tt.wantCode)
		})
	}
}

func TestDecideReleaseAndCommit(t *testing.T) {
	t.Parallel()
	base := []domain.Event{stocked(10), reserved(orderA, 3)}
	releasedA := product.Released{ProductID: productID, OrderID: orderA, Quantity: 3, Reason: "order_cancelled"}
	committedA := product.Committed{ProductID: productID, OrderID: orderA, Quantity: 3}
	release := func(order domain.ID, reason string) func(*product.Inventory) ([]domain.Event, error) {
		return func(inv *product.Inventory) ([]domain.Event, error) {
			return inv.DecideRelease(product.Release{OrderID: order, Reason: reason})
		}
	}
	commit := func(order domain.ID) func(*product.Inventory) ([]domain.Event, error) {
		return func(inv *product.Inventory) ([]domain.Event, error) {
			return inv.DecideCommit(product.Commit{OrderID: order})
		}
	}
	tests := []struct {
		name     string
		history  []domain.Event
		run      func(*product.Inventory) ([]domain.Event, error)
		want     []domain.Event
		wantKind domain.ErrorKind
		wantCode string
	}{
		{name: "release", history: base, run: release(orderA, "order_cancelled"), want: []domain.Event{releasedA}},
		{name: "release twice is a no-op", history: append(base, releasedA), run: release(orderA, "order_cancelled")},
		{name: "release without reservation", history: base, run: release(orderB, "order_cancelled"),
			wantKind: domain.KindConflict, wantCode: product.CodeReservationNotFound},
		{name: "release after commit", history: append(base, committedA), run: release(orderA, "order_cancelled"),
			wantKind: domain.KindConflict, wantCode: product.CodeReservationSettled},
		{name: "release with a bad reason", history: base, run: release(orderA, "Because!"),
			wantKind: domain.KindValidation, wantCode: product.CodeInvalidReason},
		{name: "commit", history: base, run: commit(orderA), want: []domain.Event{committedA}},
		{name: "commit twice is a no-op", history: append(base, committedA), run: commit(orderA)},
		{name: "commit without reservation", history: base, run: commit(orderB),
			wantKind: domain.KindConflict, wantCode: product.CodeReservationNotFound},
		{name: "commit after release", history: append(base, releasedA), run: commit(orderA),
			wantKind: domain.KindConflict, wantCode: product.CodeReservationSettled},
		{name: "commit nil order", history: base, run: commit(domain.ID{}), wantKind: domain.KindValidation, wantCode: domain.CodeInvalidID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inv, err := product.FoldInventory(tt.history)
			require.NoError(t, err)
			got, err := tt.run(inv)
			requireOutcome(t, got, err, tt.want, tt.wantKind, tt.wantCode)
		})
	}
}

func TestDecideReleaseExpired(t *testing.T) {
	t.Parallel()
	early := product.Reserved{ProductID: productID, OrderID: orderB, Quantity: 2, ExpiresAt: expires.Add(-time.Minute)}
	inv, err := product.FoldInventory([]domain.Event{stocked(10), reserved(orderA, 3), early})
	require.NoError(t, err)

	got, err := inv.DecideReleaseExpired(expires.Add(-2 * time.Minute))
	require.NoError(t, err)
	require.Empty(t, got)

	got, err = inv.DecideReleaseExpired(expires)
	require.NoError(t, err)
	require.Equal(t, []domain.Event{
		product.Released{ProductID: productID, OrderID: orderB, Quantity: 2, Reason: product.ReleaseReasonExpired},
		product.Released{ProductID: productID, OrderID: orderA, Quantity: 3, Reason: product.ReleaseReasonExpired},
	}, got)

	_, err = inv.DecideReleaseExpired(time.Time{})
	require.True(t, domain.HasCode(err, domain.CodeInvalidTime))
}

func TestFoldInventory(t *testing.T) {
	t.Parallel()
	inv, err := product.FoldInventory([]domain.Event{
		stocked(10),
		reserved(orderA, 3),
		reserved(orderB, 2),
		product.Committed{ProductID: productID, OrderID: orderA, Quantity: 3},
		product.StockAdjusted{ProductID: productID, Delta: 5, Reason: "delivery", OnHand: 12},
	})
	require.NoError(t, err)
	require.Equal(t, productID, inv.ProductID())
	require.Equal(t, int64(12), inv.OnHand())
	require.Equal(t, int64(2), inv.Reserved())
	require.Equal(t, int64(10), inv.Available())
	r, ok := inv.Reservation(orderB)
	require.True(t, ok)
	require.Equal(t, product.Reservation{OrderID: orderB, Quantity: 2, ExpiresAt: expires}, r)
	_, ok = inv.Reservation(orderA)
	require.False(t, ok, "a committed reservation is no longer open")
	require.Equal(t, []product.Reservation{r}, inv.Reservations())

	_, err = product.FoldInventory([]domain.Event{product.Created{}})
	require.ErrorIs(t, err, domain.ErrUnknownEvent)
}

// TestStockNeverBelowZero runs long random command sequences through decide
// and evolve and checks the stock invariants after every step.
func TestStockNeverBelowZero(t *testing.T) {
	t.Parallel()
	orders := make([]domain.ID, 64)
	for i := range orders {
		orders[i] = domain.ID{15: byte(i + 1)}
	}
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 42))
		inv := &product.Inventory{}
		var history []domain.Event
		for range 500 {
			order := orders[rng.IntN(len(orders))]
			var events []domain.Event
			var err error
			switch rng.IntN(5) {
			case 0:
				events, err = inv.DecideAdjustStock(product.AdjustStock{ProductID: productID, Delta: rng.Int64N(21) - 10, Reason: "random"})
			case 1, 2:
				events, err = inv.DecideReserve(product.Reserve{ProductID: productID, OrderID: order, Quantity: rng.Int64N(6), ExpiresAt: expires})
			case 3:
				events, err = inv.DecideRelease(product.Release{OrderID: order, Reason: "order_cancelled"})
			case 4:
				events, err = inv.DecideCommit(product.Commit{OrderID: order})
			}
			if err != nil {
				require.NotEqual(t, domain.KindUnknown, domain.KindOf(err), "seed %d: %v", seed, err)
				require.Empty(t, events)
			}
			for _, e := range events {
				require.NoError(t, inv.Evolve(e))
				history = append(history, e)
			}
			require.GreaterOrEqual(t, inv.OnHand(), int64(0), "seed %d", seed)
			require.GreaterOrEqual(t, inv.Reserved(), int64(0), "seed %d", seed)
			require.GreaterOrEqual(t, inv.Available(), int64(0), "seed %d", seed)
			var sum int64
			for _, r := range inv.Reservations() {
				sum += r.Quantity
			}
			require.Equal(t, sum, inv.Reserved(), "seed %d", seed)
		}
		refolded, err := product.FoldInventory(history)
		require.NoError(t, err)
		require.Equal(t, inv, refolded, "seed %d: folding the history rebuilds the same state", seed)
	}
}
