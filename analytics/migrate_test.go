package analytics_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/analytics"
	"github.com/ordo-platform/ordo/internal/testenv"
)

func TestMigrateIsIdempotentAndSafeConcurrently(t *testing.T) {
	t.Parallel()
	name, conn := testDatabase(t) // applied once
	ms, err := analytics.Migrations()
	require.NoError(t, err)

	// Several `ordo migrate` at once, then again: all converge on the same schema.
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			res, err := analytics.Migrate(context.Background(), testenv.ClickHouseAddr(), name, quiet)
			require.NoError(t, err)
			require.Equal(t, len(ms), res.Version)
			require.Empty(t, res.Applied, "already applied")
		})
	}
	wg.Wait()
	require.EqualValues(t, len(ms), count(t, conn, "SELECT uniqExact(version) FROM schema_migrations"))

	// A migration interrupted half way (here: its version row lost) is run again whole.
	require.NoError(t, conn.Exec(context.Background(), "DROP TABLE schema_migrations"))
	res, err := analytics.Migrate(context.Background(), testenv.ClickHouseAddr(), name, quiet)
	require.NoError(t, err)
	require.Len(t, res.Applied, len(ms))

	for _, table := range []string{"events", "order_events", "order_items", "payment_events", "inventory_movements",
		"orders", "payments", "sales_hourly", "sales_daily", "revenue_by_product", "order_outcomes_daily",
		"payment_outcomes_daily", "stock_levels"} {
		require.EqualValues(t, 1, count(t, conn, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = '"+table+"'"), table)
	}
}
