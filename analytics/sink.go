package analytics

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/eventstore/record"
	"github.com/ordo-platform/ordo/internal/consumer"
	"github.com/ordo-platform/ordo/internal/lifecycle"
	"github.com/ordo-platform/ordo/internal/topic"
	"github.com/ordo-platform/ordo/schemas"
)

// Group is the sink's consumer group with Ordo's default topic names. Renaming it
// re-consumes every retained record (harmless: the tables deduplicate), so it never
// changes.
const Group = "ordo-analytics"

// GroupFor is the sink's consumer group for topics named by names: "<prefix>-analytics",
// which is Group with the default prefix. Installations (and tests) that share a Kafka
// cluster under different topic prefixes get groups of their own.
func GroupFor(names topic.Names) string { return names.Prefix + "-analytics" }

// Sink is the `ordo analytics` role: a consumer of every event topic that writes each
// event to ClickHouse. See the package documentation for how it batches and why a crash
// at any moment loses nothing and duplicates nothing an analyst can see.
type Sink struct {
	lifecycle.Stopper
	c *consumer.Consumer
	h *sinkHandler
}

// finalFlushWait bounds how long a stopping sink waits for its last insert.
const finalFlushWait = 30 * time.Second

// NewSink returns the sink. newClient makes franz-go clients with the process's base
// options (see consumer.New); conn is the ClickHouse connection of cfg.Database.
func NewSink(cfg Config, conn driver.Conn, names topic.Names, newClient func(opts ...kgo.Opt) (*kgo.Client, error), log *slog.Logger) *Sink {
	log = log.With("role", "analytics")
	h := &sinkHandler{cfg: cfg, conn: conn, w: NewWriter(conn), codec: schemas.Default(), log: log, group: GroupFor(names)}
	ccfg := consumer.Config{
		Group:           h.group,
		Topics:          names.Events(),
		DeadLetterTopic: names.DeadLetter(),
		MaxPollRecords:  cfg.MaxPollRecords,
		Offsets:         h, // the sink resumes from ingest_offsets in ClickHouse
		Linger:          fetchLinger(cfg.FlushInterval),
		FetchMaxBytes:   sinkFetchMaxBytes,
	}
	withInstance := func(opts ...kgo.Opt) (*kgo.Client, error) {
		if cfg.InstanceID != "" {
			opts = append(opts, kgo.InstanceID(cfg.InstanceID))
		}
		return newClient(opts...)
	}
	c := consumer.New(ccfg, h, withInstance, log)
	h.assigned = c.Assigned
	return &Sink{c: c, h: h}
}

// fetchLinger is how long the broker may hold the sink's fetches under a trickle: a
// sixth of the flush interval, 10 ms to 500 ms. The events wait in the sink's buffer
// for the interval anyway, and a fetch per produce batch of the relay (about a hundred
// a second) cost the broker and the sink more CPU than the inserts they feed.
func fetchLinger(flushInterval time.Duration) time.Duration {
	return min(max(flushInterval/6, 10*time.Millisecond), 500*time.Millisecond)
}

// sinkFetchMaxBytes caps each of the sink's fetches at 8 MiB of (compressed) records,
// about 70,000 of `ordo bench analytics`'s events, rather than franz-go's 50 MiB. Reading
// a backlog, the whole 200,000 came in one 25 MB response that franz-go decoded on one
// goroutine for ~300 ms before the sink could handle any of it, with a core idle. Capped,
// the backlog comes in parts, and each part's decoding overlaps with handling the last
// poll of the one before: ours went from 68-69k to 73-90k events/s in alternated runs
// (ratio 0.64-0.66 to 0.78-0.93), with less CPU, not more. 1, 2, 4 and 16 MiB did about
// as well; far below 8 MiB a fetch would come near lingerBytes, which a lingering fetch
// waits for.
const sinkFetchMaxBytes = 8 << 20

// Name implements lifecycle.Role.
func (s *Sink) Name() string { return "analytics" }

// Start consumes until stopped. A stop lets the batch in hand and the last insert finish
// (bounded), so that a clean restart delivers nothing twice.
func (s *Sink) Start(ctx context.Context) error {
	ctx, done := s.Begin(ctx)
	defer done()
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	s.h.setLife(life)
	err := s.c.Start(ctx)
	wctx, wcancel := context.WithTimeout(life, finalFlushWait)
	defer wcancel()
	if werr := s.h.wait(wctx); werr != nil {
		s.h.log.Warn("last insert did not finish; its events will be delivered again", "err", werr)
	}
	return err
}

// Assigned returns the partitions this member consumes now.
func (s *Sink) Assigned() map[string][]int32 { return s.c.Assigned() }

// Recorded returns how many records this process has written to ClickHouse and recorded
// as done in ingest_offsets (acknowledged), summed over the partitions it recorded: the
// next offset of each. `ordo bench analytics` stops its clock on it, rather than
// querying ingest_offsets in a loop, which put load on ClickHouse while it was timed.
func (s *Sink) Recorded() int64 {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	var n int64
	for _, ps := range s.h.recorded {
		for _, off := range ps {
			n += off
		}
	}
	return n
}

// sinkHandler decodes every batch into the writer's buffer (Handle), and when the buffer
// is full or old enough (FlushIn) hands it to a background insert (Flush) so that
// decoding the next records overlaps with ClickHouse inserting the previous ones. At
// most one insert is in flight; the next Flush waits for it (backpressure).
//
// The offsets that count are the rows of ingest_offsets: a background insert writes them
// only after ClickHouse acknowledged every row of its buffer, and the group starts from
// them (consumer.OffsetStore). The runtime's Kafka commit, which follows Flush, is a copy
// for monitoring that may run one buffer ahead.
type sinkHandler struct {
	cfg   Config
	conn  driver.Conn
	w     *Writer
	codec *schemas.Codec
	log   *slog.Logger
	group string

	mu       sync.Mutex
	life     context.Context            // ends when the sink has stopped for good
	first    time.Time                  // when the oldest buffered event was added
	next     map[string]map[int32]int64 // next offset per partition of the buffered records
	inflight *insert                    // the background insert; nil when none
	busy     atomic.Bool                // an insert is running
	// behind is how many records each partition had after its last batch (its high
	// watermark then, less the batch's end); backlog, that the last flush was of a full
	// buffer or a batch since then had records after it: a backlog is being read.
	// Together they tell a backlog's tail (see FlushIn).
	behind  map[string]map[int32]int64
	backlog bool
	// assigned returns the partitions the sink owns now (its consumer's): a partition
	// given away in a rebalance keeps its entry in behind, and must not count.
	assigned func() map[string][]int32
	// recorded is the next offset of each partition as this process last wrote it to
	// ingest_offsets (acknowledged by ClickHouse).
	recorded map[string]map[int32]int64
}

// insert is a background insert; done is closed once err is set.
type insert struct {
	done chan struct{}
	err  error
}

func (h *sinkHandler) setLife(ctx context.Context) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.life = ctx
}

type undecodable struct {
	r   *kgo.Record
	err error
}

// Handle decodes the batch and buffers it. Records that are not Ordo events or whose
// payload does not decode go to the dead-letter topic first; the batch is buffered only
// when that worked, all at once, so a retried batch is never buffered twice.
func (h *sinkHandler) Handle(ctx context.Context, b consumer.Batch) error {
	// Decoding is the sink's main CPU cost: spread it over the cores, in order.
	out := make([]Decoded, len(b.Records))
	errs := make([]error, len(b.Records))
	workers := min(runtime.GOMAXPROCS(0), max(1, len(b.Records)/256))
	per := (len(b.Records) + workers - 1) / workers
	var wg sync.WaitGroup
	for from := 0; from < len(b.Records); from += per {
		wg.Go(func() {
			for i := from; i < min(from+per, len(b.Records)); i++ {
				e, err := record.ToEvent(b.Records[i])
				if err == nil {
					out[i], err = Decode(h.codec, e)
				}
				errs[i] = err
			}
		})
	}
	wg.Wait()
	decoded := out[:0]
	var bad []undecodable
	for i, r := range b.Records {
		if errs[i] != nil {
			bad = append(bad, undecodable{r, errs[i]})
			continue
		}
		decoded = append(decoded, out[i])
	}
	for _, u := range bad {
		if err := b.DeadLetter(ctx, u.r, u.err); err != nil {
			return err
		}
		metricUndecodable.WithLabelValues("kafka").Inc()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.first.IsZero() {
		h.first = time.Now()
	}
	end := b.Records[len(b.Records)-1].Offset + 1
	behind := max(0, b.HighWatermark-end)
	setPartition(&h.next, b.Topic, b.Partition, end)
	setPartition(&h.behind, b.Topic, b.Partition, behind)
	h.backlog = h.backlog || behind > 0
	h.w.Add(decoded...)
	return nil
}

// FlushIn implements consumer.Flusher: now when FlushRows events are buffered, else when
// the oldest is FlushInterval old, but not while the previous insert is still running:
// the buffer then keeps growing, so that a slow ClickHouse gets fewer, larger inserts
// (which it handles best) instead of a queue of small ones.
//
// One more case is due at once: a backlog's tail. Once the last flush was of a full
// buffer, or a batch since then had records after it (its partition's high watermark
// was beyond it), and every partition the sink owns is read to its end, what is
// buffered is all there is; waiting out the interval would only hold back the last
// events of the backlog (by up to FlushInterval: in `ordo bench analytics` it did, in
// one run of four, and a backlog smaller than FlushRows waited for it whole). A steady
// stream whose fetches reach the end of each partition gets here only above FlushRows
// per interval, and then adds at most one insert per full one. Holding a buffer also
// holds back rebalances (consumer.Flusher), so this lets a group that joins in steps
// move on as soon as it has read what it was given.
func (h *sinkHandler) FlushIn() time.Duration {
	if h.w.Len() >= h.cfg.FlushRows {
		return 0
	}
	h.mu.Lock()
	due := h.cfg.FlushInterval - time.Since(h.first)
	if h.backlog && h.readToEnd() {
		due = 0
	}
	h.mu.Unlock()
	if due <= 0 && h.busy.Load() {
		return 10 * time.Millisecond
	}
	return due
}

// setPartition sets (*m)[topic][partition] to v, making the maps it needs.
func setPartition(m *map[string]map[int32]int64, topic string, partition int32, v int64) {
	if *m == nil {
		*m = map[string]map[int32]int64{}
	}
	if (*m)[topic] == nil {
		(*m)[topic] = map[int32]int64{}
	}
	(*m)[topic][partition] = v
}

// readToEnd: no partition the sink owns had records after its last batch. Called with
// mu held.
func (h *sinkHandler) readToEnd() bool {
	owned := h.assigned()
	for t, parts := range h.behind {
		for p, n := range parts {
			if n > 0 && slices.Contains(owned[t], p) {
				return false
			}
		}
	}
	return true
}

// Flush implements consumer.Flusher: it waits for the previous insert and starts the
// next one in the background.
func (h *sinkHandler) Flush(ctx context.Context) error {
	if err := h.wait(ctx); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	next := h.next
	if len(next) == 0 {
		return nil
	}
	h.backlog = h.w.Len() >= h.cfg.FlushRows // a full buffer: more may be waiting
	rs := h.w.detach()
	h.next, h.first = nil, time.Time{}
	in := &insert{done: make(chan struct{})}
	h.inflight = in
	life := h.life
	h.busy.Store(true)
	go func() {
		in.err = h.persist(life, rs, next)
		h.busy.Store(false)
		close(in.done)
	}()
	return nil
}

// wait waits for the insert in flight, if any, and takes its outcome; on ctx's end it
// returns ctx's error and the insert stays in flight.
func (h *sinkHandler) wait(ctx context.Context) error {
	in := h.current()
	if in == nil {
		return nil
	}
	if err := in.settled(ctx); err != nil {
		return err
	}
	h.mu.Lock()
	if h.inflight == in {
		h.inflight = nil
	}
	h.mu.Unlock()
	return in.err
}

// current returns the insert in flight, or nil.
func (h *sinkHandler) current() *insert {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.inflight
}

// settled waits for the insert to end (leaving its outcome to wait), or for ctx's end.
func (in *insert) settled(ctx context.Context) error {
	select {
	case <-in.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("previous insert still running: %w", ctx.Err())
	}
}

// persist inserts rs, then records next in ingest_offsets, each retried with backoff
// until ClickHouse acknowledges it or the sink has stopped for good.
func (h *sinkHandler) persist(life context.Context, rs *rowSet, next map[string]map[int32]int64) error {
	start, n := time.Now(), rs.pending
	if err := h.retry(life, "insert", func(ctx context.Context) error { return h.w.insert(ctx, rs) }); err != nil {
		return err
	}
	h.w.release(rs)
	if err := h.retry(life, "record offsets", func(ctx context.Context) error { return h.recordOffsets(ctx, next) }); err != nil {
		return err
	}
	h.mu.Lock()
	for t, ps := range next {
		for p, off := range ps {
			setPartition(&h.recorded, t, p, off)
		}
	}
	h.mu.Unlock()
	h.log.Debug("flushed", "events", n, "took", time.Since(start))
	return nil
}

func (h *sinkHandler) retry(life context.Context, what string, f func(ctx context.Context) error) error {
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(life, 2*time.Minute)
		err := f(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if life.Err() != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		h.log.Warn("clickhouse "+what+" failed; retrying", "attempt", attempt, "backoff", backoff, "err", err)
		select {
		case <-life.Done():
			return fmt.Errorf("%s: %w", what, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (h *sinkHandler) recordOffsets(ctx context.Context, next map[string]map[int32]int64) error {
	b, err := h.conn.PrepareBatch(ctx, "INSERT INTO ingest_offsets (consumer_group, topic, partition, next_offset, flushed_at)")
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	for t, ps := range next {
		for p, off := range ps {
			if err := b.Append(h.group, t, p, off, now); err != nil {
				_ = b.Abort()
				return err
			}
		}
	}
	return b.Send()
}

// NextOffsets implements consumer.OffsetStore from ingest_offsets. It first lets the
// insert in flight (if any) record its offsets, for a while: a rebalance can come while
// it runs, and reading the offsets before it ends would deliver its events again (no
// harm to what analysts see, but inserted twice).
func (h *sinkHandler) NextOffsets(ctx context.Context, group string, partitions map[string][]int32) (map[string]map[int32]int64, error) {
	if in := h.current(); in != nil {
		wctx, cancel := context.WithTimeout(ctx, finalFlushWait)
		_ = in.settled(wctx) // its outcome stays the poll loop's; a timeout only costs duplicates
		cancel()
	}
	rows, err := h.conn.Query(ctx, "SELECT topic, partition, max(next_offset) FROM ingest_offsets WHERE consumer_group = ? GROUP BY topic, partition", group)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: read ingest_offsets: %w", err)
	}
	defer rows.Close()
	out := map[string]map[int32]int64{}
	for rows.Next() {
		var (
			t    string
			p    int32
			next int64
		)
		if err := rows.Scan(&t, &p, &next); err != nil {
			return nil, err
		}
		if _, wanted := partitions[t]; !wanted {
			continue
		}
		if out[t] == nil {
			out[t] = map[int32]int64{}
		}
		out[t][p] = next
	}
	return out, rows.Err()
}
