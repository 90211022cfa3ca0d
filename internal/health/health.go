// Package health checks that Ordo's dependencies answer for real: Postgres a query,
// Kafka a Metadata request that lists a broker, ClickHouse a query over the native
// protocol. An open port is not readiness; these are.
package health

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/internal/lifecycle"
)

// Checker checks one dependency. Check returns nil when it is ready.
type Checker interface {
	Name() string
	Check(ctx context.Context) error
}

// CheckFunc adapts a named function to a Checker.
type CheckFunc struct {
	N string
	F func(ctx context.Context) error
}

// Name returns the dependency's name.
func (c CheckFunc) Name() string { return c.N }

// Check runs the function.
func (c CheckFunc) Check(ctx context.Context) error { return c.F(ctx) }

// Postgres checks a Postgres URL with a fresh connection and SELECT 1.
func Postgres(url string) Checker {
	return CheckFunc{N: "postgres", F: func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		var one int
		return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
	}}
}

// Kafka checks that a broker of the seed brokers answers a Metadata request.
func Kafka(brokers []string) Checker {
	return CheckFunc{N: "kafka", F: func(ctx context.Context) error {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RetryTimeout(0), kgo.RequestRetries(0))
		if err != nil {
			return err
		}
		defer cl.Close()
		return KafkaClient(cl).Check(ctx)
	}}
}

// KafkaClient checks readiness through an existing client, so a long-running process
// does not dial a new connection on every probe.
func KafkaClient(cl *kgo.Client) Checker {
	// Ping sends a broker-only Metadata request to a broker and waits for its answer. A
	// metadata request through kadm may be answered from the client's metadata cache, so
	// a process whose brokers were all down went on reporting Kafka ready.
	return CheckFunc{N: "kafka", F: func(ctx context.Context) error { return cl.Ping(ctx) }}
}

// ClickHouse checks a ClickHouse native address with SELECT 1.
func ClickHouse(addr string) Checker {
	return CheckFunc{N: "clickhouse", F: func(ctx context.Context) error {
		conn, err := clickhouse.Open(&clickhouse.Options{
			Addr:        []string{addr},
			DialTimeout: 2 * time.Second,
		})
		if err != nil {
			return err
		}
		defer conn.Close()
		var one uint8
		return conn.QueryRow(ctx, "SELECT toUInt8(1)").Scan(&one)
	}}
}

// Result is the outcome of one check.
type Result struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Error says why the dependency is not ready; empty when it is.
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"-"`
}

var metricUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Namespace: "ordo", Name: "dependency_up",
	Help: "1 when the dependency answered its last readiness check, 0 when not.",
}, []string{"dependency"})

// Collectors are the package's Prometheus metrics.
func Collectors() []prometheus.Collector { return []prometheus.Collector{metricUp} }

// CheckAll runs every checker concurrently, each bounded by timeout, and returns the
// results in the order given.
func CheckAll(ctx context.Context, timeout time.Duration, checkers ...Checker) []Result {
	results := make([]Result, len(checkers))
	var wg sync.WaitGroup
	for i, c := range checkers {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			start := time.Now()
			err := c.Check(cctx)
			results[i] = Result{Name: c.Name(), OK: err == nil, Duration: time.Since(start)}
			up := 1.0
			if err != nil {
				results[i].Error = err.Error()
				up = 0
			}
			metricUp.WithLabelValues(c.Name()).Set(up)
		})
	}
	wg.Wait()
	return results
}

// Monitor checks the dependencies every Interval so that ordo_dependency_up stays
// current in processes nobody probes (the workers).
type Monitor struct {
	lifecycle.Stopper
	Interval time.Duration
	Checks   []Checker
}

// Name implements lifecycle.Role.
func (m *Monitor) Name() string { return "health-monitor" }

// Start checks until stopped.
func (m *Monitor) Start(ctx context.Context) error {
	ctx, done := m.Begin(ctx)
	defer done()
	interval := m.Interval
	if interval <= 0 {
		interval = 15 * time.Second
	}
	for {
		CheckAll(ctx, 5*time.Second, m.Checks...)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// Wait retries c until it succeeds or wait has passed, and returns the last error.
func Wait(ctx context.Context, c Checker, wait, each time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		cctx, ccancel := context.WithTimeout(ctx, each)
		err := c.Check(cctx)
		ccancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %w", c.Name(), wait, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
