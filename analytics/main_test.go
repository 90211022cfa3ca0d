package analytics_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ordo-platform/ordo/analytics"
	"github.com/ordo-platform/ordo/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testDatabase creates a ClickHouse database of the test's own with every migration
// applied, and returns its name and a connection; both go when the test ends.
func testDatabase(t testing.TB) (string, driver.Conn) {
	t.Helper()
	var b [5]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t.Cleanup(func() { dropDatabase(t, name) })
	_, err := analytics.Migrate(ctx, testenv.ClickHouseAddr(), name, quiet)
	require.NoError(t, err, "is the stack up? `make up`")
	conn, err := analytics.Open(testenv.ClickHouseAddr(), name)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return name, conn
}

func dropDatabase(t testing.TB, name string) {
	admin, err := analytics.Open(testenv.ClickHouseAddr(), "default")
	if err != nil {
		t.Errorf("drop database %s: %v", name, err)
		return
	}
	defer admin.Close()
	if err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name); err != nil {
		t.Errorf("drop database %s: %v", name, err)
	}
}

// count runs a query returning one unsigned integer.
func count(t testing.TB, conn driver.Conn, query string) uint64 {
	t.Helper()
	var n uint64
	require.NoError(t, conn.QueryRow(context.Background(), query).Scan(&n), query)
	return n
}
