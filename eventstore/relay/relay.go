// Package relay publishes the event store to Kafka: the transactional outbox is the
// events table itself, read in global order, so an event is on Kafka if and only if it
// was committed, and no command ever writes to Kafka directly.
//
// One relay is active per name: it holds a Postgres session advisory lock for as long as
// it runs, on the same connection that writes its checkpoint, so a relay that lost its
// lock can no longer move the checkpoint. Standby replicas wait for the lock. Delivery is
// at-least-once: after a crash the events since the last checkpoint are published again,
// and consumers make their effects idempotent (stream version, event id).
package relay

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/record"
	"github.com/ordo-platform/ordo/internal/lifecycle"
	"github.com/ordo-platform/ordo/internal/telemetry"
	"github.com/ordo-platform/ordo/internal/topic"
)

// Config configures a relay.
type Config struct {
	// Name keys the checkpoint and the leader lock (default "default").
	Name string
	// BatchSize is how many events are read, produced and checkpointed at once.
	BatchSize int
	// PollInterval bounds how long new events wait when no notification arrives.
	PollInterval time.Duration
	// Linger spaces the reads of a steady stream (eventstore.SubscribeOptions.Linger):
	// a read waits until Linger has passed since the one before, so that it carries
	// what was appended meanwhile (and one checkpoint write covers it). An idle relay
	// reads as soon as it is notified; a backlog is read page after page.
	Linger time.Duration
	// StandbyRetry is how often a standby tries to become the leader.
	StandbyRetry time.Duration
	// Topics names the topics to publish to.
	Topics topic.Names
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Name: "default", BatchSize: 10000, PollInterval: 200 * time.Millisecond, Linger: 10 * time.Millisecond,
		StandbyRetry: 2 * time.Second, Topics: topic.Default}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("relay name is empty"))
	}
	if c.BatchSize < 1 || c.BatchSize > 100_000 {
		errs = append(errs, fmt.Errorf("relay batch size %d: want 1..100000", c.BatchSize))
	}
	if c.PollInterval <= 0 || c.StandbyRetry <= 0 {
		errs = append(errs, errors.New("relay intervals must be positive"))
	}
	if c.Linger < 0 || c.Linger > time.Second {
		errs = append(errs, fmt.Errorf("relay linger %s: want 0 to 1s", c.Linger))
	}
	errs = append(errs, c.Topics.Validate())
	return errors.Join(errs...)
}

var (
	metricPublished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ordo", Subsystem: "relay", Name: "published_events_total",
		Help: "Events published to Kafka, by topic.",
	}, []string{"topic"})
	metricLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "ordo", Subsystem: "relay", Name: "lag_events",
		Help: "Committed events not yet published (counted up to 100000), measured every few seconds by the leader.",
	}, []string{"relay"})
	metricLagSeconds = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "ordo", Subsystem: "relay", Name: "lag_seconds",
		Help: "Age of the oldest committed event not yet published (0 when caught up).",
	}, []string{"relay"})
	metricPublishDelay = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "ordo", Subsystem: "relay", Name: "publish_delay_seconds",
		Help:    "Time from an event being recorded to Kafka acknowledging it (last event of each batch).",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
	})
	metricLeader = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "ordo", Subsystem: "relay", Name: "leader",
		Help: "1 while this process is the active relay.",
	}, []string{"relay"})
	metricBatch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "ordo", Subsystem: "relay", Name: "batch_events",
		Help:    "Events per published batch.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 9),
	})
	metricBatchSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "ordo", Subsystem: "relay", Name: "batch_duration_seconds",
		Help:    "Time to produce a batch and write its checkpoint.",
		Buckets: prometheus.DefBuckets,
	})
	metricDeadLettered = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "ordo", Subsystem: "relay", Name: "dead_lettered_events_total",
		Help: "Events the relay could not map to a topic and sent to the dead-letter topic.",
	})
)

// Collectors are the relay's Prometheus metrics.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{metricPublished, metricLag, metricLagSeconds, metricPublishDelay, metricLeader, metricBatch, metricBatchSeconds, metricDeadLettered}
}

// Relay is the lifecycle role that publishes events.
type Relay struct {
	lifecycle.Stopper
	cfg   Config
	store eventstore.Store
	pool  *pgxpool.Pool
	kafka *kgo.Client
	log   *slog.Logger

	// traced: a hook of the client sees each record as it is buffered (kotel's tracer),
	// so records are produced in the context of their event's trace.
	traced bool

	mu       sync.Mutex
	position int64
}

// New returns a relay reading store, keeping its lock and checkpoint in pool, and
// producing with kafka.
func New(cfg Config, store eventstore.Store, pool *pgxpool.Pool, kafka *kgo.Client, log *slog.Logger) *Relay {
	return &Relay{cfg: cfg, store: store, pool: pool, kafka: kafka, log: log.With("role", "relay", "relay", cfg.Name),
		traced: seesBufferedRecords(kafka)}
}

// seesBufferedRecords reports whether a hook of cl is called with every record produced
// (and so may read its context).
func seesBufferedRecords(cl *kgo.Client) bool {
	hooks, _ := cl.OptValue(kgo.WithHooks).([]kgo.Hook)
	for _, h := range hooks {
		if _, ok := h.(kgo.HookProduceRecordBuffered); ok {
			return true
		}
	}
	return false
}

// Name implements lifecycle.Role.
func (r *Relay) Name() string { return "relay" }

// Position returns the global position published so far (0 before the first batch).
func (r *Relay) Position() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.position
}

// Start runs until stopped: wait for leadership, then publish. Losing the database
// connection (and with it the lock) or a Kafka error ends the term; the relay then
// starts over from its checkpoint.
func (r *Relay) Start(ctx context.Context) error {
	ctx, done := r.Begin(ctx)
	defer done()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := r.term(ctx)
		metricLeader.WithLabelValues(r.cfg.Name).Set(0)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			r.log.Warn("relay term ended; resuming from the checkpoint", "err", err, "backoff", backoff)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
	return nil
}

// lockKey is the leader lock of a relay name in a schema: advisory locks are
// database-wide, and relays of different schemas (tests, tenants) are independent.
func lockKey(schema, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("ordo.relay." + schema + "." + name))
	return int64(h.Sum64())
}

// term is one leadership term.
func (r *Relay) term(ctx context.Context) error {
	pc, err := r.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// Dedicated connection: the session lock lives and dies with it.
	conn := pc.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))

	var schema string
	if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return fmt.Errorf("current schema: %w", err)
	}
	for {
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", lockKey(schema, r.cfg.Name)).Scan(&got); err != nil {
			return fmt.Errorf("leader lock: %w", err)
		}
		if got {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(r.cfg.StandbyRetry):
		}
	}
	metricLeader.WithLabelValues(r.cfg.Name).Set(1)

	var from int64
	err = conn.QueryRow(ctx, "SELECT position FROM relay_checkpoints WHERE name = $1", r.cfg.Name).Scan(&from)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	r.setPosition(from)
	r.log.Info("relay leading", "from", from)

	lagCtx, stopLag := context.WithCancel(ctx)
	defer stopLag()
	go r.measureLag(lagCtx)

	// Pipeline: the subscription reads the next page while this one is turned into
	// records and handed to the producer, and while Kafka acknowledges earlier batches.
	// An acker checkpoints batches strictly in order once all their records are acked,
	// so the checkpoint never passes an unacknowledged event.
	tctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	inflight := make(chan *batch, 3)
	ackerDone := make(chan error, 1)
	go func() { ackerDone <- r.ack(conn, inflight, cancel) }()
	pages := make(chan []eventstore.Event, 1)
	readerDone := make(chan error, 1)
	go func() {
		defer close(pages)
		readerDone <- eventstore.Subscribe(tctx, r.store, from,
			eventstore.SubscribeOptions{BatchSize: r.cfg.BatchSize, PollInterval: r.cfg.PollInterval, Linger: r.cfg.Linger},
			func(ctx context.Context, events []eventstore.Event) error {
				select {
				case pages <- events:
					return nil
				case <-ctx.Done():
					return context.Cause(ctx)
				}
			})
	}()

	err = r.publish(tctx, pages, inflight)
	if err != nil {
		cancel(err)
	}
	for range pages { // the reader stops at the cancel (or has stopped already)
	}
	if rerr := <-readerDone; err == nil {
		err = rerr
	}
	close(inflight)
	if aerr := <-ackerDone; aerr != nil {
		return aerr
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}

// publish produces the pages and hands each batch to the acker, until the pages end or
// ctx does.
func (r *Relay) publish(ctx context.Context, pages <-chan []eventstore.Event, inflight chan<- *batch) error {
	for events := range pages {
		b, err := r.produce(ctx, events)
		if err != nil {
			return err
		}
		select {
		case inflight <- b:
		case <-ctx.Done():
			b.wg.Wait() // it is produced either way; just do not checkpoint it
			return context.Cause(ctx)
		}
	}
	return nil
}

// batch is a produced batch waiting for its acknowledgements.
type batch struct {
	events []eventstore.Event
	start  time.Time
	topics map[string]int // records per topic, counted once the batch is acknowledged
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
}

// produce hands a batch's records to the producer and returns without waiting.
func (r *Relay) produce(ctx context.Context, events []eventstore.Event) (*batch, error) {
	// A stop lets the batches in flight finish (within a bound), so that a clean stop
	// never causes duplicates.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	b := &batch{events: events, start: time.Now(), topics: map[string]int{}}
	promise := func(rec *kgo.Record, err error) {
		defer b.wg.Done()
		if err != nil {
			b.mu.Lock()
			if b.err == nil {
				b.err = fmt.Errorf("produce to %s: %w", rec.Topic, err)
			}
			b.mu.Unlock()
		}
	}
	bld := record.NewBuilder(len(events))
	for _, e := range events {
		rec, err := bld.FromEvent(e, r.cfg.Topics)
		if errors.Is(err, topic.ErrUnknownStreamType) {
			// Never skip an event: park it where an operator will see it.
			rec, err = deadLetter(e, r.cfg.Topics, err)
			metricDeadLettered.Inc()
			r.log.Error("event has no topic; sent to the dead-letter topic", "event_id", e.ID, "stream_type", e.StreamType)
		}
		if err != nil {
			b.wg.Wait()
			cancel()
			return nil, err
		}
		b.topics[rec.Topic]++
		b.wg.Add(1)
		rctx := pctx
		if r.traced {
			// Each record is produced in the context of the trace that appended its event,
			// so the publish span (kotel) continues that trace and its traceparent travels
			// on. Without such a hook nothing reads the context, and the record's
			// traceparent header (copied from the event) carries the trace by itself.
			rctx = telemetry.WithTraceParent(pctx, e.Metadata.TraceParent)
		}
		r.kafka.Produce(rctx, rec, promise)
	}
	go func() { b.wg.Wait(); cancel() }()
	return b, nil
}

// ack waits for each batch in order and moves the checkpoint past it. On a failure it
// cancels the term (stop) and drains what is left without checkpointing.
func (r *Relay) ack(conn *pgx.Conn, inflight <-chan *batch, stop context.CancelCauseFunc) error {
	var failed error
	for b := range inflight {
		b.wg.Wait()
		if failed != nil {
			continue
		}
		if b.err != nil {
			failed = b.err
			stop(failed)
			continue
		}
		last := b.events[len(b.events)-1]
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := conn.Exec(ctx, `INSERT INTO relay_checkpoints (name, position, updated_at) VALUES ($1, $2, now())
			ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
			r.cfg.Name, last.Position)
		cancel()
		if err != nil {
			failed = fmt.Errorf("write checkpoint: %w", err)
			stop(failed)
			continue
		}
		r.setPosition(last.Position)
		for t, n := range b.topics {
			metricPublished.WithLabelValues(t).Add(float64(n))
		}
		metricBatch.Observe(float64(len(b.events)))
		metricBatchSeconds.Observe(time.Since(b.start).Seconds())
		metricPublishDelay.Observe(time.Since(last.RecordedAt).Seconds())
	}
	return failed
}

// measureLag counts, every few seconds, the committed events the relay has not yet
// published and the age of the oldest of them.
func (r *Relay) measureLag(ctx context.Context) {
	t := time.NewTicker(3 * time.Second)
	defer t.Stop()
	for {
		if m, ok := r.store.(eventstore.Backlogger); ok {
			if n, oldest, err := m.Backlog(ctx, r.Position()); err == nil {
				metricLag.WithLabelValues(r.cfg.Name).Set(float64(n))
				age := 0.0
				if !oldest.IsZero() {
					age = max(0, time.Since(oldest).Seconds())
				}
				metricLagSeconds.WithLabelValues(r.cfg.Name).Set(age)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Relay) setPosition(p int64) {
	r.mu.Lock()
	r.position = p
	r.mu.Unlock()
}

func deadLetter(e eventstore.Event, names topic.Names, reason error) (*kgo.Record, error) {
	streamType := e.StreamType
	e.StreamType = "order" // any known type, only to build the headers; the topic is replaced
	rec, err := record.FromEvent(e, names)
	if err != nil {
		return nil, err
	}
	for i := range rec.Headers {
		if rec.Headers[i].Key == record.HeaderStreamType {
			rec.Headers[i].Value = []byte(streamType)
		}
	}
	rec.Topic = names.DeadLetter()
	rec.Headers = append(rec.Headers,
		kgo.RecordHeader{Key: "dlq-reason", Value: []byte(reason.Error())},
		kgo.RecordHeader{Key: "dlq-source", Value: []byte("relay")})
	return rec, nil
}
