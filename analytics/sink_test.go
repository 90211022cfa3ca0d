package analytics_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/analytics"
	"github.com/ordo-platform/ordo/analytics/internal/workload"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/eventstore/record"
	"github.com/ordo-platform/ordo/eventstore/relay"
	"github.com/ordo-platform/ordo/internal/consumer"
	"github.com/ordo-platform/ordo/internal/lifecycle"
	"github.com/ordo-platform/ordo/internal/testenv"
	"github.com/ordo-platform/ordo/internal/topic"
)

// pipeline is the real path of an event: a Postgres event store of the test's own, the
// relay, Kafka topics of the test's own, the sink, and a ClickHouse database of its own.
type pipeline struct {
	pgURL string // the store's schema (search_path) for child processes
	store *postgres.Store
	names topic.Names
	db    string
	conn  driver.Conn
}

func newPipeline(t testing.TB) *pipeline {
	t.Helper()
	pool := testenv.PostgresSchema(t, postgres.Migrations())
	store, err := postgres.New(context.Background(), pool)
	require.NoError(t, err)
	t.Cleanup(store.Close)
	db, conn := testDatabase(t)
	return &pipeline{pgURL: pool.Config().ConnString(), store: store, names: testenv.KafkaTopics(t), db: db, conn: conn}
}

// run starts a role in the background; the returned func stops it (also at cleanup).
func run(t testing.TB, r lifecycle.Role) func() {
	t.Helper()
	var wg sync.WaitGroup
	wg.Go(func() { require.NoError(t, r.Start(context.Background())) })
	var once sync.Once
	stop := func() { once.Do(func() { r.Stop(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

func (p *pipeline) relay(t *testing.T) func() {
	cfg := relay.DefaultConfig()
	cfg.Topics = p.names
	cfg.PollInterval = 50 * time.Millisecond
	cfg.StandbyRetry = 100 * time.Millisecond
	return run(t, relay.New(cfg, p.store, p.store.Pool(), testenv.KafkaClient(t), quiet))
}

func (p *pipeline) sinkConfig() analytics.Config {
	cfg := analytics.DefaultConfig()
	cfg.Addr = testenv.ClickHouseAddr()
	cfg.Database = p.db
	cfg.FlushRows = 5000
	cfg.FlushInterval = 200 * time.Millisecond
	return cfg
}

func newKafkaClient(opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(testenv.KafkaBrokers()...)}, opts...)...)
}

func (p *pipeline) sink(t testing.TB) func() {
	return run(t, analytics.NewSink(p.sinkConfig(), p.conn, p.names, newKafkaClient, quiet))
}

// waitIngested waits until every table holds exactly the rows o expects (as distinct
// identities: duplicates do not count).
func waitIngested(t *testing.T, conn driver.Conn, o *oracle, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for q, want := range o.typedCounts() {
		for {
			got := count(t, conn, q)
			if got == want {
				break
			}
			require.LessOrEqual(t, got, want, "%s: more rows than events", q)
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d rows after %s", q, got, want, timeout)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// The guide's queries, through the real path (store, relay, Kafka, sink), agree with the
// Postgres store; a full replay from the store (every row written again) changes none of
// their answers.
func TestGuideQueriesMatchTheEventStore(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	g := workload.New(7, time.Now().Add(-50*time.Hour))
	appends := append(g.Setup(30, 200), g.Orders(1200)...)
	require.NoError(t, workload.Load(context.Background(), p.store, appends, 8))
	p.relay(t)
	stopSink := p.sink(t)

	o := newOracle(t, readStore(t, p.store, workload.Count(appends)))
	waitIngested(t, p.conn, o, 2*time.Minute)
	stopSink()
	first := checkGuide(t, p.conn, o)

	// Replay: the whole store again, straight from Postgres. Merges are stopped so that the
	// duplicates stay physically present while the guide is checked again.
	for _, table := range []string{"events", "order_events", "order_items", "payment_events", "inventory_movements"} {
		require.NoError(t, p.conn.Exec(context.Background(), "SYSTEM STOP MERGES "+table))
	}
	var reports []analytics.ReplayProgress
	res, err := analytics.Replay(context.Background(), p.store, analytics.NewWriter(p.conn),
		analytics.ReplayOptions{ReadBatch: 1000, FlushRows: 3000, ProgressEvery: time.Nanosecond}, quiet,
		func(r analytics.ReplayProgress) { reports = append(reports, r) })
	require.NoError(t, err)
	require.EqualValues(t, len(o.events), res.Events)
	require.True(t, res.Done)
	require.Greater(t, len(reports), 2, "progress is reported as it goes")
	require.GreaterOrEqual(t, count(t, p.conn, "SELECT count() FROM events"), 2*uint64(len(o.events)))
	require.Equal(t, first, checkGuide(t, p.conn, o), "a replay changed what analysts see")
}

func TestDefaultGroupIsTheConstant(t *testing.T) {
	t.Parallel()
	require.Equal(t, analytics.Group, analytics.GroupFor(topic.Default))
}

// A record that is not an Ordo event, or whose payload does not decode, goes to the
// dead-letter topic with the reason; the sink goes on with the records after it.
func TestSinkDeadLettersUndecodableRecordsAndGoesOn(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	events := shop(t, 3, 10, 5, 20)
	orders, err := p.names.ForStreamType("order")
	require.NoError(t, err)

	var recs []*kgo.Record
	recs = append(recs, &kgo.Record{Topic: orders, Key: []byte("order-x"), Value: []byte("not an event")})
	bad, err := record.FromEvent(events[len(events)-1], p.names)
	require.NoError(t, err)
	bad.Value = []byte{0xff, 0xff, 0xff} // a valid envelope, a payload that does not decode
	bad.Topic = orders
	recs = append(recs, bad)
	for _, e := range events[:len(events)-1] {
		r, err := record.FromEvent(e, p.names)
		require.NoError(t, err)
		recs = append(recs, r)
	}
	cl := testenv.KafkaClient(t)
	require.NoError(t, cl.ProduceSync(context.Background(), recs...).FirstErr())
	p.sink(t)

	o := newOracle(t, events[:len(events)-1])
	waitIngested(t, p.conn, o, time.Minute)
	dlq := testenv.ConsumeN(t, []string{p.names.DeadLetter()}, 2, 30*time.Second)
	require.Len(t, dlq, 2)
	for _, r := range dlq {
		var reason, group string
		for _, h := range r.Headers {
			switch h.Key {
			case consumer.HeaderDLQReason:
				reason = string(h.Value)
			case consumer.HeaderDLQGroup:
				group = string(h.Value)
			}
		}
		require.NotEmpty(t, reason)
		require.Equal(t, analytics.GroupFor(p.names), group)
	}
}

// A clean stop flushes what is buffered and records where it got to in ClickHouse
// (ingest_offsets); the next sink resumes exactly there: nothing is inserted twice.
func TestCleanRestartResumesFromClickHouse(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	require.NoError(t, p.conn.Exec(context.Background(), "SYSTEM STOP MERGES events"))
	events := shop(t, 9, 10, 20, 150)
	produce := func(from, to int) {
		var recs []*kgo.Record
		for _, e := range events[from:to] {
			r, err := record.FromEvent(e, p.names)
			require.NoError(t, err)
			recs = append(recs, r)
		}
		require.NoError(t, testenv.KafkaClient(t).ProduceSync(context.Background(), recs...).FirstErr())
	}
	half := len(events) / 2
	produce(0, half)
	first := analytics.NewSink(p.sinkConfig(), p.conn, p.names, newKafkaClient, quiet)
	stop := run(t, first)
	waitIngested(t, p.conn, newOracle(t, events[:half]), time.Minute)
	stop()
	// What the sink says it recorded (ordo bench stops its clock on it) is what
	// ingest_offsets holds: the next offset of every partition, summed.
	require.EqualValues(t, half, count(t, p.conn,
		"SELECT toUInt64(sum(o)) FROM (SELECT max(next_offset) AS o FROM ingest_offsets GROUP BY topic, partition)"))
	require.EqualValues(t, half, first.Recorded())

	produce(half, len(events))
	p.sink(t)
	waitIngested(t, p.conn, newOracle(t, events), time.Minute)
	time.Sleep(500 * time.Millisecond) // a redelivery, if there were one, would land now
	require.EqualValues(t, len(events), count(t, p.conn, "SELECT count() FROM events"), "rows inserted twice after a clean restart")
}
