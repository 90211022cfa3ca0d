package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// ClickHouseDatabase creates a database of its own on the test ClickHouse and returns a
// connection whose default database it is, and its name. The database is dropped when
// the test ends.
func ClickHouseDatabase(t testing.TB) (driver.Conn, string) {
	t.Helper()
	var b [5]byte
	_, _ = rand.Read(b[:])
	name := "test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := clickhouse.Open(&clickhouse.Options{Addr: []string{ClickHouseAddr()}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("clickhouse (is the stack up? `make up`): %v", err)
	}
	defer admin.Close()
	if err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create clickhouse database: %v", err)
	}
	t.Cleanup(func() {
		c, err := clickhouse.Open(&clickhouse.Options{Addr: []string{ClickHouseAddr()}})
		if err == nil {
			_ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name)
			_ = c.Close()
		}
	})
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{ClickHouseAddr()}, Auth: clickhouse.Auth{Database: name}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("clickhouse: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn, name
}
