package sagas

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/internal/testenv"
)

// FuzzSagaCursor: whatever a client sends as the cursor of GET /v1/admin/sagas,
// ListSagas against the real saga table answers a page or a validation error
// (invalid_cursor, the edge's 422), never another error (a 500); and a cursor that
// decodes re-encodes to one that decodes to the same position.
func FuzzSagaCursor(f *testing.F) {
	pool := testenv.PostgresSchema(f, postgres.Migrations(), Migrations())
	store, err := postgres.New(context.Background(), pool)
	require.NoError(f, err)
	f.Cleanup(store.Close)
	q := NewQueries(store)
	id := domain.ID(uuid.MustParse("0193b3b0-0000-7000-8000-000000000002"))
	for _, c := range []string{
		"",
		encodeCursor(time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC), id),
		encodeCursor(time.UnixMicro(-1<<63), id),
		encodeCursor(time.UnixMicro(1<<63-1), id),
		"LTE", // "-1"
		"MS8", // "1/"
		"%%%",
	} {
		f.Add(c)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, cursor string) {
		_, err := q.ListSagas(ctx, ListFilter{Cursor: cursor})
		if err != nil {
			derr, ok := domain.AsError(err)
			require.True(t, ok && derr.Kind == domain.KindValidation, "cursor %q: %v", cursor, err)
			require.Contains(t, derr.Fields, "cursor")
		}
		at, after, err := decodeCursor(cursor)
		if err != nil || at == nil {
			return
		}
		at2, after2, err := decodeCursor(encodeCursor(*at, domain.ID(after)))
		require.NoError(t, err)
		require.True(t, at.Equal(*at2))
		require.Equal(t, after, after2)
	})
}
