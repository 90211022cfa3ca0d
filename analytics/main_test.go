package analytics_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ordo-platform/ordo/analytics"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testDatabase is analytics.NewTestDatabase: a migrated database of the test's own.
var testDatabase = analytics.NewTestDatabase

// count runs a query returning one unsigned integer.
func count(t testing.TB, conn driver.Conn, query string) uint64 {
	t.Helper()
	var n uint64
	require.NoError(t, conn.QueryRow(context.Background(), query).Scan(&n), query)
	return n
}
