package analytics

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/eventstore/record"
	"github.com/ordo-platform/ordo/internal/consumer"
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
// event to ClickHouse. It is a lifecycle role (Start, Stop) through the consumer
// runtime it embeds.
type Sink struct {
	*consumer.Consumer
	h *sinkHandler
}

// NewSink returns the sink. newClient makes franz-go clients with the process's base
// options (see consumer.New); conn is the ClickHouse connection of cfg.Database.
func NewSink(cfg Config, conn driver.Conn, names topic.Names, newClient func(opts ...kgo.Opt) (*kgo.Client, error), log *slog.Logger) *Sink {
	log = log.With("role", "analytics")
	h := &sinkHandler{cfg: cfg, w: NewWriter(conn), codec: schemas.Default(), log: log}
	ccfg := consumer.Config{
		Group:           GroupFor(names),
		Topics:          names.Events(),
		DeadLetterTopic: names.DeadLetter(),
		MaxPollRecords:  cfg.MaxPollRecords,
	}
	withFetch := func(opts ...kgo.Opt) (*kgo.Client, error) {
		// Large fetches: the sink wants tens of thousands of records per flush.
		opts = append(opts, kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(8<<20))
		if cfg.InstanceID != "" {
			opts = append(opts, kgo.InstanceID(cfg.InstanceID))
		}
		return newClient(opts...)
	}
	return &Sink{Consumer: consumer.New(ccfg, h, withFetch, log), h: h}
}

// Name implements lifecycle.Role.
func (s *Sink) Name() string { return "analytics" }

// sinkHandler decodes every batch into the writer's buffer (Handle) and writes the
// buffer to ClickHouse when it is full or old enough (Flush). It is a consumer.Flusher:
// the runtime commits a batch's offsets only after a Flush that included the batch
// returned nil, that is, after ClickHouse acknowledged every row of it.
type sinkHandler struct {
	cfg   Config
	w     *Writer
	codec *schemas.Codec
	log   *slog.Logger

	mu    sync.Mutex
	first time.Time // when the oldest buffered event was added
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
	if len(decoded) == 0 {
		return nil
	}
	h.mu.Lock()
	if h.w.Len() == 0 {
		h.first = time.Now()
	}
	h.mu.Unlock()
	h.w.Add(decoded...)
	return nil
}

// FlushIn implements consumer.Flusher: now when FlushRows events are buffered, else when
// the oldest is FlushInterval old.
func (h *sinkHandler) FlushIn() time.Duration {
	if h.w.Len() >= h.cfg.FlushRows {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cfg.FlushInterval - time.Since(h.first)
}

// Flush implements consumer.Flusher.
func (h *sinkHandler) Flush(ctx context.Context) error {
	n := h.w.Len()
	start := time.Now()
	if err := h.w.Flush(ctx); err != nil {
		return err
	}
	h.log.Debug("flushed", "events", n, "took", time.Since(start))
	return nil
}
