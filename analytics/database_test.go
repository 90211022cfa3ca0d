package analytics

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

	"github.com/ordo-platform/ordo/internal/testenv"
)

// NewTestDatabase creates a ClickHouse database of the test's own with every migration
// applied, and returns its name and a connection; both go when the test ends. (A test
// file of the package, so that its own tests and analytics_test's share it.)
func NewTestDatabase(t testing.TB) (string, driver.Conn) {
	t.Helper()
	var b [5]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t.Cleanup(func() { dropDatabase(t, name) })
	_, err := Migrate(ctx, testenv.ClickHouseAddr(), name, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err, "is the stack up? `make up`")
	conn, err := Open(testenv.ClickHouseAddr(), name)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return name, conn
}

func dropDatabase(t testing.TB, name string) {
	admin, err := Open(testenv.ClickHouseAddr(), "default")
	if err != nil {
		t.Errorf("drop database %s: %v", name, err)
		return
	}
	defer admin.Close()
	if err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name); err != nil {
		t.Errorf("drop database %s: %v", name, err)
	}
}
