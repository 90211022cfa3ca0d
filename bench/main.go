// Command bench measures Ordo against peers, on the same machine in the same run, and
// prints the JSON lines of `ordo bench` (ours = Ordo, ceiling = the peer). It is a module
// of its own so that the peers' dependencies stay out of the product's go.mod:
//
//	cd bench && go run .            (or: make bench-peer)
//
// Scenario peer-watermill-sql: 16 writers each store one event per call, in a
// transaction of its own. Ordo appends it to a stream of the writer's with an exact
// expected version (eventstore.Append); watermill-sql's Postgres publisher (v4, on the
// same pgx pool) publishes it as a message whose payload is the same Avro bytes and
// whose metadata is the rest of the same envelope.
//
// Scenario peer-watermill-sql-peak: append throughput, each side at its best. The same
// work as peer-watermill-sql at 4, 8, 16, 64, 256 and 1024 writers, each count in a fresh
// schema; the line gives each side's best rate over them, and stderr the rates of
// every count. Ordo's group commit writes appends that wait together in one
// transaction, so its rate grows with the writers; watermill's does not.
//
// Scenario peer-watermill-sql-batch: 4 writers each store 100 events per call, as
// `ordo bench append-batch` does. Ordo appends them to a new stream (no stream expected);
// watermill publishes the same 100 events as messages in one Publish call (one INSERT).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"

	"github.com/ordo-platform/ordo/internal/bench"
)

func main() {
	scale := flag.Float64("scale", 1, "multiply the amount of work")
	cpu := flag.Bool("cpu", false, "print to stderr the CPU time each side's timed work used (from /proc)")
	flag.Parse()
	url := os.Getenv("ORDO_POSTGRES_URL")
	if url == "" {
		url = "postgres://ordo:ordo@127.0.0.1:5432/ordo?sslmode=disable"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	env := bench.Env{PostgresURL: url, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Scale: *scale}
	if *cpu {
		env.CPU = os.Stderr
	}
	for _, s := range []bench.Scenario{watermillSQL, watermillSQLPeak, watermillSQLBatch} {
		if _, err := bench.Run(ctx, env, s, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
