package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/eventstoretest"
	pgpool "github.com/ordo-platform/ordo/internal/postgres"
)

// A queued append goes with the transaction's next statement: a read on the
// transaction sees it, the commit stores it with the other streams' appends in
// append order; and every refusal fails the commit, storing nothing of the
// transaction.
func TestQueueAppend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	a, b := eventstoretest.Stream("inventory"), eventstoretest.Stream("inventory")
	begin := func() *pgpool.PipeTx {
		tx, err := pgpool.BeginPipe(ctx, s.Pool())
		require.NoError(t, err)
		t.Cleanup(func() { _ = tx.Rollback(ctx) })
		return tx
	}
	version := func(st eventstore.Stream) int64 {
		v, err := s.StreamVersion(ctx, st.ID)
		require.NoError(t, err)
		return v
	}

	tx := begin()
	res, err := s.QueueAppend(tx, a, eventstore.NoStream, eventstoretest.Event("inventory.reserved", "a1"), eventstoretest.Event("inventory.reserved", "a2"))
	require.NoError(t, err)
	require.Equal(t, eventstore.AppendResult{FirstVersion: 1, LastVersion: 2}, res)
	evs, err := s.ReadStreamTx(ctx, tx, a.ID, 1, 10)
	require.NoError(t, err)
	require.Len(t, evs, 2, "a read on the transaction sees the queued events")
	_, err = s.QueueAppend(tx, b, eventstore.NoStream, eventstoretest.Event("inventory.reserved", "b1"))
	require.NoError(t, err)
	require.Zero(t, version(a), "nothing visible before the commit")
	require.NoError(t, tx.Commit(ctx))
	require.Equal(t, int64(2), version(a))
	require.Equal(t, int64(1), version(b))
	all, err := s.ReadStreams(ctx, nil, []string{a.ID, b.ID}, 10)
	require.NoError(t, err)
	require.Len(t, all, 3)
	find := func(st eventstore.Stream, v int64) eventstore.Event {
		for _, e := range all {
			if e.StreamID == st.ID && e.Version == v {
				return e
			}
		}
		t.Fatalf("%s@%d not read", st.ID, v)
		return eventstore.Event{}
	}

	refusals := map[string]func(tx *pgpool.PipeTx){
		"not at the expected version": func(tx *pgpool.PipeTx) {
			_, err := s.QueueAppend(tx, a, eventstore.Exact(1), eventstoretest.Event("inventory.reserved", "late"))
			require.NoError(t, err)
		},
		"a new stream that exists": func(tx *pgpool.PipeTx) {
			_, err := s.QueueAppend(tx, b, eventstore.NoStream, eventstoretest.Event("inventory.reserved", "again"))
			require.NoError(t, err)
		},
		"a retry of a committed append": func(tx *pgpool.PipeTx) {
			e := eventstoretest.Event("inventory.reserved", "a1")
			e.ID = find(a, 1).ID
			_, err := s.QueueAppend(tx, a, eventstore.Exact(2), e)
			require.NoError(t, err)
		},
	}
	for name, refuse := range refusals {
		fresh := eventstoretest.Stream("inventory")
		tx := begin()
		_, err := s.QueueAppend(tx, fresh, eventstore.NoStream, eventstoretest.Event("inventory.reserved", "x"))
		require.NoError(t, err)
		refuse(tx)
		err = tx.Commit(ctx)
		require.ErrorIs(t, err, eventstore.ErrVersionConflict, name)
		require.Zero(t, version(fresh), "%s: nothing of the transaction kept", name)
		require.Equal(t, int64(2), version(a), name)
		require.Equal(t, int64(1), version(b), name)
	}

	// An id stored in another stream is a duplicate, not a conflict.
	tx = begin()
	e := eventstoretest.Event("inventory.reserved", "b1")
	e.ID = find(b, 1).ID
	_, err = s.QueueAppend(tx, eventstoretest.Stream("inventory"), eventstore.NoStream, e)
	require.NoError(t, err)
	require.ErrorIs(t, tx.Commit(ctx), eventstore.ErrDuplicateEvent)

	// Only exact expected versions queue.
	_, err = s.QueueAppend(begin(), a, eventstore.Any, eventstoretest.Event("inventory.reserved", "any"))
	require.ErrorIs(t, err, eventstore.ErrInvalidAppend)
}
