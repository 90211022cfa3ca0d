// Package consumer is the Kafka consumer runtime every Ordo worker shares (projectors,
// the order saga, the analytics sink): a franz-go consumer group with a constant name,
// records handed over in batches per partition in offset order, offsets committed only
// after the handler has made its effects durable, records that cannot be handled sent to
// the dead-letter topic with the reason in their headers, lag per partition in metrics,
// and a graceful stop that finishes the batch in hand.
//
// Rebalances are blocked while a batch is processed (BlockRebalanceOnPoll), so a member
// never commits for a partition it no longer owns. Handlers whose effects live in a
// database can keep their offsets there, in the same transaction as the effects (set
// Config.Offsets): the group then resumes from the database, and Kafka's committed
// offsets are kept up to date only for monitoring.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordo-platform/ordo/internal/lifecycle"
	"github.com/ordo-platform/ordo/internal/telemetry"
)

// Batch is a run of records from one partition, in offset order.
type Batch struct {
	Topic     string
	Partition int32
	Records   []*kgo.Record
	// HighWatermark is the partition's end offset when the batch was fetched.
	HighWatermark int64

	c *Consumer
}

// DeadLetter sends r to the dead-letter topic with reason in its headers. Handlers call
// it for records they cannot handle (undecodable, violating an invariant that retrying
// will not fix) and then go on with the rest of the batch.
func (b Batch) DeadLetter(ctx context.Context, r *kgo.Record, reason error) error {
	return b.c.deadLetter(ctx, r, reason)
}

// Handler handles batches. An error means "not done, try again": the batch is retried
// with backoff until it succeeds or the consumer stops, so effects must be idempotent
// (or transactional with their offsets). Wrap an error with Permanent to send the whole
// batch to the dead-letter topic instead.
type Handler interface {
	Handle(ctx context.Context, b Batch) error
}

// Flusher is implemented by handlers that buffer effects across batches and polls to make
// them durable in large units (the analytics sink inserts 10k-100k rows at a time into
// ClickHouse). For such a handler Handle only buffers, and the runtime keeps polling
// (without committing and without letting a rebalance in) until FlushIn says the buffer
// is due; it then calls Flush and commits the offsets of every batch handled since the
// previous flush only after Flush returned nil. A failing Flush is retried with backoff;
// a stop flushes what is buffered (bounded) before the consumer leaves the group.
type Flusher interface {
	// FlushIn says how long the buffered effects may still wait; 0 or less: flush now.
	// It is called after every poll that handled records.
	FlushIn() time.Duration
	// Flush makes every buffered effect durable; after it returns nil nothing is buffered.
	Flush(ctx context.Context) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, b Batch) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, b Batch) error { return f(ctx, b) }

type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return permanentError{err} }

// OffsetStore is where a handler keeps its offsets when they live with its effects.
type OffsetStore interface {
	// NextOffsets returns, for the given partitions, the offset of the next record to
	// handle; partitions it has never seen are left out (they start at the beginning).
	NextOffsets(ctx context.Context, group string, partitions map[string][]int32) (map[string]map[int32]int64, error)
}

// Config configures a consumer.
type Config struct {
	// Group is the consumer group; a constant per role (renaming it re-consumes all).
	Group string
	// Topics to consume.
	Topics []string
	// DeadLetterTopic receives records the handler gives up on.
	DeadLetterTopic string
	// MaxPollRecords bounds one poll (default 5000).
	MaxPollRecords int
	// Offsets, when set, is where the group's offsets really live (see the package doc).
	Offsets OffsetStore
	// StartAtEnd starts partitions without any offset at their end instead of their
	// beginning (for consumers that only care about what happens from now on).
	StartAtEnd bool
	// MaxRetryBackoff caps the wait between retries of a failing batch (default 5 s).
	MaxRetryBackoff time.Duration
	// SessionTimeout is how long the group waits for a silent member (a crashed process)
	// before giving its partitions to the others (default 10 s).
	SessionTimeout time.Duration
	// InstanceID, when set, makes this member static (KIP-345): a process restarted with
	// the same id takes its partitions back at once, without a rebalance. Use a stable,
	// per-replica name (a StatefulSet pod name). Default: DefaultInstanceID.
	InstanceID string
	// ParallelPartitions hands the batches of one poll to the handler at the same time,
	// one goroutine per partition (a partition's records stay in order, and the next poll
	// waits for every batch). For handlers whose partitions are independent, each batch
	// its own transaction: a poll then takes as long as its slowest batch instead of all
	// of them one after another. Not with a Flusher.
	ParallelPartitions bool
	// Linger lets the broker hold a fetch for up to this long (at least 10 ms) until it
	// has lingerBytes to send, so that under a steady trickle a poll carries the records
	// of Linger instead of one or two (a projector's batch is one Postgres transaction).
	// A backlog is not delayed: its fetches are full at once. Zero: a fetch returns as
	// soon as any record is there (for consumers whose latency matters, the saga's).
	Linger time.Duration
	// FetchMaxBytes caps the response to one fetch, all partitions together (0:
	// franz-go's 50 MiB). franz-go decodes a whole response on one goroutine before any
	// of it can be polled, and asks a broker for more only once the last response is
	// drained: a consumer that handles records quickly then waits out the decoding of
	// every large fetch, with a core idle. Smaller fetches overlap decoding the next one
	// with handling the last. A partition still gives up to fetchMaxPartitionBytes to a
	// fetch it is in, and the broker takes turns among partitions.
	FetchMaxBytes int32
}

// lingerBytes is the fetch size a lingering fetch waits for (FetchMinBytes).
const lingerBytes = 1 << 20

// fetchMaxPartitionBytes is how much one fetch takes of a partition: 8 MiB, not
// franz-go's 1 MiB, so that a backlog comes in batches of ~10-20k events of ~400 bytes
// (a batch is one transaction for the projectors, one insert for the analytics sink),
// not ~2,500. A fetch still returns as soon as any record is there, and all partitions
// together stay under the client's FetchMaxBytes (50 MiB, or Config.FetchMaxBytes).
const fetchMaxPartitionBytes = 8 << 20

// DefaultInstanceID is the static membership id of consumers whose Config leaves it
// empty; `ordo` sets it from ORDO_KAFKA_INSTANCE_ID. Empty: dynamic membership.
var DefaultInstanceID string

func (c Config) withDefaults() Config {
	if c.MaxPollRecords <= 0 {
		c.MaxPollRecords = 5000
	}
	if c.MaxRetryBackoff <= 0 {
		c.MaxRetryBackoff = 5 * time.Second
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.InstanceID == "" {
		c.InstanceID = DefaultInstanceID
	}
	return c
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Group == "" {
		errs = append(errs, errors.New("consumer group is empty"))
	}
	if len(c.Topics) == 0 {
		errs = append(errs, errors.New("consumer has no topics"))
	}
	if c.DeadLetterTopic == "" {
		errs = append(errs, errors.New("consumer has no dead-letter topic"))
	}
	switch {
	case c.FetchMaxBytes < 0:
		errs = append(errs, fmt.Errorf("consumer fetch max bytes %d: want 0 (franz-go's default) or more", c.FetchMaxBytes))
	case c.FetchMaxBytes > 0 && c.Linger > 0 && c.FetchMaxBytes <= lingerBytes:
		// The broker could never gather the bytes a lingering fetch waits for: every
		// fetch would wait out the linger, a backlog's too.
		errs = append(errs, fmt.Errorf("consumer fetch max bytes %d: with a linger, want more than the %d bytes a lingering fetch waits for", c.FetchMaxBytes, lingerBytes))
	}
	if c.Linger != 0 && (c.Linger < 10*time.Millisecond || c.Linger > time.Second) {
		errs = append(errs, fmt.Errorf("consumer linger %s: want 0 or 10ms to 1s", c.Linger))
	}
	return errors.Join(errs...)
}

var (
	metricLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "ordo", Subsystem: "consumer", Name: "lag_records",
		Help: "Records in the partition not yet handled by the group (high watermark minus next offset).",
	}, []string{"group", "topic", "partition"})
	metricHandled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ordo", Subsystem: "consumer", Name: "handled_records_total",
		Help: "Records handled, by group and topic.",
	}, []string{"group", "topic"})
	metricBatchSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "ordo", Subsystem: "consumer", Name: "batch_duration_seconds",
		Help:    "Time to handle one batch (one partition's records of a poll).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 3, 12),
	}, []string{"group"})
	metricBatchRecords = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "ordo", Subsystem: "consumer", Name: "batch_records",
		Help:    "Records per handled batch.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 9),
	}, []string{"group"})
	metricRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ordo", Subsystem: "consumer", Name: "batch_retries_total",
		Help: "Batches retried after a handler error.",
	}, []string{"group"})
	metricDeadLettered = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ordo", Subsystem: "consumer", Name: "dead_lettered_records_total",
		Help: "Records sent to the dead-letter topic.",
	}, []string{"group", "topic"})
)

// Collectors are the runtime's Prometheus metrics.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{metricLag, metricHandled, metricBatchSeconds, metricBatchRecords, metricRetries, metricDeadLettered}
}

// Consumer is a lifecycle role running one handler for one group.
type Consumer struct {
	lifecycle.Stopper
	cfg     Config
	handler Handler
	log     *slog.Logger
	newCl   func(opts ...kgo.Opt) (*kgo.Client, error)

	// recordSpans: the client traces every record (kotel's hooks, installed when spans
	// are exported), so each record also gets a process span; see traceBatch.
	recordSpans bool

	mu      sync.Mutex
	cl      *kgo.Client
	dlqProd *kgo.Client
	owned   map[string]map[int32]bool
}

// New returns a consumer. newClient makes a franz-go client with the process's base
// options (brokers, client id, hooks) plus the options given.
func New(cfg Config, h Handler, newClient func(opts ...kgo.Opt) (*kgo.Client, error), log *slog.Logger) *Consumer {
	cfg = cfg.withDefaults()
	return &Consumer{cfg: cfg, handler: h, newCl: newClient, log: log.With("group", cfg.Group), owned: map[string]map[int32]bool{}}
}

// Name implements lifecycle.Role.
func (c *Consumer) Name() string { return "consumer:" + c.cfg.Group }

// Start consumes until stopped.
func (c *Consumer) Start(ctx context.Context) error {
	ctx, done := c.Begin(ctx)
	defer done()
	if err := c.cfg.Validate(); err != nil {
		return err
	}
	start := kgo.NewOffset().AtStart()
	if c.cfg.StartAtEnd {
		start = kgo.NewOffset().AtEnd()
	}
	opts := []kgo.Opt{
		kgo.ConsumerGroup(c.cfg.Group),
		kgo.ConsumeTopics(c.cfg.Topics...),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(start),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.OnPartitionsAssigned(c.assigned),
		kgo.OnPartitionsRevoked(c.revoked),
		kgo.OnPartitionsLost(c.revoked),
		kgo.SessionTimeout(c.cfg.SessionTimeout),
		kgo.FetchMaxPartitionBytes(fetchMaxPartitionBytes),
	}
	if c.cfg.Linger > 0 {
		opts = append(opts, kgo.FetchMinBytes(lingerBytes), kgo.FetchMaxWait(c.cfg.Linger))
	}
	if c.cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(c.cfg.InstanceID))
	}
	if c.cfg.FetchMaxBytes > 0 {
		opts = append(opts, kgo.FetchMaxBytes(c.cfg.FetchMaxBytes))
	}
	if c.cfg.Offsets != nil {
		opts = append(opts, kgo.AdjustFetchOffsetsFn(c.adjustOffsets))
	}
	cl, err := c.newCl(opts...)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.cl = cl
	c.mu.Unlock()
	c.recordSpans = tracesRecords(cl)
	flusher, _ := c.handler.(Flusher)
	if flusher != nil && c.cfg.ParallelPartitions {
		cl.Close()
		return errors.New("consumer: ParallelPartitions with a Flusher handler")
	}
	var mon *monitorCommits
	if c.cfg.Offsets != nil {
		mon = newMonitorCommits(cl)
	}
	defer func() {
		if mon != nil {
			mon.close()
		}
		// Leave the group at once so the partitions move without a session timeout.
		cl.Close()
		c.mu.Lock()
		if c.dlqProd != nil {
			c.dlqProd.Close()
		}
		c.mu.Unlock()
	}()

	// last holds the last handled record of each batch not yet committed; with a Flusher
	// it spans every poll since the previous flush.
	var last []*kgo.Record
	for {
		pollCtx, cancelPoll := ctx, context.CancelFunc(func() {})
		if flusher != nil && len(last) > 0 {
			// Effects are buffered: wait for more records only until they are due.
			pollCtx, cancelPoll = context.WithTimeout(ctx, max(flusher.FlushIn(), 0))
		}
		fetches := cl.PollRecords(pollCtx, c.cfg.MaxPollRecords)
		cancelPoll()
		if ctx.Err() != nil {
			if flusher != nil && len(last) > 0 && c.flushWithRetry(ctx, flusher) {
				c.commit(ctx, cl, last) // a clean stop leaves nothing to deliver again
			}
			cl.AllowRebalance()
			return nil
		}
		if fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				c.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
			}
		})
		var (
			handled sync.Mutex
			running sync.WaitGroup
		)
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 || ctx.Err() != nil {
				return
			}
			b := Batch{Topic: p.Topic, Partition: p.Partition, Records: p.Records, HighWatermark: p.HighWatermark, c: c}
			handle := func() {
				if !c.handleWithRetry(ctx, b) {
					return
				}
				handled.Lock()
				last = append(last, p.Records[len(p.Records)-1])
				handled.Unlock()
				metricLag.WithLabelValues(c.cfg.Group, p.Topic, strconv.Itoa(int(p.Partition))).
					Set(float64(max(0, p.HighWatermark-(p.Records[len(p.Records)-1].Offset+1))))
			}
			if c.cfg.ParallelPartitions {
				running.Go(handle)
			} else {
				handle()
			}
		})
		running.Wait()
		if flusher != nil && len(last) > 0 {
			if flusher.FlushIn() > 0 && ctx.Err() == nil {
				continue // keep buffering; rebalances stay blocked until the flush
			}
			if !c.flushWithRetry(ctx, flusher) {
				cl.AllowRebalance()
				return nil // stopped while ClickHouse was failing: nothing committed
			}
		}
		if mon != nil {
			mon.add(last) // the offsets are stored with the effects: Kafka's copy can lag
		} else {
			c.commit(ctx, cl, last)
		}
		last = nil
		cl.AllowRebalance()
	}
}

// monitorCommits keeps Kafka's committed offsets of a group whose offsets live in its
// handler's database (Config.Offsets) up to date in the background: there they only
// feed monitoring (lag tools, kadm), so the poll loop does not wait for them. One
// commit is in flight at a time, each of the newest offsets handled; close commits
// what is still pending.
type monitorCommits struct {
	cl      *kgo.Client
	mu      sync.Mutex
	pending map[string]map[int32]kgo.EpochOffset
	wake    chan struct{}
	done    chan struct{}
	stop    context.CancelFunc
}

func newMonitorCommits(cl *kgo.Client) *monitorCommits {
	ctx, stop := context.WithCancel(context.Background())
	m := &monitorCommits{cl: cl, wake: make(chan struct{}, 1), done: make(chan struct{}), stop: stop}
	go m.run(ctx)
	return m
}

// add records the offsets after the records in last (the last handled record of each
// batch) for the next commit.
func (m *monitorCommits) add(last []*kgo.Record) {
	if len(last) == 0 {
		return
	}
	m.mu.Lock()
	if m.pending == nil {
		m.pending = map[string]map[int32]kgo.EpochOffset{}
	}
	for _, r := range last {
		if m.pending[r.Topic] == nil {
			m.pending[r.Topic] = map[int32]kgo.EpochOffset{}
		}
		if prev, ok := m.pending[r.Topic][r.Partition]; !ok || prev.Offset < r.Offset+1 {
			m.pending[r.Topic][r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
		}
	}
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *monitorCommits) run(ctx context.Context) {
	defer close(m.done)
	for {
		select {
		case <-ctx.Done():
			m.commit() // what the last polls handled
			return
		case <-m.wake:
			m.commit()
		}
	}
}

func (m *monitorCommits) commit() {
	m.mu.Lock()
	offsets := m.pending
	m.pending = nil
	m.mu.Unlock()
	if len(offsets) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A failed commit is not retried: the next one carries newer offsets, and nothing
	// resumes from these.
	m.cl.CommitOffsetsSync(ctx, offsets, nil)
}

// close commits what is pending and stops; call it before the client is closed.
func (m *monitorCommits) close() {
	m.stop()
	<-m.done
}

// commit commits the offsets after last (no-op when empty).
func (c *Consumer) commit(ctx context.Context, cl *kgo.Client, last []*kgo.Record) {
	if len(last) == 0 {
		return
	}
	// With external offsets this commit only feeds monitoring; otherwise it is
	// what makes the batch done. A failed commit means redelivery, never loss.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := cl.CommitRecords(cctx, last...); err != nil && c.cfg.Offsets == nil {
		c.log.Warn("offset commit failed; records may be delivered again", "err", err)
	}
}

// flushWithRetry runs f.Flush until it succeeds (true) or the consumer stops while it
// keeps failing (false). Like a batch, a flush in progress is not interrupted by a stop.
func (c *Consumer) flushWithRetry(ctx context.Context, f Flusher) bool {
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		err := f.Flush(fctx)
		cancel()
		if err == nil {
			return true
		}
		metricRetries.WithLabelValues(c.cfg.Group).Inc()
		c.log.Warn("flush failed; retrying", "attempt", attempt, "backoff", backoff, "err", err)
		if !sleep(ctx, backoff) {
			return false
		}
		backoff = min(2*backoff, c.cfg.MaxRetryBackoff)
	}
}

// handleWithRetry runs the handler until it succeeds, gives up permanently (dead
// letter), or the consumer stops (false: do not commit).
func (c *Consumer) handleWithRetry(ctx context.Context, b Batch) bool {
	// The batch runs in the trace of its first record and links the others, so every
	// effect (a database write, an insert into ClickHouse) continues the trace that
	// appended the event; each record also gets a span of its own in its own trace.
	ctx, end := c.traceBatch(ctx, b)
	defer end()
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		start := time.Now()
		// A stop does not interrupt a batch in progress: it finishes (bounded), then stops.
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		err := c.handler.Handle(hctx, b)
		cancel()
		if err == nil {
			metricBatchSeconds.WithLabelValues(c.cfg.Group).Observe(time.Since(start).Seconds())
			metricBatchRecords.WithLabelValues(c.cfg.Group).Observe(float64(len(b.Records)))
			metricHandled.WithLabelValues(c.cfg.Group, b.Topic).Add(float64(len(b.Records)))
			return true
		}
		var perm permanentError
		if errors.As(err, &perm) {
			c.log.Error("batch failed permanently; sending it to the dead-letter topic", "topic", b.Topic, "partition", b.Partition,
				"first_offset", b.Records[0].Offset, "records", len(b.Records), "err", err)
			for _, r := range b.Records {
				for c.deadLetter(ctx, r, err) != nil {
					if !sleep(ctx, time.Second) {
						return false
					}
				}
			}
			return true
		}
		metricRetries.WithLabelValues(c.cfg.Group).Inc()
		c.log.Warn("batch failed; retrying", "topic", b.Topic, "partition", b.Partition,
			"first_offset", b.Records[0].Offset, "attempt", attempt, "backoff", backoff, "err", err)
		if !sleep(ctx, backoff) {
			return false
		}
		backoff = min(2*backoff, c.cfg.MaxRetryBackoff)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

var tracer = telemetry.Tracer("consumer")

// recordContext is the trace context a record carries: kotel's receive span when the
// client has its hooks, else the traceparent header.
func recordContext(r *kgo.Record) context.Context {
	if r.Context != nil && trace.SpanContextFromContext(r.Context).IsValid() {
		return r.Context
	}
	for _, h := range r.Headers {
		if h.Key == "traceparent" {
			return telemetry.WithTraceParent(context.Background(), string(h.Value))
		}
	}
	return context.Background()
}

// tracesRecords reports whether a hook of cl sees every fetched record (kotel's tracer).
func tracesRecords(cl *kgo.Client) bool {
	hooks, _ := cl.OptValue(kgo.WithHooks).([]kgo.Hook)
	for _, h := range hooks {
		if _, ok := h.(kgo.HookFetchRecordBuffered); ok {
			return true
		}
	}
	return false
}

// traceBatch starts the batch's span. A span per record (and a link to each) is made
// only when the client traces records too: with the SDK installed but nothing exporting,
// they cost as much CPU as the projector's own work per record, for spans nobody sees.
func (c *Consumer) traceBatch(ctx context.Context, b Batch) (context.Context, func()) {
	attrs := []attribute.KeyValue{
		attribute.String("messaging.system", "kafka"),
		attribute.String("messaging.consumer.group.name", c.cfg.Group),
		attribute.String("messaging.destination.name", b.Topic),
		attribute.Int("messaging.destination.partition.id", int(b.Partition)),
		attribute.Int("messaging.batch.message_count", len(b.Records)),
	}
	var (
		links []trace.Link
		spans []trace.Span
	)
	for _, r := range b.Records {
		if !c.recordSpans {
			break
		}
		rctx := recordContext(r)
		_, sp := tracer.Start(rctx, "process "+b.Topic, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
			attribute.String("messaging.consumer.group.name", c.cfg.Group),
			attribute.Int64("messaging.kafka.offset", r.Offset),
			attribute.String("messaging.kafka.message.key", string(r.Key))))
		spans = append(spans, sp)
		links = append(links, trace.LinkFromContext(rctx))
	}
	parent := recordContext(b.Records[0])
	if len(links) > 0 {
		links = links[1:]
	}
	_, span := tracer.Start(parent, "consume "+c.cfg.Group, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attrs...), trace.WithLinks(links...))
	// The handler keeps the consumer's cancellation, in the batch's trace.
	bctx := trace.ContextWithSpan(ctx, span)
	return bctx, func() {
		for _, sp := range spans {
			sp.End()
		}
		span.End()
	}
}

// Dead-letter headers, added to the original record's headers.
const (
	HeaderDLQReason    = "dlq-reason"
	HeaderDLQGroup     = "dlq-group"
	HeaderDLQTopic     = "dlq-topic"
	HeaderDLQPartition = "dlq-partition"
	HeaderDLQOffset    = "dlq-offset"
	HeaderDLQAt        = "dlq-at"
)

func (c *Consumer) deadLetter(ctx context.Context, r *kgo.Record, reason error) error {
	c.mu.Lock()
	if c.dlqProd == nil {
		p, err := c.newCl()
		if err != nil {
			c.mu.Unlock()
			return err
		}
		c.dlqProd = p
	}
	prod := c.dlqProd
	c.mu.Unlock()
	msg := reason.Error()
	if len(msg) > 4096 {
		msg = msg[:4096]
	}
	dl := &kgo.Record{
		Topic: c.cfg.DeadLetterTopic,
		Key:   r.Key,
		Value: r.Value,
		Headers: append(append([]kgo.RecordHeader(nil), r.Headers...),
			kgo.RecordHeader{Key: HeaderDLQReason, Value: []byte(msg)},
			kgo.RecordHeader{Key: HeaderDLQGroup, Value: []byte(c.cfg.Group)},
			kgo.RecordHeader{Key: HeaderDLQTopic, Value: []byte(r.Topic)},
			kgo.RecordHeader{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
			kgo.RecordHeader{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
			kgo.RecordHeader{Key: HeaderDLQAt, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
		),
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := prod.ProduceSync(pctx, dl).FirstErr(); err != nil {
		return fmt.Errorf("dead-letter %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	metricDeadLettered.WithLabelValues(c.cfg.Group, r.Topic).Inc()
	c.log.Error("record sent to the dead-letter topic", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "reason", msg)
	return nil
}

func (c *Consumer) assigned(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t, parts := range ps {
		if c.owned[t] == nil {
			c.owned[t] = map[int32]bool{}
		}
		for _, p := range parts {
			c.owned[t][p] = true
		}
	}
	c.log.Info("partitions assigned", "partitions", ps)
}

func (c *Consumer) revoked(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t, parts := range ps {
		for _, p := range parts {
			delete(c.owned[t], p)
			metricLag.DeleteLabelValues(c.cfg.Group, t, strconv.Itoa(int(p)))
		}
	}
	c.log.Info("partitions revoked", "partitions", ps)
}

// Assigned returns the partitions this member owns now.
func (c *Consumer) Assigned() map[string][]int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string][]int32{}
	for t, ps := range c.owned {
		for p := range ps {
			out[t] = append(out[t], p)
		}
	}
	return out
}

func (c *Consumer) adjustOffsets(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	parts := map[string][]int32{}
	for t, ps := range offsets {
		for p := range ps {
			parts[t] = append(parts[t], p)
		}
	}
	stored, err := c.cfg.Offsets.NextOffsets(ctx, c.cfg.Group, parts)
	if err != nil {
		return nil, fmt.Errorf("load offsets of %s: %w", c.cfg.Group, err)
	}
	start := kgo.NewOffset().AtStart()
	if c.cfg.StartAtEnd {
		start = kgo.NewOffset().AtEnd()
	}
	for t, ps := range offsets {
		for p := range ps {
			if next, ok := stored[t][p]; ok {
				offsets[t][p] = kgo.NewOffset().At(next).WithEpoch(-1)
			} else {
				offsets[t][p] = start
			}
		}
	}
	return offsets, nil
}
