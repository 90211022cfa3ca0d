package analytics_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/analytics"
	"github.com/ordo-platform/ordo/analytics/internal/workload"
	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/schemas"
)

// shop returns the events of a generated shop, as stored, without Postgres.
func shop(t testing.TB, seed uint64, products, customers, orders int) []eventstore.Event {
	t.Helper()
	g := workload.New(seed, time.Now().Add(-50*time.Hour))
	appends := append(g.Setup(products, customers), g.Orders(orders)...)
	events, err := workload.Stored(appends, schemas.Default())
	require.NoError(t, err)
	return events
}

func write(t *testing.T, w *analytics.Writer, events []eventstore.Event, batch int) {
	t.Helper()
	codec := schemas.Default()
	for from := 0; from < len(events); from += batch {
		for _, e := range events[from:min(from+batch, len(events))] {
			d, err := analytics.Decode(codec, e)
			require.NoError(t, err)
			w.Add(d)
		}
		require.NoError(t, w.Flush(context.Background()))
	}
}

// Redelivery, as an analyst sees it: batches written again (whole, partly, cut
// differently) change no answer of the guide, although the rows are there twice.
func TestRedeliveredBatchesChangeNothingVisible(t *testing.T) {
	t.Parallel()
	_, conn := testDatabase(t)
	ctx := context.Background()
	// Keep the duplicates physically present, so that the dedup rule is what is tested.
	for _, table := range []string{"events", "order_events", "order_items", "payment_events", "inventory_movements"} {
		require.NoError(t, conn.Exec(ctx, "SYSTEM STOP MERGES "+table))
	}
	events := shop(t, 11, 25, 150, 800)
	o := newOracle(t, events)
	w := analytics.NewWriter(conn)
	write(t, w, events, 3000)
	first := checkGuide(t, conn, o)

	rng := rand.New(rand.NewPCG(1, 2))
	for range 6 {
		from := rng.IntN(len(events))
		to := min(len(events), from+1+rng.IntN(4000))
		write(t, w, events[from:to], 1+rng.IntN(2000))
	}
	write(t, w, events, 5000) // and everything once more
	require.Greater(t, count(t, conn, "SELECT count() FROM events"), 2*uint64(len(events)), "duplicates are stored")
	require.EqualValues(t, len(events), count(t, conn, "SELECT count() FROM events FINAL"))
	require.Equal(t, first, checkGuide(t, conn, o))
}
