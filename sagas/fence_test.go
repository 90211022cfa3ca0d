package sagas

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	pgpool "github.com/ordo-platform/ordo/internal/postgres"
	"github.com/ordo-platform/ordo/internal/testenv"
)

// A step's save goes in one pipeline with its COMMIT. When the saga moved on since the
// step read it (another worker saved it), the save fails in the server, the COMMIT is
// skipped, and nothing the step wrote in its transaction is kept.
func TestFencedSaveRollsBackTheStep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.PostgresSchema(t, postgres.Migrations(), Migrations())
	st := &store{pool: pool}
	id := domain.ID(uuid.Must(uuid.NewV7()))
	_, err := st.insert(ctx, pool, []*Saga{{
		OrderID: id, CustomerID: domain.ID(uuid.Must(uuid.NewV7())), Total: domain.Money{Cents: 100, Currency: "EUR"},
		PaymentToken: "tok_visa", PlacedAt: time.Now().UTC(), State: StateReserving, Step: StepReserve,
	}}, nil, time.Minute)
	require.NoError(t, err)
	steps := func() int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM saga_steps WHERE order_id = $1`, uuid.UUID(id)).Scan(&n))
		return n
	}

	// step runs a step on s: a record written in the transaction, then the save with
	// another record and the COMMIT.
	step := func(s *Saga) error {
		tx, err := pgpool.BeginPipe(ctx, pool)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(ctx) }()
		now := time.Now().UTC()
		rec := stepRecord{OrderID: id, Step: StepReserve, Attempt: 1, Outcome: "reserved", StartedAt: now, FinishedAt: now}
		require.NoError(t, st.logStep(ctx, tx, rec))
		next := *s
		next.advance(StateAuthorizing, StepAuthorize, now.Add(time.Minute))
		b, saved := saveBatch(&next, "", false, 0, rec)
		if err := saved(tx.CommitWith(ctx, b)); err != nil {
			return err
		}
		*s = next
		return nil
	}

	mine, err := st.load(ctx, pool, id)
	require.NoError(t, err)
	stale := *mine
	require.NoError(t, step(mine))
	require.Equal(t, stale.Version+1, mine.Version)
	require.Equal(t, 2, steps(), "the step's records are kept")

	require.ErrorIs(t, step(&stale), errFenced)
	require.Equal(t, 2, steps(), "nothing of the fenced step is kept")
	now, err := st.load(ctx, pool, id)
	require.NoError(t, err)
	require.Equal(t, mine.Version, now.Version)
	require.Equal(t, StateAuthorizing, now.State)
	require.Equal(t, order.StatusPending, now.OrderStatus)
	require.Zero(t, pool.Stat().AcquiredConns())
	for _, c := range pool.AcquireAllIdle(ctx) {
		status := c.Conn().PgConn().TxStatus()
		c.Release()
		require.Equal(t, byte('I'), status, "no connection left in a transaction")
	}
}
