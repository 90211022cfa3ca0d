package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordo-platform/ordo/internal/pgmigrate"
	"github.com/ordo-platform/ordo/internal/postgres"
)

// ScratchSchema creates a schema of its own, applies sets in it and returns a pool
// confined to it and a function that drops it.
func ScratchSchema(ctx context.Context, env Env, sets ...pgmigrate.Set) (*pgxpool.Pool, func(), error) {
	var b [5]byte
	_, _ = rand.Read(b[:])
	schema := "bench_" + hex.EncodeToString(b[:])
	admin, err := pgx.Connect(ctx, env.PostgresURL)
	if err != nil {
		return nil, nil, err
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return nil, nil, err
	}
	drop := func() {
		c, err := pgx.Connect(context.Background(), env.PostgresURL)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			_ = c.Close(context.Background())
		}
	}
	u, err := url.Parse(env.PostgresURL)
	if err != nil {
		drop()
		return nil, nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("pool_max_conns", "64")
	u.RawQuery = q.Encode()
	pool, err := postgres.Open(ctx, u.String())
	if err != nil {
		drop()
		return nil, nil, err
	}
	if _, err := pgmigrate.Up(ctx, pool, env.Log, sets...); err != nil {
		pool.Close()
		drop()
		return nil, nil, fmt.Errorf("migrate scratch schema: %w", err)
	}
	return pool, func() { pool.Close(); drop() }, nil
}

// RandomName returns prefix-<hex>.
func RandomName(prefix string) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}
