package main

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/internal/health"
	"github.com/ordo-platform/ordo/internal/kafka"
	"github.com/ordo-platform/ordo/internal/metrics"
	pgpool "github.com/ordo-platform/ordo/internal/postgres"
)

// deps are the connections a process shares between its roles, opened once.
type deps struct {
	env   env
	log   *slog.Logger
	pool  *pgxpool.Pool
	store *postgres.Store
	kafka *kgo.Client
	reg   *prometheus.Registry
}

func openDeps(ctx context.Context, e env, role string) (*deps, error) {
	d := &deps{env: e, log: newLogger(e.LogLevel).With("service", "ordo-"+role)}
	var err error
	if d.pool, err = pgpool.Open(ctx, e.PostgresURL); err != nil {
		return nil, err
	}
	if d.store, err = postgres.New(ctx, d.pool); err != nil {
		d.close()
		return nil, err
	}
	if d.kafka, err = kafka.NewClient(e.KafkaBrokers, role); err != nil {
		d.close()
		return nil, err
	}
	if d.reg, err = metrics.NewRegistry(collectors...); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

func (d *deps) close() {
	if d.store != nil {
		d.store.Close()
	}
	if d.kafka != nil {
		d.kafka.Close()
	}
	if d.pool != nil {
		d.pool.Close()
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
