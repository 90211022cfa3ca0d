package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/spf13/cobra"

	"github.com/ordo-platform/ordo/analytics"
	"github.com/ordo-platform/ordo/internal/bench"
	"github.com/ordo-platform/ordo/internal/lifecycle"
)

// The analytics component: the `ordo analytics` role (Kafka -> ClickHouse sink), its
// ClickHouse migrations (run by `ordo migrate`), `ordo replay --target analytics`, and
// the `ordo bench analytics` scenario.

func init() {
	registerCollectors(analytics.Collectors()...)
	registerRole(roleSpec{
		Name: "analytics", Short: "Stream every event from Kafka into ClickHouse (batched, deduplicated)", InAll: true, Order: 40,
		Build: func(d *deps) ([]lifecycle.Role, error) {
			conn, err := d.clickhouse()
			if err != nil {
				return nil, err
			}
			return []lifecycle.Role{analytics.NewSink(d.env.Analytics, conn, d.env.TopicNames, d.kafkaClients("analytics"), d.log)}, nil
		},
	})
	registerMigrateStep(migrateStep{Name: "clickhouse", Run: func(cmd *cobra.Command, d *deps) error {
		res, err := analytics.Migrate(cmd.Context(), d.env.Analytics.Addr, d.env.Analytics.Database, d.log)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "clickhouse  %-14s version %d (%d applied now)\n", res.Database, res.Version, len(res.Applied))
		return nil
	}})
	registerReplayTarget(replayTarget{
		Name:  "analytics",
		Short: "re-ingest the whole event store into ClickHouse (duplicates collapse; nothing is deleted)",
		Run:   replayAnalytics,
	})
	bench.Register(bench.Scenario{
		Name: "analytics", Unit: "events/s",
		Doc: "the analytics sink consuming a backlog of events from Kafka into ClickHouse (decoding, the events and " +
			"typed tables, materialized views, offsets committed after each insert); ceiling: raw clickhouse-go " +
			"columnar batch inserts of the same rows into an identical database",
		Run: func(ctx context.Context, env bench.Env) (float64, float64, int, error) {
			return analytics.Bench(ctx, analytics.BenchEnv{ClickHouseAddr: env.ClickHouseAddr,
				KafkaBrokers: env.KafkaBrokers, Events: env.N(200_000), Log: env.Log})
		},
	})
}

// loadAnalyticsEnv reads the analytics settings:
//
//	ORDO_CLICKHOUSE_DATABASE        database of the analytics tables (default ordo)
//	ORDO_ANALYTICS_FLUSH_ROWS       events per ClickHouse insert at most (default 50000)
//	ORDO_ANALYTICS_FLUSH_INTERVAL   longest wait before buffered events are inserted (default 3s)
//	ORDO_ANALYTICS_MAX_POLL_RECORDS records per Kafka poll (default 10000)
//	ORDO_ANALYTICS_INSTANCE_ID      static consumer-group member id (a StatefulSet pod name)
func loadAnalyticsEnv(errs *[]error, e *env) {
	c := analytics.DefaultConfig()
	c.Addr = e.ClickHouseAddr
	c.Database = getenv("ORDO_CLICKHOUSE_DATABASE", c.Database)
	c.FlushRows = int(getInt(errs, "ORDO_ANALYTICS_FLUSH_ROWS", int64(c.FlushRows)))
	c.FlushInterval = getDuration(errs, "ORDO_ANALYTICS_FLUSH_INTERVAL", c.FlushInterval)
	c.MaxPollRecords = int(getInt(errs, "ORDO_ANALYTICS_MAX_POLL_RECORDS", int64(c.MaxPollRecords)))
	c.InstanceID = getenv("ORDO_ANALYTICS_INSTANCE_ID", "")
	*errs = append(*errs, c.Validate())
	e.Analytics = c
}

// lazyClickHouse is the process's ClickHouse connection pool, opened on first use (only
// the analytics role, the replay and the sales query need it).
type lazyClickHouse struct {
	once sync.Once
	conn driver.Conn
	err  error
}

// clickhouse returns the connection to the analytics database.
func (d *deps) clickhouse() (driver.Conn, error) {
	d.ch.once.Do(func() { d.ch.conn, d.ch.err = analytics.Open(d.env.Analytics.Addr, d.env.Analytics.Database) })
	return d.ch.conn, d.ch.err
}

func (c *lazyClickHouse) close() {
	c.once.Do(func() {}) // no open after close
	if c.conn != nil {
		_ = c.conn.Close()
	}
}

// replayAnalytics is `ordo replay --target analytics`.
func replayAnalytics(cmd *cobra.Command, d *deps) error {
	conn, err := d.clickhouse()
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "analytics: re-ingesting the event store into ClickHouse database %s (rows already there collapse with their duplicates)\n", d.env.Analytics.Database)
	p, err := analytics.Replay(cmd.Context(), d.store, analytics.NewWriter(conn),
		analytics.ReplayOptions{FlushRows: d.env.Analytics.FlushRows, ProgressEvery: time.Second}, d.log,
		func(p analytics.ReplayProgress) { fmt.Fprintf(out, "analytics: %s\n", p) })
	if err != nil {
		return fmt.Errorf("analytics replay stopped at position %d: %w (run it again: replaying twice is harmless)", p.Position, err)
	}
	return nil
}
