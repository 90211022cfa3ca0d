package postgres_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/eventstoretest"
)

// TestReadAllTypesIsReadAllFiltered pages through a store of mixed stream types with
// ReadAllTypes, for several type sets and page sizes, and checks each page against
// ReadAll's page from the same position with the other types left out: the same events,
// the same count read and the same end, also when a page ends on an event of another
// type or holds none of the wanted ones.
func TestReadAllTypesIsReadAllFiltered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	rnd := rand.New(rand.NewPCG(1, 2))
	types := []string{"order", "inventory", "product"}
	var head int64
	for range 60 {
		st := eventstoretest.Stream(types[rnd.IntN(len(types))])
		evs := make([]eventstore.NewEvent, 1+rnd.IntN(3))
		for i := range evs {
			evs[i] = eventstoretest.Event(st.Type+".happened", st.ID)
		}
		res, err := s.Append(ctx, st, eventstore.NoStream, evs...)
		require.NoError(t, err)
		head = res.LastPosition
	}
	eventstoretest.WaitVisible(t, s, head)

	for _, want := range [][]string{{"order"}, {"inventory", "product"}, {"nothing"}, types} {
		for _, limit := range []int{1, 2, 3, 7, 50, 1000} {
			after, pages := int64(0), 0
			for {
				all, err := s.ReadAll(ctx, after, limit)
				require.NoError(t, err)
				got, read, last, err := s.ReadAllTypes(ctx, after, limit, want)
				require.NoError(t, err)
				require.Equal(t, len(all), read, "types %v, limit %d, after %d", want, limit, after)
				var filtered []eventstore.Event
				for _, e := range all {
					if slices.Contains(want, e.StreamType) {
						filtered = append(filtered, e)
					}
				}
				require.Equal(t, len(filtered), len(got), "types %v, limit %d, after %d", want, limit, after)
				for i := range got {
					require.Equal(t, filtered[i].ID, got[i].ID)
					require.Equal(t, filtered[i].Position, got[i].Position)
					require.Equal(t, filtered[i].Payload, got[i].Payload)
				}
				if len(all) == 0 {
					require.Equal(t, after, last)
					break
				}
				require.Equal(t, all[len(all)-1].Position, last)
				after, pages = last, pages+1
			}
			require.Equal(t, head, after, "types %v, limit %d: paged to the head", want, limit)
			require.Positive(t, pages)
		}
	}
}

// TestReadAllTypesStopsBelowAnOpenTransaction: an append still open holds a position
// below later commits; ReadAllTypes, like ReadAll, returns nothing at or above it until
// it commits, and then everything.
func TestReadAllTypesStopsBelowAnOpenTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	first, err := s.Append(ctx, eventstoretest.Stream("order"), eventstore.NoStream, eventstoretest.Event("order.placed", "1"))
	require.NoError(t, err)
	eventstoretest.WaitVisible(t, s, first.LastPosition)

	tx, err := s.Pool().Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck // committed below
	open, err := s.AppendTx(ctx, tx, eventstoretest.Stream("order"), eventstore.NoStream, eventstoretest.Event("order.placed", "open"))
	require.NoError(t, err)
	later, err := s.Append(ctx, eventstoretest.Stream("order"), eventstore.NoStream, eventstoretest.Event("order.placed", "later"))
	require.NoError(t, err)
	require.Greater(t, later.LastPosition, open.LastPosition)

	got, read, last, err := s.ReadAllTypes(ctx, 0, 10, []string{"order"})
	require.NoError(t, err)
	require.Equal(t, 1, read, "only the event below the open transaction")
	require.Len(t, got, 1)
	require.Equal(t, first.LastPosition, last)

	require.NoError(t, tx.Commit(ctx))
	eventstoretest.WaitVisible(t, s, later.LastPosition)
	got, read, last, err = s.ReadAllTypes(ctx, first.LastPosition, 10, []string{"order"})
	require.NoError(t, err)
	require.Equal(t, 2, read)
	require.Len(t, got, 2)
	require.Equal(t, open.LastPosition, got[0].Position)
	require.Equal(t, later.LastPosition, last)
}
