package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordo-platform/ordo/internal/pgmigrate"
	"github.com/ordo-platform/ordo/internal/postgres"
)

// PostgresSchema creates a fresh schema in the test database, applies the given
// migration sets inside it, and returns a pool whose search_path is that schema, so
// tests in parallel packages never see each other's rows. The schema is dropped when the
// test ends.
func PostgresSchema(t testing.TB, sets ...pgmigrate.Set) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])

	admin, err := pgx.Connect(ctx, PostgresURL())
	if err != nil {
		t.Fatalf("connect to test postgres (is the stack up? `make up`): %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), PostgresURL())
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})

	pool, err := postgres.Open(ctx, SchemaURL(t, schema))
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	if len(sets) > 0 {
		if _, err := pgmigrate.Up(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil)), sets...); err != nil {
			t.Fatalf("migrate test schema: %v", err)
		}
	}
	return pool
}

// SchemaURL is the test database URL with its search_path set to schema.
func SchemaURL(t testing.TB, schema string) string {
	t.Helper()
	u, err := url.Parse(PostgresURL())
	if err != nil {
		t.Fatalf("ORDO_POSTGRES_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
