package app_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/app"
	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/product"
)

// Commands in tracked transactions of one process take a contended stream in turn, each
// until its transaction ends: none of them collides with another in the store (every
// transaction commits at its first attempt), rolled-back events never reach the cache,
// and a refusal made on a cache that another process left behind is checked against
// the stream first.
func TestTrackedTransactionsHoldCachedStreamsUntilTheyEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := newEnv(t)
	id := domain.ID(uuid.New())
	var onHand int64
	_, _, err := app.Execute(ctx, env, cachedAdjust(id, 10, &onHand))
	require.NoError(t, err)

	reserve := func(order domain.ID) app.Command[*product.Inventory] {
		cmd := cachedAdjust(id, 0, new(int64))
		cmd.Decide = func(inv *product.Inventory) ([]domain.Event, error) {
			return inv.DecideReserve(product.Reserve{ProductID: id, OrderID: order, Quantity: 1, ExpiresAt: time.Now().Add(time.Hour)})
		}
		cmd.MaxAttempts = 1 // a version conflict would fail the test
		return cmd
	}
	const n = 14 // 10 units, a few rollbacks: some are refused
	var (
		wg                          sync.WaitGroup
		mu                          sync.Mutex
		reserved, short, rolledBack int
	)
	for i := range n {
		wg.Go(func() {
			tx, err := env.Store.Pool().Begin(ctx)
			require.NoError(t, err)
			tctx, end := app.WithTrackedTx(ctx, tx)
			require.NoError(t, app.Hold(tctx, env, product.InventoryStreamID(id)))
			_, _, err = app.Execute(tctx, env, reserve(domain.ID(uuid.New())))
			if _, refused := domain.AsError(err); refused {
				require.NoError(t, tx.Rollback(ctx))
				end(false)
				mu.Lock()
				short++
				mu.Unlock()
				return
			}
			require.NoError(t, err)
			if i%4 == 3 { // some give up after appending: their events never happened
				require.NoError(t, tx.Rollback(ctx))
				end(false)
				mu.Lock()
				rolledBack++
				mu.Unlock()
				return
			}
			require.NoError(t, tx.Commit(ctx))
			end(true)
			mu.Lock()
			reserved++
			mu.Unlock()
		})
	}
	wg.Wait()
	require.Equal(t, n, reserved+short+rolledBack)
	// At most 3 of the 14 roll back, so at least 11 ask for the 10 units.
	require.Equal(t, 10, reserved, "every unit sold, none twice")
	require.Positive(t, short)
	inv, _, err := app.Load(ctx, env, product.InventoryStreamID(id), func() *product.Inventory { return &product.Inventory{} })
	require.NoError(t, err)
	require.EqualValues(t, reserved, inv.Reserved())
	require.GreaterOrEqual(t, inv.Available(), int64(0))

	// Another process adds stock: the cache here does not know, yet a reservation it
	// would refuse goes through.
	other := app.NewEnv(env.Store)
	_, _, err = app.Execute(ctx, other, cachedAdjust(id, 5, new(int64)))
	require.NoError(t, err)
	tx, err := env.Store.Pool().Begin(ctx)
	require.NoError(t, err)
	tctx, end := app.WithTrackedTx(ctx, tx)
	for range inv.Available() + 1 {
		_, _, err = app.Execute(tctx, env, reserve(domain.ID(uuid.New())))
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit(ctx))
	end(true)
}
