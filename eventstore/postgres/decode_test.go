package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/internal/testenv"
)

// TestDecodeEqualsScan: the binary decoder of collectEvents gives exactly what pgx's
// generic Scan gives, for every kind of value (NULL and set ids, empty and binary
// payloads, times with and without sub-microsecond parts).
func TestDecodeEqualsScan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := New(ctx, testenv.PostgresSchema(t, Migrations()))
	require.NoError(t, err)
	t.Cleanup(s.Close)
	at := time.Date(2026, 3, 4, 5, 6, 7, 891234000, time.UTC)
	events := []eventstore.NewEvent{
		{ID: eventstore.NewID(), Type: "order.placed", SchemaVersion: 3, SchemaFingerprint: []byte{1, 2, 3},
			Payload: []byte("\x00\xffbinary"), OccurredAt: at,
			Metadata: eventstore.Metadata{CorrelationID: uuid.New(), CausationID: uuid.New(), Actor: "user:ü",
				TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}},
		{ID: eventstore.NewID(), Type: "order.confirmed", SchemaVersion: 1, SchemaFingerprint: nil,
			Payload: nil, OccurredAt: at.Add(-100 * 365 * 24 * time.Hour)},
		{ID: eventstore.NewID(), Type: "order.placed", SchemaVersion: 1, SchemaFingerprint: []byte{9},
			Payload: []byte{}, OccurredAt: at, Metadata: eventstore.Metadata{CorrelationID: uuid.New()}},
	}
	st := eventstore.Stream{Type: "order", ID: "order-" + uuid.NewString()}
	_, err = s.Append(ctx, st, eventstore.NoStream, events...)
	require.NoError(t, err)

	query := func() pgx.Rows {
		rows, err := s.pool.Query(ctx, selectEvent+`WHERE stream_id = $1 ORDER BY version`, st.ID)
		require.NoError(t, err)
		return rows
	}
	rows := query()
	require.True(t, rows.Next())
	binary := binaryEventColumns(rows.FieldDescriptions())
	rows.Close()
	require.True(t, binary, "pgx reads these columns in binary")
	fast, err := collectEvents(query(), 10)
	require.NoError(t, err)
	generic, err := pgx.CollectRows(query(), func(row pgx.CollectableRow) (eventstore.Event, error) { return scanEvent(row) })
	require.NoError(t, err)
	require.Len(t, fast, len(events))
	require.Equal(t, generic, fast)
	for i, e := range fast {
		require.Equal(t, events[i].ID, e.ID)
		require.True(t, events[i].OccurredAt.Equal(e.OccurredAt))
		require.Equal(t, events[i].Metadata, e.Metadata)
	}

	// With a count column after the event's (ReadAllTypes), in binary and, through the
	// simple protocol, in text (the generic Scan).
	counted := `SELECT e.*, 42::bigint FROM (` + selectEvent + `WHERE stream_id = $1) e ORDER BY version`
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		rows, err := s.pool.Query(ctx, counted, mode, st.ID)
		require.NoError(t, err)
		got, n, err := collect(rows, 10, true)
		require.NoError(t, err, mode)
		require.Equal(t, int64(42), n, mode)
		require.Equal(t, fast, got, mode)
	}
}
