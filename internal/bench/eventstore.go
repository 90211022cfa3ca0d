package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/eventstore/record"
	"github.com/ordo-platform/ordo/eventstore/relay"
	"github.com/ordo-platform/ordo/internal/kafka"
	"github.com/ordo-platform/ordo/internal/stopwatch"
	"github.com/ordo-platform/ordo/internal/topic"
	"github.com/ordo-platform/ordo/schemas"
)

func init() {
	Register(Scenario{
		Name: "append", Unit: "events/s",
		Doc: "16 writers, one event per append with an exact expected version, through eventstore.Append; " +
			"ceiling: raw pgx INSERT of the same row, one transaction each, into an identical table " +
			"(LIKE events INCLUDING ALL; positions from a sequence)",
		Run: runAppend,
	})
	Register(Scenario{
		Name: "append-batch", Unit: "events/s",
		Doc: "4 writers appending 100 events per call to new streams through eventstore.Append; " +
			"ceiling: raw pgx CopyFrom of the same 100 rows per call into an identical table",
		Run: runAppendBatch,
	})
	Register(Scenario{
		Name: "relay", Unit: "events/s",
		Doc: "the relay publishing a backlog from the event store to Kafka and checkpointing it, with the " +
			"production client (internal/kafka) and tracing set up as `ordo relay` does; ceiling: raw franz-go " +
			"producing the same records (same keys, values, headers, producer options) from memory and flushing",
		Run: runRelay,
	})
}

// rounds is how many times each scenario alternates between ours and the ceiling.
const rounds = 4

// rawTable is the ceiling's table: the events table's exact definition (columns,
// defaults, CHECK constraints, primary key, unique keys and the correlation index; LIKE
// leaves out only the append-only triggers, which fire on UPDATE, DELETE and TRUNCATE,
// never on INSERT). Its positions come from a sequence, which is what a raw insert would
// use: a sequence is not gap-safe (a reader following it can skip a late commit), so it
// is the cheapest ordering a raw insert can have. Measured on this machine, a sequence
// and the store's expression (transaction id << 16) cost the same per insert.
const rawTable = `CREATE TABLE raw_events (LIKE events INCLUDING ALL);
CREATE SEQUENCE raw_events_position OWNED BY raw_events.position;
ALTER TABLE raw_events ALTER position SET DEFAULT nextval('raw_events_position')`

// eventGen makes realistic events: an encoded order.placed with three lines, each event
// with its own id, correlation id (a UUIDv7, as app.Execute makes them), causation id,
// actor and W3C traceparent (sampled, as the API's request spans are).
type eventGen struct {
	proto eventstore.NewEvent
}

func newEventGen() (*eventGen, error) {
	id := domain.ID(uuid.New())
	items := []order.Item{}
	for i := 0; i < 3; i++ {
		items = append(items, order.Item{ProductID: domain.ID(uuid.New()), SKU: fmt.Sprintf("SKU-%d", i), Name: "A product name", UnitPriceCents: 1999, Quantity: 2, LineTotalCents: 3998})
	}
	enc, err := schemas.Default().Encode(order.Placed{OrderID: id, CustomerID: domain.ID(uuid.New()), Items: items,
		TotalCents: 3 * 3998, Currency: "EUR", PaymentToken: "tok_visa", PlacedAt: time.Now().UTC().Truncate(time.Microsecond)})
	if err != nil {
		return nil, err
	}
	return &eventGen{proto: eventstore.NewEvent{Type: enc.Type, SchemaVersion: enc.Version,
		SchemaFingerprint: enc.Fingerprint, Payload: enc.Payload, OccurredAt: time.Now().UTC()}}, nil
}

func (g *eventGen) next() eventstore.NewEvent {
	e := g.proto
	e.ID = eventstore.NewID()
	var tr [24]byte
	_, _ = rand.Read(tr[:])
	corr := eventstore.NewID()
	e.Metadata = eventstore.Metadata{CorrelationID: corr, CausationID: corr, Actor: "user:" + corr.String(),
		TraceParent: "00-" + hex.EncodeToString(tr[:16]) + "-" + hex.EncodeToString(tr[16:]) + "-01"}
	return e
}

// SampleEvents returns a generator of the events the append scenarios write (for the
// peer benchmarks of the bench/ module, which write the same events).
func SampleEvents() (func() eventstore.NewEvent, error) {
	g, err := newEventGen()
	if err != nil {
		return nil, err
	}
	return g.next, nil
}

func (g *eventGen) batch(n int) []eventstore.NewEvent {
	b := make([]eventstore.NewEvent, n)
	for i := range b {
		b[i] = g.next()
	}
	return b
}

func storeAndRaw(ctx context.Context, env Env) (*postgres.Store, *pgxpool.Pool, func(), error) {
	pool, drop, err := ScratchSchema(ctx, env, postgres.Migrations())
	if err != nil {
		return nil, nil, nil, err
	}
	if _, err := pool.Exec(ctx, rawTable); err != nil {
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

// TimedParallel is Parallel timed as a measured section of the side of ctx: it returns
// the section's wall time (see stopwatch).
func TimedParallel(ctx context.Context, workers, n int, fn func(w, i int) error) (time.Duration, error) {
	sw := stopwatch.Start(ctx)
	err := Parallel(workers, n, fn)
	return sw.Stop(), err
}

// Parallel runs fn(worker, i) for i in [0, n) split over workers and returns the first
// error.
func Parallel(workers, n int, fn func(w, i int) error) error {
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
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
	return first
}

const rawInsert = `INSERT INTO raw_events (id, stream_id, stream_type, version, type, schema_version, schema_fingerprint,
	occurred_at, correlation_id, causation_id, actor, traceparent, payload)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`

var rawColumns = []string{"id", "stream_id", "stream_type", "version", "type", "schema_version", "schema_fingerprint",
	"occurred_at", "correlation_id", "causation_id", "actor", "traceparent", "payload"}

// rawRow is an event as the ceiling writes it, with the types pgx encodes fastest (UUIDs
// as pgtype.UUID: a uuid.UUID goes through its driver.Valuer text form), so that the
// ceiling is the raw library at its best.
func rawRow(stream eventstore.Stream, version int64, e eventstore.NewEvent) []any {
	return []any{pgUUID(e.ID), stream.ID, stream.Type, version, e.Type, int32(e.SchemaVersion), e.SchemaFingerprint,
		e.OccurredAt, pgUUID(e.Metadata.CorrelationID), pgUUID(e.Metadata.CausationID), e.Metadata.Actor,
		e.Metadata.TraceParent, e.Payload}
}

func pgUUID(u uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: u, Valid: u != uuid.Nil} }

func runAppend(ctx context.Context, env Env) (float64, float64, int, error) {
	s, pool, cleanup, err := storeAndRaw(ctx, env)
	if err != nil {
		return 0, 0, 0, err
	}
	defer cleanup()
	gen, err := newEventGen()
	if err != nil {
		return 0, 0, 0, err
	}
	const workers = 16
	perRound := env.N(20000) / rounds
	// Each writer appends to a stream of its own, at the version it knows.
	newStreams := func() ([]eventstore.Stream, []int64) {
		st := make([]eventstore.Stream, workers)
		for w := range st {
			st[w] = eventstore.Stream{Type: "order", ID: "order-" + uuid.NewString()}
		}
		return st, make([]int64, workers)
	}
	ourStreams, ourVersions := newStreams()
	rawStreams, rawVersions := newStreams()
	ours := func(ctx context.Context, _ int) (int, time.Duration, error) {
		d, err := TimedParallel(ctx, workers, perRound, func(w, _ int) error {
			_, err := s.Append(ctx, ourStreams[w], eventstore.Exact(ourVersions[w]), gen.next())
			ourVersions[w]++
			return err
		})
		return perRound, d, err
	}
	ceiling := func(ctx context.Context, _ int) (int, time.Duration, error) {
		d, err := TimedParallel(ctx, workers, perRound, func(w, _ int) error {
			rawVersions[w]++
			_, err := pool.Exec(ctx, rawInsert, rawRow(rawStreams[w], rawVersions[w], gen.next())...)
			return err
		})
		return perRound, d, err
	}
	return Alternate(ctx, rounds, ours, ceiling)
}

func runAppendBatch(ctx context.Context, env Env) (float64, float64, int, error) {
	s, pool, cleanup, err := storeAndRaw(ctx, env)
	if err != nil {
		return 0, 0, 0, err
	}
	defer cleanup()
	gen, err := newEventGen()
	if err != nil {
		return 0, 0, 0, err
	}
	const workers, size = 4, 100
	batches := max(1, env.N(100000)/size/rounds)
	ours := func(ctx context.Context, _ int) (int, time.Duration, error) {
		d, err := TimedParallel(ctx, workers, batches, func(_, _ int) error {
			b := gen.batch(size)
			_, err := s.Append(ctx, eventstore.Stream{Type: "order", ID: "order-" + uuid.NewString()}, eventstore.NoStream, b...)
			return err
		})
		return batches * size, d, err
	}
	ceiling := func(ctx context.Context, _ int) (int, time.Duration, error) {
		d, err := TimedParallel(ctx, workers, batches, func(_, _ int) error {
			stream := eventstore.Stream{Type: "order", ID: "order-" + uuid.NewString()}
			b := gen.batch(size)
			rows := make([][]any, size)
			for i, e := range b {
				rows[i] = rawRow(stream, int64(i+1), e)
			}
			_, err := pool.CopyFrom(ctx, pgx.Identifier{"raw_events"}, rawColumns, pgx.CopyFromRows(rows))
			return err
		})
		return batches * size, d, err
	}
	return Alternate(ctx, rounds, ours, ceiling)
}

// seedBacklog appends n events (100 per stream) and returns them as stored, in position
// order, once all are visible.
func seedBacklog(ctx context.Context, s *postgres.Store, gen *eventGen, after int64, n int) ([]eventstore.Event, error) {
	const size = 100
	err := Parallel(4, (n+size-1)/size, func(_, i int) error {
		k := min(size, n-i*size)
		_, err := s.Append(ctx, eventstore.Stream{Type: "order", ID: "order-" + uuid.NewString()}, eventstore.NoStream, gen.batch(k)...)
		return err
	})
	if err != nil {
		return nil, err
	}
	stored := make([]eventstore.Event, 0, n)
	deadline := time.Now().Add(time.Minute)
	for len(stored) < n {
		page, err := s.ReadAll(ctx, after, 5000)
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("seeded events not visible after a minute (a transaction left open?)")
			}
			time.Sleep(5 * time.Millisecond) // older transactions elsewhere still open
			continue
		}
		stored = append(stored, page...)
		after = page[len(page)-1].Position
	}
	return stored, nil
}

func runRelay(ctx context.Context, env Env) (float64, float64, int, error) {
	s, _, cleanup, err := storeAndRaw(ctx, env)
	if err != nil {
		return 0, 0, 0, err
	}
	defer cleanup()
	gen, err := newEventGen()
	if err != nil {
		return 0, 0, 0, err
	}
	perRound := env.N(200000) / rounds

	names := topic.Names{Prefix: RandomName("bench")}
	admin, err := kgo.NewClient(kgo.SeedBrokers(env.KafkaBrokers...))
	if err != nil {
		return 0, 0, 0, err
	}
	defer admin.Close()
	adm := kadm.NewClient(admin)
	if _, err := topic.Ensure(ctx, adm, names, topic.DefaultConfig()); err != nil {
		return 0, 0, 0, err
	}
	defer func() { _, _ = adm.DeleteTopics(context.Background(), append(names.Events(), names.DeadLetter())...) }()

	// Ours: the client `ordo relay` makes (its producer options, metrics and tracing hooks).
	factory := &kafka.Factory{Brokers: env.KafkaBrokers, Registerer: prometheus.NewRegistry(), Tracing: env.Tracing}
	prod, err := factory.New("relay")
	if err != nil {
		return 0, 0, 0, err
	}
	defer prod.Close()
	// The ceiling: franz-go with the same producer options and nothing else.
	raw, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(env.KafkaBrokers...)}, kafka.ProducerOptions()...)...)
	if err != nil {
		return 0, 0, 0, err
	}
	defer raw.Close()

	cfg := relay.DefaultConfig()
	cfg.Topics = names
	var (
		head    int64
		backlog []eventstore.Event
	)
	// Each round appends a backlog (not timed); ours relays it from the checkpoint, the
	// ceiling produces the same records built in advance.
	prepare := func(ctx context.Context) error {
		if backlog != nil {
			return nil
		}
		var err error
		if backlog, err = seedBacklog(ctx, s, gen, head, perRound); err != nil {
			return err
		}
		head = backlog[len(backlog)-1].Position
		return nil
	}
	relayed, produced := -1, -1
	ours := func(ctx context.Context, round int) (int, time.Duration, error) {
		if err := prepare(ctx); err != nil {
			return 0, 0, err
		}
		r := relay.New(cfg, s, s.Pool(), prod, env.Log)
		rctx, stop := context.WithCancel(ctx)
		defer stop()
		done := make(chan error, 1)
		sw := stopwatch.Start(ctx)
		go func() { done <- r.Start(rctx) }()
		for r.Position() < head {
			select {
			case err := <-done:
				return 0, 0, fmt.Errorf("relay stopped: %w", err)
			case <-time.After(time.Millisecond):
			}
		}
		d := sw.Stop()
		stop()
		r.Stop()
		if err := <-done; err != nil {
			return 0, 0, fmt.Errorf("relay: %w", err)
		}
		relayed = round
		if produced == round {
			backlog = nil
		}
		return perRound, d, nil
	}
	ceiling := func(ctx context.Context, round int) (int, time.Duration, error) {
		if err := prepare(ctx); err != nil {
			return 0, 0, err
		}
		recs := make([]*kgo.Record, len(backlog))
		for i, ev := range backlog {
			var err error
			if recs[i], err = record.FromEvent(ev, names); err != nil {
				return 0, 0, err
			}
		}
		sw := stopwatch.Start(ctx)
		if err := raw.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return 0, 0, err
		}
		d := sw.Stop()
		produced = round
		if relayed == round {
			backlog = nil
		}
		return len(recs), d, nil
	}
	return Alternate(ctx, rounds, ours, ceiling)
}
