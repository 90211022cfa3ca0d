package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/eventstore/record"
	"github.com/ordo-platform/ordo/eventstore/relay"
	"github.com/ordo-platform/ordo/internal/topic"
	"github.com/ordo-platform/ordo/schemas"
)

func init() {
	Register(Scenario{
		Name: "append", Unit: "events/s",
		Doc: "16 writers, one event per append with an exact expected version, through eventstore.Append; " +
			"ceiling: raw pgx INSERT of the same row per transaction into a table with the same keys",
		Run: runAppend,
	})
	Register(Scenario{
		Name: "append-batch", Unit: "events/s",
		Doc: "4 writers appending 100 events per call through eventstore.Append; ceiling: raw pgx CopyFrom of 100 rows per call",
		Run: runAppendBatch,
	})
	Register(Scenario{
		Name: "relay", Unit: "events/s",
		Doc: "the relay publishing a backlog from the event store to Kafka and checkpointing it; " +
			"ceiling: raw franz-go producing the same records (same keys, values, headers) and flushing",
		Run: runRelay,
	})
}

const rawDDL = `CREATE TABLE raw_events (
    position bigserial PRIMARY KEY, id uuid NOT NULL UNIQUE, stream_id text NOT NULL, stream_type text NOT NULL,
    version bigint NOT NULL, type text NOT NULL, schema_version int NOT NULL, schema_fingerprint bytea NOT NULL,
    occurred_at timestamptz NOT NULL, recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    correlation_id uuid, causation_id uuid, actor text NOT NULL DEFAULT '', traceparent text NOT NULL DEFAULT '',
    payload bytea NOT NULL, UNIQUE (stream_id, version))`

// sampleEvent is a realistic event: an encoded order.placed with three lines.
func sampleEvent() (eventstore.NewEvent, error) {
	id := domain.ID(uuid.New())
	items := []order.Item{}
	for i := 0; i < 3; i++ {
		items = append(items, order.Item{ProductID: domain.ID(uuid.New()), SKU: fmt.Sprintf("SKU-%d", i), Name: "A product name", UnitPriceCents: 1999, Quantity: 2, LineTotalCents: 3998})
	}
	enc, err := schemas.Default().Encode(order.Placed{OrderID: id, CustomerID: domain.ID(uuid.New()), Items: items,
		TotalCents: 3 * 3998, Currency: "EUR", PaymentToken: "tok_visa", PlacedAt: time.Now().UTC().Truncate(time.Microsecond)})
	if err != nil {
		return eventstore.NewEvent{}, err
	}
	return eventstore.NewEvent{ID: eventstore.NewID(), Type: enc.Type, SchemaVersion: enc.Version,
		SchemaFingerprint: enc.Fingerprint, Payload: enc.Payload, OccurredAt: time.Now().UTC(),
		Metadata: eventstore.Metadata{CorrelationID: uuid.New(), Actor: "bench"}}, nil
}

func withID(e eventstore.NewEvent) eventstore.NewEvent {
	e.ID = eventstore.NewID()
	return e
}

func storeAndRaw(ctx context.Context, env Env) (*postgres.Store, *pgxpool.Pool, func(), error) {
	pool, drop, err := ScratchSchema(ctx, env, postgres.Migrations())
	if err != nil {
		return nil, nil, nil, err
	}
	if _, err := pool.Exec(ctx, rawDDL); err != nil {
		drop()
		return nil, nil, nil, err
	}
	s, err := postgres.New(ctx, pool)
	if err != nil {
		drop()
		return nil, nil, nil, err
	}
	return s, pool, func() { s.Close(); drop() }, nil
}

// parallel runs fn(worker, i) for i in [0, n) split over workers and returns the time.
func parallel(workers, n int, fn func(w, i int) error) (time.Duration, error) {
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if err := fn(w, i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), first
}

func runAppend(ctx context.Context, env Env) (float64, float64, int, error) {
	s, pool, cleanup, err := storeAndRaw(ctx, env)
	if err != nil {
		return 0, 0, 0, err
	}
	defer cleanup()
	e, err := sampleEvent()
	if err != nil {
		return 0, 0, 0, err
	}
	const workers = 16
	n := env.N(20000)
	streams := make([]eventstore.Stream, workers)
	versions := make([]int64, workers)
	for w := range streams {
		streams[w] = eventstore.Stream{Type: "order", ID: "order-" + uuid.NewString()}
	}
	ours, err := parallel(workers, n, func(w, _ int) error {
		_, err := s.Append(ctx, streams[w], eventstore.Exact(versions[w]), withID(e))
		versions[w]++
		return err
	})
	if err != nil {
		return 0, 0, 0, err
	}
	rawVersions := make([]int64, workers)
	ceiling, err := parallel(workers, n, func(w, _ int) error {
		rawVersions[w]++
		_, err := pool.Exec(ctx, `INSERT INTO raw_events (id, stream_id, stream_type, version, type, schema_version,
			schema_fingerprint, occurred_at, correlation_id, actor, payload) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
			eventstore.NewID(), streams[w].ID, "order", rawVersions[w], e.Type, e.SchemaVersion, e.SchemaFingerprint,
			e.OccurredAt, e.Metadata.CorrelationID, e.Metadata.Actor, e.Payload)
		return err
	})
	if err != nil {
		return 0, 0, 0, err
	}
	return Rate(n, ours), Rate(n, ceiling), n, nil
}

func runAppendBatch(ctx context.Context, env Env) (float64, float64, int, error) {
	s, pool, cleanup, err := storeAndRaw(ctx, env)
	if err != nil {
		return 0, 0, 0, err
	}
	defer cleanup()
	e, err := sampleEvent()
	if err != nil {
		return 0, 0, 0, err
	}
	const workers, size = 4, 100
	batches := env.N(100000) / size
	ours, err := parallel(workers, batches, func(_, _ int) error {
		b := make([]eventstore.NewEvent, size)
		for i := range b {
			b[i] = withID(e)
		}
		_, err := s.Append(ctx, eventstore.Stream{Type: "order", ID: "order-" + uuid.NewString()}, eventstore.NoStream, b...)
		return err
	})
	if err != nil {
		return 0, 0, 0, err
	}
	cols := []string{"id", "stream_id", "stream_type", "version", "type", "schema_version", "schema_fingerprint",
		"occurred_at", "correlation_id", "actor", "payload"}
	ceiling, err := parallel(workers, batches, func(_, _ int) error {
		stream := "order-" + uuid.NewString()
		rows := make([][]any, size)
		for i := range rows {
			rows[i] = []any{eventstore.NewID(), stream, "order", int64(i + 1), e.Type, int32(e.SchemaVersion),
				e.SchemaFingerprint, e.OccurredAt, e.Metadata.CorrelationID, e.Metadata.Actor, e.Payload}
		}
		_, err := pool.CopyFrom(ctx, pgx.Identifier{"raw_events"}, cols, pgx.CopyFromRows(rows))
		return err
	})
	if err != nil {
		return 0, 0, 0, err
	}
	n := batches * size
	return Rate(n, ours), Rate(n, ceiling), n, nil
}

func runRelay(ctx context.Context, env Env) (float64, float64, int, error) {
	s, _, cleanup, err := storeAndRaw(ctx, env)
	if err != nil {
		return 0, 0, 0, err
	}
	defer cleanup()
	e, err := sampleEvent()
	if err != nil {
		return 0, 0, 0, err
	}
	n := env.N(50000) / 100 * 100
	var stored []eventstore.Event
	for i := 0; i < n/100; i++ {
		b := make([]eventstore.NewEvent, 100)
		for j := range b {
			b[j] = withID(e)
		}
		if _, err := s.Append(ctx, eventstore.Stream{Type: "order", ID: "order-" + uuid.NewString()}, eventstore.NoStream, b...); err != nil {
			return 0, 0, 0, err
		}
	}
	for after := int64(0); len(stored) < n; {
		page, err := s.ReadAll(ctx, after, 5000)
		if err != nil {
			return 0, 0, 0, err
		}
		if len(page) == 0 {
			time.Sleep(5 * time.Millisecond) // older transactions elsewhere still open
			continue
		}
		stored = append(stored, page...)
		after = page[len(page)-1].Position
	}
	head := stored[len(stored)-1].Position

	names := topic.Names{Prefix: RandomName("bench")}
	cl, err := kgo.NewClient(kgo.SeedBrokers(env.KafkaBrokers...))
	if err != nil {
		return 0, 0, 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	tcfg := topic.DefaultConfig()
	if _, err := topic.Ensure(ctx, adm, names, tcfg); err != nil {
		return 0, 0, 0, err
	}
	defer func() { _, _ = adm.DeleteTopics(context.Background(), append(names.Events(), names.DeadLetter())...) }()

	// Ours: the relay from checkpoint 0 to the head.
	prod, err := kgo.NewClient(kgo.SeedBrokers(env.KafkaBrokers...), kgo.ProducerBatchCompression(kgo.Lz4Compression(), kgo.NoCompression()))
	if err != nil {
		return 0, 0, 0, err
	}
	defer prod.Close()
	cfg := relay.DefaultConfig()
	cfg.Topics = names
	cfg.PollInterval = 10 * time.Millisecond
	r := relay.New(cfg, s, s.Pool(), prod, env.Log)
	rctx, stop := context.WithCancel(ctx)
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- r.Start(rctx) }()
	for r.Position() < head {
		select {
		case err := <-done:
			stop()
			return 0, 0, 0, fmt.Errorf("relay stopped: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	ours := time.Since(start)
	stop()
	r.Stop()
	<-done

	// Ceiling: the same records straight from memory through raw franz-go.
	recs := make([]*kgo.Record, len(stored))
	for i, ev := range stored {
		if recs[i], err = record.FromEvent(ev, names); err != nil {
			return 0, 0, 0, err
		}
	}
	raw, err := kgo.NewClient(kgo.SeedBrokers(env.KafkaBrokers...), kgo.ProducerBatchCompression(kgo.Lz4Compression(), kgo.NoCompression()))
	if err != nil {
		return 0, 0, 0, err
	}
	defer raw.Close()
	start = time.Now()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		perr error
	)
	for _, rec := range recs {
		wg.Add(1)
		raw.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				perr = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	ceiling := time.Since(start)
	if perr != nil {
		return 0, 0, 0, perr
	}
	return Rate(n, ours), Rate(n, ceiling), n, nil
}
