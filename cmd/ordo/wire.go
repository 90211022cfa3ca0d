package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/ordo-platform/ordo/app"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/internal/health"
	"github.com/ordo-platform/ordo/internal/kafka"
	"github.com/ordo-platform/ordo/internal/metrics"
	pgpool "github.com/ordo-platform/ordo/internal/postgres"
	"github.com/ordo-platform/ordo/internal/telemetry"
)

// deps are the connections a process shares between its roles, opened once.
type deps struct {
	env   env
	log   *slog.Logger
	pool  *pgxpool.Pool
	store *postgres.Store
	kafka *kgo.Client
	reg   *prometheus.Registry

	// app runs commands and queries (the HTTP API, `ordo users`).
	app *app.Env

	kafkaFactory *kafka.Factory
	stopTracing  func(context.Context) error
	// ch is the ClickHouse connection, opened on first use (analytics.go).
	ch lazyClickHouse
	// closers run on close, newest first, before the shared connections close.
	closers []func()
}

// extraSpanProcessors receive every span of the process besides the OTLP exporter (the
// end-to-end trace test records them in memory).
var extraSpanProcessors []sdktrace.SpanProcessor

// onClose registers f to run when the process's connections close.
func (d *deps) onClose(f func()) { d.closers = append(d.closers, f) }

func openDeps(ctx context.Context, e env, role string) (*deps, error) {
	d := &deps{env: e, log: newLogger(e.LogLevel).With("service", "ordo-"+role)}
	var err error
	tcfg := e.Telemetry
	tcfg.Service = "ordo-" + role
	if d.stopTracing, err = telemetry.Setup(ctx, tcfg, extraSpanProcessors...); err != nil {
		return nil, err
	}
	if d.reg, err = metrics.NewRegistry(collectors...); err != nil {
		d.close()
		return nil, err
	}
	if d.pool, err = pgpool.Open(ctx, e.PostgresURL); err != nil {
		d.close()
		return nil, err
	}
	if d.store, err = postgres.New(ctx, d.pool); err != nil {
		d.close()
		return nil, err
	}
	d.app = app.NewEnv(d.store)
	// Per-record Kafka spans only when spans go somewhere (see kafka.Factory.Tracing).
	d.kafkaFactory = &kafka.Factory{Brokers: e.KafkaBrokers, Registerer: d.reg,
		Tracing: e.Telemetry.Endpoint != "" || len(extraSpanProcessors) > 0}
	if d.kafka, err = d.kafkaFactory.New(role); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

func (d *deps) close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	d.ch.close()
	if d.store != nil {
		d.store.Close()
	}
	if d.kafka != nil {
		d.kafka.Close()
	}
	if d.pool != nil {
		d.pool.Close()
	}
	if d.stopTracing != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = d.stopTracing(ctx) // flush spans; nothing to do if the collector is gone
	}
}

// ready are the checks of /readyz, on the process's own connections.
func (d *deps) ready() []health.Checker {
	return []health.Checker{
		health.CheckFunc{N: "postgres", F: func(ctx context.Context) error { return d.pool.Ping(ctx) }},
		health.KafkaClient(d.kafka),
		health.ClickHouse(d.env.ClickHouseAddr),
	}
}
