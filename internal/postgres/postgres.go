// Package postgres opens Ordo's pgx connection pools with one set of defaults.
package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Open connects a pool to url and checks it with a ping.
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres url: %w", err)
	}
	// Queries made inside a traced operation become child spans (otelpgx only records
	// when the caller's span does, so background polling makes no traces).
	cfg.ConnConfig.Tracer = otelpgx.NewTracer()
	after := cfg.AfterConnect
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		RegisterUUID(c.TypeMap())
		if after != nil {
			return after(ctx, c)
		}
		return nil
	}
	// pgxpool's default (max(4, CPUs)) starves a server on a small machine; a URL's
	// pool_max_conns still wins.
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = 20
	}
	if cfg.MaxConnIdleTime == 0 || cfg.MaxConnIdleTime > 5*time.Minute {
		cfg.MaxConnIdleTime = 5 * time.Minute
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres %s: %w", redact(cfg), err)
	}
	return pool, nil
}

func redact(cfg *pgxpool.Config) string {
	return fmt.Sprintf("%s@%s:%d/%s", cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
}
