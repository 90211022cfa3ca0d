package app_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/app"
	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/product"
	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	pgpool "github.com/ordo-platform/ordo/internal/postgres"
	"github.com/ordo-platform/ordo/internal/testenv"
)

func newEnv(t *testing.T) *app.Env {
	t.Helper()
	pool := testenv.PostgresSchema(t, postgres.Migrations())
	s, err := postgres.New(context.Background(), pool)
	require.NoError(t, err)
	t.Cleanup(func() { t0 := time.Now(); s.Close(); t.Logf("store close took %s", time.Since(t0)) })
	return app.NewEnv(s)
}

func adjust(id domain.ID, delta int64) app.Command[*product.Inventory] {
	return app.Command[*product.Inventory]{
		Stream: eventstore.Stream{Type: product.InventoryStreamType, ID: product.InventoryStreamID(id)},
		New:    func() *product.Inventory { return &product.Inventory{} },
		Decide: func(inv *product.Inventory) ([]domain.Event, error) {
			return inv.DecideAdjustStock(product.AdjustStock{ProductID: id, Delta: delta, Reason: "delivery"})
		},
		MaxAttempts: 100,
	}
}

func TestConcurrentCommandsRetryOnConflict(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	id := domain.ID(uuid.New())
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Go(func() {
			_, _, err := app.Execute(context.Background(), env, adjust(id, 5))
			require.NoError(t, err)
		})
	}
	wg.Wait()
	inv, version, err := app.Load(context.Background(), env, product.InventoryStreamID(id), func() *product.Inventory { return &product.Inventory{} })
	require.NoError(t, err)
	require.EqualValues(t, 20, version, "every command appended once")
	require.EqualValues(t, 100, inv.OnHand())
}

func TestDomainErrorsAppendNothing(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	id := domain.ID(uuid.New())
	_, _, err := app.Execute(context.Background(), env, adjust(id, -1))
	var derr *domain.Error
	require.ErrorAs(t, err, &derr)
	v, err := env.Store.StreamVersion(context.Background(), product.InventoryStreamID(id))
	require.NoError(t, err)
	require.Zero(t, v)
}

func TestInTxFailureRollsBackTheEvents(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	id := domain.ID(uuid.New())
	cmd := adjust(id, 3)
	boom := errors.New("side row failed")
	cmd.InTx = func(context.Context, pgx.Tx, *product.Inventory, []domain.Event) error { return boom }
	_, _, err := app.Execute(context.Background(), env, cmd)
	require.ErrorIs(t, err, boom)
	v, err := env.Store.StreamVersion(context.Background(), product.InventoryStreamID(id))
	require.NoError(t, err)
	require.Zero(t, v)
}

func TestOuterTransaction(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	ctx := context.Background()
	id := domain.ID(uuid.New())
	tx, err := env.Store.Pool().Begin(ctx)
	require.NoError(t, err)
	_, res, err := app.Execute(app.WithTx(ctx, tx), env, adjust(id, 3))
	require.NoError(t, err)
	require.EqualValues(t, 1, res.Version)
	// A failing command inside the same transaction does not spoil it.
	_, _, err = app.Execute(app.WithTx(ctx, tx), env, adjust(id, -100))
	require.Error(t, err)
	require.NoError(t, tx.Rollback(ctx))
	v, err := env.Store.StreamVersion(ctx, product.InventoryStreamID(id))
	require.NoError(t, err)
	require.Zero(t, v, "rolled back with the outer transaction")
}

func TestSeededIDsMakeRetriesIdempotent(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	ctx := context.Background()
	id := domain.ID(uuid.New())
	stream := eventstore.Stream{Type: product.InventoryStreamType, ID: product.InventoryStreamID(id)}
	// The same decided events with the same seed, appended twice: stored once.
	for i := 0; i < 2; i++ {
		cmd := adjust(id, 7)
		cmd.IDSeed = "request-123"
		cmd.Decide = func(*product.Inventory) ([]domain.Event, error) {
			return []domain.Event{product.StockAdjusted{ProductID: id, Delta: 7, Reason: "x", OnHand: 7}}, nil
		}
		t0 := time.Now()
		_, _, err := app.Execute(ctx, env, cmd)
		t.Log(i, time.Since(t0))
		require.NoError(t, err)
	}
	v, err := env.Store.StreamVersion(ctx, stream.ID)
	require.NoError(t, err)
	require.EqualValues(t, 1, v)
}

func cachedAdjust(id domain.ID, delta int64, onHand *int64) app.Command[*product.Inventory] {
	cmd := adjust(id, delta)
	cmd.Cached = true
	cmd.After = func(inv *product.Inventory) { *onHand = inv.OnHand() }
	return cmd
}

// Two processes (two Envs, two caches) on one store: each catches up with the other's
// events, conflicts are retried, and the cache never holds what was rolled back.
func TestCachedCommandsAcrossProcessesAndRollbacks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := newEnv(t)
	b := app.NewEnv(a.Store)
	id := domain.ID(uuid.New())
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		env := a
		if i%2 == 1 {
			env = b
		}
		wg.Go(func() {
			var onHand int64
			_, _, err := app.Execute(ctx, env, cachedAdjust(id, 5, &onHand))
			require.NoError(t, err)
			require.Positive(t, onHand)
		})
	}
	wg.Wait()

	// A command inside a transaction that rolls back leaves the cached state alone.
	tx, err := a.Store.Pool().Begin(ctx)
	require.NoError(t, err)
	var inside int64
	_, _, err = app.Execute(app.WithTx(ctx, tx), a, cachedAdjust(id, 1000, &inside))
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))

	var onHand int64
	_, res, err := app.Execute(ctx, a, cachedAdjust(id, 1, &onHand))
	require.NoError(t, err)
	require.EqualValues(t, 101, onHand, "20 × 5 + 1, and nothing of the rolled-back 1000")
	require.EqualValues(t, 21, res.Version)
	inv, _, err := app.Load(ctx, a, product.InventoryStreamID(id), func() *product.Inventory { return &product.Inventory{} })
	require.NoError(t, err)
	require.EqualValues(t, 101, inv.OnHand(), "the store agrees with the cache")
	require.Equal(t, 1, a.Cache.Len())
}

// LoadMany folds what Load folds, stream by stream, in one read when the streams are
// short and page by page when they are not.
func TestLoadManyFoldsEachStreamAsLoadDoes(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	ctx := context.Background()
	newInv := func() *product.Inventory { return &product.Inventory{} }
	var streams []string
	// Appends per stream: 0 (no stream), 1, 3 and 300 (more than one read's page).
	for _, n := range []int{0, 1, 3, 300} {
		id := domain.ID(uuid.New())
		for i := range n {
			_, _, err := app.Execute(ctx, env, adjust(id, int64(i+1)))
			require.NoError(t, err)
		}
		streams = append(streams, product.InventoryStreamID(id))
	}
	for _, set := range [][]string{streams[:3], streams, {streams[3], streams[1], streams[3]}} {
		got, err := app.LoadMany(ctx, env, set, newInv)
		require.NoError(t, err)
		for _, s := range set {
			want, _, err := app.Load(ctx, env, s, newInv)
			require.NoError(t, err)
			require.Contains(t, got, s)
			require.Equal(t, want.OnHand(), got[s].OnHand(), "stream %s", s)
		}
		distinct := map[string]bool{}
		for _, s := range set {
			distinct[s] = true
		}
		require.Len(t, got, len(distinct))
	}
}

// A NewStream command takes the stream as empty on its first attempt. When it is not,
// the append is refused and the retry decides on the stream read; a refusal decided on
// the stream taken as empty is decided again on the stream read.
func TestNewStreamOnAStreamThatExists(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	ctx := context.Background()
	id := domain.ID(uuid.New())
	_, _, err := app.Execute(ctx, env, adjust(id, 10))
	require.NoError(t, err)
	for _, cached := range []bool{false, true} {
		for _, delta := range []int64{2, -3} { // -3: refused on an empty inventory
			var onHand int64
			cmd := cachedAdjust(id, delta, &onHand)
			cmd.Cached, cmd.NewStream = cached, true
			_, res, err := app.Execute(ctx, env, cmd)
			require.NoError(t, err, "cached %v, delta %d", cached, delta)
			require.Len(t, res.Events, 1)
		}
	}
	inv, version, err := app.Load(ctx, env, product.InventoryStreamID(id), func() *product.Inventory { return &product.Inventory{} })
	require.NoError(t, err)
	require.EqualValues(t, 5, version)
	require.EqualValues(t, 8, inv.OnHand())
}

// Commands in a queued transaction append with its commit. A command that decided on
// a cached state another process has moved past is refused at the commit (a version
// conflict, nothing of the transaction kept), and the next transaction reads the
// stream again and succeeds.
func TestQueuedTxAcrossProcesses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := newEnv(t)
	b := app.NewEnv(a.Store)
	id, other := domain.ID(uuid.New()), domain.ID(uuid.New())
	var onHand int64
	_, _, err := app.Execute(ctx, a, cachedAdjust(id, 5, &onHand)) // a caches the stream at version 1
	require.NoError(t, err)
	_, _, err = app.Execute(ctx, b, cachedAdjust(id, 7, &onHand)) // b moves it to 2
	require.NoError(t, err)

	queued := func() error {
		tx, err := pgpool.BeginPipe(ctx, a.Store.Pool())
		require.NoError(t, err)
		qctx, end := app.WithQueuedTx(ctx, tx)
		committed := false
		defer func() {
			if !committed {
				_ = tx.Rollback(ctx)
			}
			end(committed)
		}()
		for _, cmd := range []app.Command[*product.Inventory]{cachedAdjust(other, 3, &onHand), cachedAdjust(id, 1, &onHand)} {
			if _, _, err := app.Execute(qctx, a, cmd); err != nil {
				return err
			}
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		committed = true
		return nil
	}
	require.ErrorIs(t, queued(), eventstore.ErrVersionConflict, "decided on version 1, refused at the commit")
	for _, s := range []domain.ID{id, other} {
		v, err := a.Store.StreamVersion(ctx, product.InventoryStreamID(s))
		require.NoError(t, err)
		require.EqualValues(t, map[domain.ID]int64{id: 2, other: 0}[s], v, "nothing of the transaction kept")
	}
	require.NoError(t, queued(), "the retry reads the stream again")
	inv, v, err := app.Load(ctx, a, product.InventoryStreamID(id), func() *product.Inventory { return &product.Inventory{} })
	require.NoError(t, err)
	require.EqualValues(t, 3, v)
	require.EqualValues(t, 13, inv.OnHand())
	_, res, err := app.Execute(ctx, a, cachedAdjust(id, 1, &onHand))
	require.NoError(t, err)
	require.EqualValues(t, 14, onHand, "the cache took the committed events")
	require.EqualValues(t, 4, res.Version)
}
