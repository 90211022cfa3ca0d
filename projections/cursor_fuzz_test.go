package projections

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

// FuzzCursors: the list cursors are opaque to clients, but a client can send anything
// in ?cursor=. Whatever it sends, ListOrders and ListProducts against the real read
// models answer a page or ErrBadCursor (the edge's 400), never another error (a 500);
// and a cursor that decodes re-encodes to one that decodes to the same position.
func FuzzCursors(f *testing.F) {
	pool := testenv.PostgresSchema(f, postgres.Migrations(), Migrations())
	require.NoError(f, Setup(context.Background(), pool))
	q := NewQueries(pool)
	f.Cleanup(q.Close)
	customer := domain.ID(uuid.MustParse("0193b3b0-0000-7000-8000-000000000001"))
	id := uuid.MustParse("0193b3b0-0000-7000-8000-000000000002")
	for _, c := range []string{
		"",
		encodeCursor(orderCursor{PlacedAt: time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC).UnixMicro(), ID: id}),
		encodeCursor(productCursor{SKU: "MUG-1", ID: id}),
		encodeCursor(orderCursor{PlacedAt: -1 << 63, ID: id}),
		encodeCursor(orderCursor{PlacedAt: 1<<63 - 1, ID: id}),
		encodeCursor(productCursor{SKU: "' OR 1=1 --", ID: uuid.Nil}),
		"eyJzIjoxfQ", // {"s":1}
		"%%%", "e30", "bnVsbA", "W10",
	} {
		f.Add(c)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, cursor string) {
		_, err := q.ListOrders(ctx, customer, cursor, 5)
		if err != nil {
			require.ErrorIs(t, err, ErrBadCursor, "orders, cursor %q", cursor)
		}
		_, err = q.ListProducts(ctx, cursor, 5)
		if err != nil {
			require.ErrorIs(t, err, ErrBadCursor, "products, cursor %q", cursor)
		}
		var oc orderCursor
		if decodeCursor(cursor, &oc) == nil {
			var again orderCursor
			require.NoError(t, decodeCursor(encodeCursor(oc), &again))
			require.Equal(t, oc, again)
		}
		var pc productCursor
		if decodeCursor(cursor, &pc) == nil {
			var again productCursor
			require.NoError(t, decodeCursor(encodeCursor(pc), &again))
			require.Equal(t, pc, again)
		}
	})
}
