// Command seed fills an event store with plausible commerce events (products with
// stock, orders that reserve stock and are then confirmed or cancelled), fast, so that
// a rebuild has something to chew on:
//
//	ORDO_POSTGRES_URL='postgres://ordo:ordo@127.0.0.1:5432/ordo?sslmode=disable&search_path=bench' \
//	  go run ./projections/internal/seed -events 1000000
//
// It appends through the real store with the benches' generator (bench.SeedCommerce:
// AppendTx, many streams per transaction, a few writers in parallel), so positions and
// versions are exactly what production makes.
// It creates the schema's tables first (the same migrations as `ordo migrate`).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/internal/bench"
	"github.com/ordo-platform/ordo/internal/pgmigrate"
	pgpool "github.com/ordo-platform/ordo/internal/postgres"
	"github.com/ordo-platform/ordo/projections"
)

func main() {
	events := flag.Int("events", 100000, "events to append (at least)")
	writers := flag.Int("writers", 4, "parallel writers")
	perTx := flag.Int("per-tx", 200, "business actions per transaction")
	flag.Parse()
	if err := run(*events, *writers, *perTx); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func run(events, writers, perTx int) error {
	ctx := context.Background()
	url := os.Getenv("ORDO_POSTGRES_URL")
	if url == "" {
		url = "postgres://ordo:ordo@127.0.0.1:5432/ordo?sslmode=disable"
	}
	pool, err := pgpool.Open(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	var schema string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil || schema == "" {
		return fmt.Errorf("no current schema (create the schema of search_path first): %w", err)
	}
	if _, err := pgmigrate.Up(ctx, pool, slog.New(slog.DiscardHandler), postgres.Migrations(), projections.Migrations()); err != nil {
		return err
	}
	store, err := postgres.New(ctx, pool)
	if err != nil {
		return err
	}
	defer store.Close()

	start := time.Now()
	var (
		mu     sync.Mutex
		total  int64
		report time.Time
	)
	progress := func(done int64) { // a line every 2 s at most
		mu.Lock()
		defer mu.Unlock()
		total = max(total, done)
		if time.Since(report) >= 2*time.Second {
			report = time.Now()
			fmt.Printf("%d events, %.0f events/s\n", done, float64(done)/time.Since(start).Seconds())
		}
	}
	if _, err := bench.SeedCommerce(ctx, store, events, writers, perTx, progress); err != nil {
		return err
	}
	fmt.Printf("appended %d events in %s (%.0f events/s) to schema %s\n", total, time.Since(start).Round(time.Millisecond),
		float64(total)/time.Since(start).Seconds(), schema)
	return nil
}
