package analytics

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/analytics/internal/workload"
	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/record"
	"github.com/ordo-platform/ordo/internal/stopwatch"
	"github.com/ordo-platform/ordo/internal/topic"
	"github.com/ordo-platform/ordo/schemas"
)

// BenchEnv is what Bench needs: the real ClickHouse and Kafka.
type BenchEnv struct {
	ClickHouseAddr string
	KafkaBrokers   []string
	// Events is how many events to ingest.
	Events int
	Log    *slog.Logger
}

// Bench measures the sink end to end against the raw driver, on a realistic generated
// shop workload (about 10 events per order).
//
// Ours: the events are first produced to scratch topics (6 partitions each, not timed);
// then the sink runs as `ordo analytics` does (consumer group, decoding of the envelope
// and of the Avro payload to JSON and to domain events, buffering, one INSERT per table
// per flush of up to 50000 events, offsets committed after ClickHouse acknowledged), and
// the clock runs from its joining the group to ClickHouse holding every event.
//
// Ceiling: the very same rows, built beforehand, inserted with clickhouse-go's columnar
// batch API into an identical database (same tables, same materialized views), 50000
// events per insert, the tables of an insert in parallel as the sink does; once before
// ours and once after (each into a database of its own), and the rate is over both.
//
// It returns events per second of each and the number of events.
func Bench(ctx context.Context, env BenchEnv) (ours, ceiling float64, n int, err error) {
	const flush = 50_000
	g := workload.New(1, time.Now().Add(-30*24*time.Hour))
	appends := g.Setup(200, 2000)
	for workload.Count(appends) < env.Events {
		appends = append(appends, g.Orders(1000)...)
	}
	stored, err := workload.Stored(appends, schemas.Default())
	if err != nil {
		return 0, 0, 0, err
	}
	stored = stored[:env.Events]
	// Recorded now, as a live store would have them: the recorded-at time is the Kafka
	// record's timestamp, and the broker deletes records older than the topic's retention
	// and refuses ones from the future.
	now := time.Now()
	for i := range stored {
		stored[i].RecordedAt = now
	}

	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	scratch := "bench_" + hex.EncodeToString(suffix[:])
	dbOurs, dbRaw, dbRawAfter := scratch+"_ours", scratch+"_raw", scratch+"_raw_after"
	names := topic.Names{Prefix: "bench-" + hex.EncodeToString(suffix[:])}
	kcl, err := kgo.NewClient(kgo.SeedBrokers(env.KafkaBrokers...), kgo.ProducerBatchMaxBytes(8<<20))
	if err != nil {
		return 0, 0, 0, err
	}
	defer kcl.Close()
	adm := kadm.NewClient(kcl)
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopics(cctx, append(names.Events(), names.DeadLetter())...)
		if admin, err := Open(env.ClickHouseAddr, "default"); err == nil {
			_ = admin.Exec(cctx, "DROP DATABASE IF EXISTS "+dbOurs)
			_ = admin.Exec(cctx, "DROP DATABASE IF EXISTS "+dbRaw)
			_ = admin.Exec(cctx, "DROP DATABASE IF EXISTS "+dbRawAfter)
			_ = admin.Close()
		}
	}()
	for _, db := range []string{dbOurs, dbRaw, dbRawAfter} {
		if _, err := Migrate(ctx, env.ClickHouseAddr, db, env.Log); err != nil {
			return 0, 0, 0, err
		}
	}
	tcfg := topic.DefaultConfig()
	if _, err := topic.Ensure(ctx, adm, names, tcfg); err != nil {
		return 0, 0, 0, err
	}
	records := make([]*kgo.Record, len(stored))
	for i, e := range stored {
		if records[i], err = record.FromEvent(e, names); err != nil {
			return 0, 0, 0, err
		}
	}
	if err := kcl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		return 0, 0, 0, fmt.Errorf("bench: produce: %w", err)
	}

	// The ceiling runs once before ours and once after (each into a fresh identical
	// database), so that a change of load on a shared machine falls on both sides alike.
	before, err := benchRaw(stopwatch.ForSide(ctx, "ceiling"), env.ClickHouseAddr, dbRaw, stored, flush)
	if err != nil {
		return 0, 0, 0, err
	}

	conn, err := Open(env.ClickHouseAddr, dbOurs)
	if err != nil {
		return 0, 0, 0, err
	}
	defer conn.Close()
	cfg := DefaultConfig()
	cfg.Addr, cfg.Database, cfg.FlushRows = env.ClickHouseAddr, dbOurs, flush
	sink := NewSink(cfg, conn, names, func(opts ...kgo.Opt) (*kgo.Client, error) {
		return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(env.KafkaBrokers...)}, opts...)...)
	}, env.Log)
	errc := make(chan error, 1)
	go pprof.Do(ctx, pprof.Labels("side", "ours"), func(ctx context.Context) { errc <- sink.Start(ctx) })
	defer func() {
		sink.Stop()
		if serr := <-errc; serr != nil && err == nil {
			err = serr
		}
	}()
	deadline := time.Now().Add(5 * time.Minute)
	for len(sink.Assigned()) == 0 {
		if time.Now().After(deadline) {
			return 0, 0, 0, errors.New("bench: the sink never joined its group")
		}
		time.Sleep(time.Millisecond)
	}
	// The clock stops when the sink has recorded the offsets of every record: each table
	// of the last insert acknowledged (the ceiling's clock too waits for every table). The
	// sink says so itself (Recorded); asking ClickHouse instead, every 10 ms, cost it
	// about 2 ms of CPU per query, some 0.4 s while ours was timed (about a tenth of
	// ours' CPU) that the ceiling did not pay. ClickHouse is asked once, afterwards.
	octx := stopwatch.ForSide(ctx, "ours")
	sw := stopwatch.Start(octx)
	for sink.Recorded() < int64(len(records)) {
		if time.Now().After(deadline) {
			return 0, 0, 0, fmt.Errorf("bench: the sink took %d of %d records in 5 minutes", sink.Recorded(), len(records))
		}
		time.Sleep(time.Millisecond)
	}
	ours = float64(len(stored)) / sw.Stop().Seconds()
	var done int64
	if err := conn.QueryRow(ctx, `SELECT toInt64(sum(o)) FROM (SELECT max(next_offset) AS o FROM ingest_offsets
		WHERE consumer_group = ? GROUP BY topic, partition)`, GroupFor(names)).Scan(&done); err != nil {
		return 0, 0, 0, err
	}
	if done != int64(len(records)) {
		return 0, 0, 0, fmt.Errorf("bench: the sink says it recorded %d records, ingest_offsets holds %d of %d", sink.Recorded(), done, len(records))
	}
	stopwatch.AddWork(octx, len(stored))
	after, err := benchRaw(stopwatch.ForSide(ctx, "ceiling"), env.ClickHouseAddr, dbRawAfter, stored, flush)
	if err != nil {
		return 0, 0, 0, err
	}
	// Both rounds insert the same events: the rate over both is the harmonic mean.
	ceiling = 2 / (1/before + 1/after)
	return ours, ceiling, len(stored), nil
}

// benchRaw inserts the rows of events into db with the bare driver and returns events/s.
func benchRaw(ctx context.Context, addr, db string, events []eventstore.Event, flush int) (float64, error) {
	codec := schemas.Default()
	var chunks []*rowSet
	for from := 0; from < len(events); from += flush {
		s := &rowSet{}
		for _, e := range events[from:min(from+flush, len(events))] {
			d, err := Decode(codec, e)
			if err != nil {
				return 0, err
			}
			s.add(d, time.Now().UTC())
		}
		chunks = append(chunks, s)
	}
	conn, err := Open(addr, db)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels("side", "ceiling")))
	defer pprof.SetGoroutineLabels(ctx)
	sw := stopwatch.Start(ctx)
	for _, s := range chunks {
		errs := make([]error, len(s.tables()))
		var wg sync.WaitGroup
		for i, t := range s.tables() {
			wg.Go(func() { errs[i] = rawInsert(ctx, conn, t) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return 0, err
		}
	}
	d := sw.Stop()
	stopwatch.AddWork(ctx, len(events))
	return float64(len(events)) / d.Seconds(), nil
}

// rawInsert is what a user of clickhouse-go writes: prepare, append each column, send.
func rawInsert(ctx context.Context, conn driver.Conn, t table) error {
	if t.len() == 0 {
		return nil
	}
	batch, err := conn.PrepareBatch(ctx, insertSQL(t))
	if err != nil {
		return err
	}
	for i, c := range t.columns() {
		if err := batch.Column(i).Append(c.data.values()); err != nil {
			return err
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("raw insert into %s: %w", t.name(), err)
	}
	return nil
}
