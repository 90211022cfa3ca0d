package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
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
	Register(Scenario{
		Name: "relay-raw", Unit: "events/s",
		Doc: "not Ordo: what any relay can reach on this machine. Raw pgx streaming the backlog's rows in one " +
			"query (no visible bound, pages, checkpoint or lock) and raw franz-go producing each row's columns " +
			"as they are (unformatted) and flushing; ceiling: as relay's",
		Run: runRelayRaw,
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

// relayBench is what the relay scenarios share: a store with a backlog that each round
// appends (not timed) and both sides then publish, the topics, and the ceiling: raw
// franz-go producing the backlog's records, built in advance, and flushing.
type relayBench struct {
	store   *postgres.Store
	pool    *pgxpool.Pool
	gen     *eventGen
	names   topic.Names
	raw     *kgo.Client
	n       int // events a round
	head    int64
	backlog []eventstore.Event
	used    [2]int // the round in which each side (ours, the ceiling) last published the backlog
	close   func()
}

func newRelayBench(ctx context.Context, env Env) (_ *relayBench, err error) {
	b := &relayBench{n: env.N(200000) / rounds, names: topic.Names{Prefix: RandomName("bench")}, used: [2]int{-1, -1}}
	var closers []func()
	b.close = func() {
		for _, c := range slices.Backward(closers) {
			c()
		}
	}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	var cleanup func()
	if b.store, b.pool, cleanup, err = storeAndRaw(ctx, env); err != nil {
		return nil, err
	}
	closers = append(closers, cleanup)
	if b.gen, err = newEventGen(); err != nil {
		return nil, err
	}
	admin, err := kgo.NewClient(kgo.SeedBrokers(env.KafkaBrokers...))
	if err != nil {
		return nil, err
	}
	closers = append(closers, admin.Close)
	adm := kadm.NewClient(admin)
	closers = append(closers, func() {
		_, _ = adm.DeleteTopics(context.Background(), append(b.names.Events(), b.names.DeadLetter())...)
	})
	if _, err := topic.Ensure(ctx, adm, b.names, topic.DefaultConfig()); err != nil {
		return nil, err
	}
	// The ceiling: franz-go with the producer options of Ordo's clients and nothing else.
	if b.raw, err = kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(env.KafkaBrokers...)}, kafka.ProducerOptions()...)...); err != nil {
		return nil, err
	}
	closers = append(closers, b.raw.Close)
	return b, nil
}

// prepare appends the round's backlog unless it is there.
func (b *relayBench) prepare(ctx context.Context) error {
	if b.backlog != nil {
		return nil
	}
	var err error
	if b.backlog, err = seedBacklog(ctx, b.store, b.gen, b.head, b.n); err != nil {
		return err
	}
	b.head = b.backlog[len(b.backlog)-1].Position
	return nil
}

// published records that side (0 ours, 1 the ceiling) published the backlog in round;
// once both have, the next round appends a new one.
func (b *relayBench) published(side, round int) {
	b.used[side] = round
	if b.used[0] == round && b.used[1] == round {
		b.backlog = nil
	}
}

// ceiling is the ceiling's round.
func (b *relayBench) ceiling(ctx context.Context, round int) (int, time.Duration, error) {
	if err := b.prepare(ctx); err != nil {
		return 0, 0, err
	}
	recs := make([]*kgo.Record, len(b.backlog))
	for i, ev := range b.backlog {
		var err error
		if recs[i], err = record.FromEvent(ev, b.names); err != nil {
			return 0, 0, err
		}
	}
	sw := stopwatch.Start(ctx)
	if err := b.raw.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return 0, 0, err
	}
	d := sw.Stop()
	b.published(1, round)
	return len(recs), d, nil
}

func runRelay(ctx context.Context, env Env) (float64, float64, int, error) {
	b, err := newRelayBench(ctx, env)
	if err != nil {
		return 0, 0, 0, err
	}
	defer b.close()
	// Ours: the client `ordo relay` makes (its producer options, metrics and tracing hooks).
	factory := &kafka.Factory{Brokers: env.KafkaBrokers, Registerer: prometheus.NewRegistry(), Tracing: env.Tracing}
	prod, err := factory.New("relay")
	if err != nil {
		return 0, 0, 0, err
	}
	defer prod.Close()
	cfg := relay.DefaultConfig()
	cfg.Topics = b.names
	// Each round appends a backlog (not timed); ours relays it from the checkpoint.
	ours := func(ctx context.Context, round int) (int, time.Duration, error) {
		if err := b.prepare(ctx); err != nil {
			return 0, 0, err
		}
		r := relay.New(cfg, b.store, b.pool, prod, env.Log)
		rctx, stop := context.WithCancel(ctx)
		defer stop()
		done := make(chan error, 1)
		sw := stopwatch.Start(ctx)
		go func() { done <- r.Start(rctx) }()
		for r.Position() < b.head {
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
		b.published(0, round)
		return b.n, d, nil
	}
	return Alternate(ctx, rounds, ours, b.ceiling)
}

// rawRelayHeaders are the header keys of the raw relay's records, one per column it
// reads besides the key's and the value's.
var rawRelayHeaders = []string{record.HeaderGlobalPosition, record.HeaderEventID, record.HeaderStreamType,
	record.HeaderStreamVersion, record.HeaderEventType, record.HeaderSchemaVersion, record.HeaderSchemaFingerprint,
	record.HeaderOccurredAt, record.HeaderRecordedAt, record.HeaderCorrelationID, record.HeaderCausationID,
	record.HeaderActor, record.HeaderTraceParent}

// runRelayRaw is not Ordo: it measures what any relay can reach on this machine. Its
// "ours" is the least work a relay does, with the raw libraries: one pgx query streaming
// the backlog's rows (no visible bound, no pages, no checkpoint, no leader lock), each
// row's columns copied as they arrive (binary, not formatted as Ordo's headers are) into
// a record handed to the same franz-go producer options, then a flush.
func runRelayRaw(ctx context.Context, env Env) (float64, float64, int, error) {
	b, err := newRelayBench(ctx, env)
	if err != nil {
		return 0, 0, 0, err
	}
	defer b.close()
	prod, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(env.KafkaBrokers...)}, kafka.ProducerOptions()...)...)
	if err != nil {
		return 0, 0, 0, err
	}
	defer prod.Close()
	t, err := b.names.ForStreamType("order")
	if err != nil {
		return 0, 0, 0, err
	}
	const (
		keyColumn, valueColumn = 2, 14
		query                  = `SELECT position, id, stream_id, stream_type, version, type, schema_version,
			schema_fingerprint, occurred_at, recorded_at, correlation_id, causation_id, actor, traceparent, payload
			FROM events WHERE position > $1 AND position <= $2 ORDER BY position`
	)
	ours := func(ctx context.Context, round int) (int, time.Duration, error) {
		if err := b.prepare(ctx); err != nil {
			return 0, 0, err
		}
		from, to := b.backlog[0].Position-1, b.head
		var (
			n    int
			buf  []byte
			hdrs []kgo.RecordHeader
		)
		// A record's bytes are cut from a shared buffer: RawValues are only valid until
		// the next row.
		cut := func(v []byte) []byte {
			start := len(buf)
			buf = append(buf, v...)
			return buf[start:len(buf):len(buf)]
		}
		sw := stopwatch.Start(ctx)
		rows, err := b.pool.Query(ctx, query, from, to)
		if err != nil {
			return 0, 0, err
		}
		for rows.Next() {
			vals := rows.RawValues()
			size := 0
			for _, v := range vals {
				size += len(v)
			}
			if cap(buf)-len(buf) < size {
				buf = make([]byte, 0, max(size, 1<<20))
			}
			if cap(hdrs)-len(hdrs) < len(rawRelayHeaders) {
				hdrs = make([]kgo.RecordHeader, 0, 1024*len(rawRelayHeaders))
			}
			h := hdrs[len(hdrs) : len(hdrs) : len(hdrs)+len(rawRelayHeaders)]
			k := 0
			for i, v := range vals {
				if i != keyColumn && i != valueColumn {
					h = append(h, kgo.RecordHeader{Key: rawRelayHeaders[k], Value: cut(v)})
					k++
				}
			}
			hdrs = hdrs[:len(hdrs)+len(h)]
			prod.Produce(ctx, &kgo.Record{Topic: t, Key: cut(vals[keyColumn]), Value: cut(vals[valueColumn]), Headers: h}, nil)
			n++
		}
		if err := rows.Err(); err != nil {
			return 0, 0, err
		}
		if err := prod.Flush(ctx); err != nil {
			return 0, 0, err
		}
		d := sw.Stop()
		if n != len(b.backlog) {
			return 0, 0, fmt.Errorf("raw relay read %d events, the backlog has %d", n, len(b.backlog))
		}
		b.published(0, round)
		return n, d, nil
	}
	return Alternate(ctx, rounds, ours, b.ceiling)
}
