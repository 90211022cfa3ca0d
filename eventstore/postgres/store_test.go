package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/eventstoretest"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newStore(t *testing.T) *postgres.Store {
	t.Helper()
	pool := testenv.PostgresSchema(t, postgres.Migrations())
	s, err := postgres.New(context.Background(), pool)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store { return newStore(t) })
}

func TestAppendTxIsAtomicAcrossStreams(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	a, b := eventstoretest.Stream("inventory"), eventstoretest.Stream("inventory")

	// Rolled back: neither stream has anything.
	tx, err := s.Pool().Begin(ctx)
	require.NoError(t, err)
	_, err = s.AppendTx(ctx, tx, a, eventstore.NoStream, eventstoretest.Event("inventory.reserved", "a"))
	require.NoError(t, err)
	_, err = s.AppendTx(ctx, tx, b, eventstore.NoStream, eventstoretest.Event("inventory.reserved", "b"))
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))
	for _, st := range []eventstore.Stream{a, b} {
		v, err := s.StreamVersion(ctx, st.ID)
		require.NoError(t, err)
		require.Zero(t, v)
	}

	// Committed: both, with positions in append order.
	tx, err = s.Pool().Begin(ctx)
	require.NoError(t, err)
	ra, err := s.AppendTx(ctx, tx, a, eventstore.NoStream, eventstoretest.Event("inventory.reserved", "a"), eventstoretest.Event("inventory.reserved", "a2"))
	require.NoError(t, err)
	rb, err := s.AppendTx(ctx, tx, b, eventstore.NoStream, eventstoretest.Event("inventory.reserved", "b"))
	require.NoError(t, err)
	require.Less(t, ra.LastPosition, rb.FirstPosition)
	require.NoError(t, tx.Commit(ctx))
	eventstoretest.WaitVisible(t, s, rb.LastPosition)
	all, err := s.ReadAll(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, all, 3)
}

func TestAppendTxRefusesToReorderAStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	st := eventstoretest.Stream("order")

	// An old transaction takes its id, then a younger one appends to the stream and
	// commits. The old one appending to the same stream would sort before the younger
	// event: it must be refused as a conflict.
	old, err := s.Pool().Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = old.Rollback(ctx) }()
	_, err = old.Exec(ctx, "SELECT pg_current_xact_id()")
	require.NoError(t, err)

	_, err = s.Append(ctx, st, eventstore.NoStream, eventstoretest.Event("order.placed", "young"))
	require.NoError(t, err)

	_, err = s.AppendTx(ctx, old, st, eventstore.Any, eventstoretest.Event("order.noted", "old"))
	require.ErrorIs(t, err, eventstore.ErrVersionConflict)
}

func TestEventsAreAppendOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	_, err := s.Append(ctx, eventstoretest.Stream("order"), eventstore.NoStream, eventstoretest.Event("order.placed", "x"))
	require.NoError(t, err)
	for _, sql := range []string{"UPDATE events SET type = 'x'", "DELETE FROM events", "TRUNCATE events"} {
		_, err := s.Pool().Exec(ctx, sql)
		require.ErrorContains(t, err, "append-only", sql)
	}
}
