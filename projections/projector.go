package projections

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/record"
	"github.com/ordo-platform/ordo/internal/consumer"
	"github.com/ordo-platform/ordo/internal/lifecycle"
	pgpool "github.com/ordo-platform/ordo/internal/postgres"
	"github.com/ordo-platform/ordo/internal/topic"
	"github.com/ordo-platform/ordo/schemas"
)

// Config configures the live projectors.
type Config struct {
	// Topics names the Kafka topics to consume.
	Topics topic.Names
	// MaxPollRecords bounds one poll (the consumer runtime's default when 0).
	MaxPollRecords int
	// MaxRetryBackoff caps the wait between retries of a failing batch.
	MaxRetryBackoff time.Duration
	// Linger is how long a fetch may wait for more records (consumer.Config.Linger):
	// under a steady trickle, fewer and larger batches, each one transaction, for a read
	// model at most that much later. 0: none.
	Linger time.Duration
	// GroupPrefix is put before the constant group names. Empty in production; tests
	// sharing one broker set it so that their groups never rebalance with each other.
	GroupPrefix string
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Topics: topic.Default, MaxPollRecords: 20000, Linger: DefaultLinger}
}

// DefaultLinger is the projectors' (and the notification history's) fetch linger by
// default: under a trickle, a poll (one transaction of a projector) carries the records
// of up to 20 ms.
const DefaultLinger = 20 * time.Millisecond

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	errs = append(errs, c.Topics.Validate())
	if c.MaxPollRecords < 0 {
		errs = append(errs, fmt.Errorf("projector max poll records %d: want >= 0", c.MaxPollRecords))
	}
	return errors.Join(errs...)
}

// Projector is the live projector of one read model: a consumer group (constant name,
// GroupOrders or GroupProducts) whose polls are applied to the active version's tables
// in one Postgres transaction each, together with the partitions' offsets. It is a
// lifecycle role.
type Projector struct {
	lifecycle.Stopper
	model    model
	pool     *pgxpool.Pool
	store    eventstore.Store
	codec    *schemas.Codec
	log      *slog.Logger
	consumer *consumer.Consumer
	pending  []consumer.Batch // the poll's batches, until Flush applies them
	position atomic.Int64     // highest position applied by this process (a gauge, approximate across members)
}

// NewProjector returns the live projector of the named projection (Orders, Products).
// store is read only to fill gaps in a stream (records missing from Kafka); newClient
// makes the consumer's franz-go clients.
func NewProjector(name string, cfg Config, pool *pgxpool.Pool, store eventstore.Store,
	newClient func(opts ...kgo.Opt) (*kgo.Client, error), log *slog.Logger) (*Projector, error) {
	m, err := modelByName(name)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var topics []string
	for _, st := range m.streamTypes() {
		t, err := cfg.Topics.ForStreamType(st)
		if err != nil {
			return nil, err
		}
		topics = append(topics, t)
	}
	p := &Projector{model: m, pool: pool, store: store, codec: schemas.Default(), log: log.With("projection", name)}
	p.consumer = consumer.New(consumer.Config{
		Group:           cfg.GroupPrefix + m.group(),
		Topics:          topics,
		DeadLetterTopic: cfg.Topics.DeadLetter(),
		MaxPollRecords:  cfg.MaxPollRecords,
		Offsets:         offsetStore{pool: pool, name: m.name()},
		MaxRetryBackoff: cfg.MaxRetryBackoff,
		Linger:          cfg.Linger,
	}, p, newClient, p.log)
	return p, nil
}

// Name implements lifecycle.Role.
func (p *Projector) Name() string { return "projector:" + p.model.name() }

// Start makes sure the projection has an active version, then consumes until stopped.
// A stop lets the batch in hand commit (or roll back) before it returns.
func (p *Projector) Start(ctx context.Context) error {
	ctx, done := p.Begin(ctx)
	defer done()
	p.pending = nil // a batch left by a stop mid-flush is delivered again
	if err := Setup(ctx, p.pool); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	return p.consumer.Start(ctx)
}

// Assigned returns the partitions this member owns now.
func (p *Projector) Assigned() map[string][]int32 { return p.consumer.Assigned() }

var errNoActive = errors.New("projections: no active version yet (is a first rebuild still running?)")

// Handle implements consumer.Handler: it keeps the batch for its poll's transaction
// (Flush). A poll carries a batch per partition, and a transaction per batch was most
// of a projector's cost under a steady trickle (lock, offset, apply, offset, notify and
// BEGIN/COMMIT, six partitions at a time).
func (p *Projector) Handle(_ context.Context, b consumer.Batch) error {
	p.pending = append(p.pending, b)
	return nil
}

// FlushIn implements consumer.Flusher: a poll's batches are applied as soon as the poll
// is handled.
func (p *Projector) FlushIn() time.Duration { return 0 }

// mergeRecords bounds the records of the batches one transaction takes together: a
// trickle's small batches share one, while a backlog's batches, thousands of records
// each, stay one per transaction (merging them saves nothing, and a transaction that
// fails would redo them all).
const mergeRecords = 1000

// Flush implements consumer.Flusher: the batches of a poll in one transaction (in
// several when they hold more than mergeRecords records together). It takes
// the projection's live lock shared (a switch-over takes it exclusively), locks the
// offset rows of the active version for every partition of the poll, skips the records
// below a partition's stored offset (redelivered, or handled meanwhile by another member
// after a rebalance), dead-letters what cannot be decoded, applies the rest and stores
// each partition's new offset. Either all of it commits or none; the runtime retries a
// failed flush with the same batches and commits to Kafka only after it succeeded.
func (p *Projector) Flush(ctx context.Context) error {
	for len(p.pending) > 0 {
		n, records := 1, len(p.pending[0].Records)
		for n < len(p.pending) && records+len(p.pending[n].Records) <= mergeRecords {
			records += len(p.pending[n].Records)
			n++
		}
		if err := p.apply(ctx, p.pending[:n]); err != nil {
			return err // a retry starts with the batches not applied yet
		}
		p.pending = p.pending[n:]
	}
	p.pending = nil
	return nil
}

// partitionKey names a partition of one of the projection's topics.
type partitionKey struct {
	topic     string
	partition int32
}

func (p *Projector) apply(ctx context.Context, batches []consumer.Batch) error {
	start := time.Now()
	name := p.model.name()
	// The partitions of the poll, sorted, so that two members (a zombie after a
	// rebalance) lock their common rows in one order.
	keys := make([]partitionKey, len(batches))
	for i, b := range batches {
		keys[i] = partitionKey{b.Topic, b.Partition}
	}
	slices.SortFunc(keys, func(a, b partitionKey) int {
		return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition))
	})
	keys = slices.Compact(keys)
	topics, partitions := make([]string, len(keys)), make([]int32, len(keys))
	for i, k := range keys {
		topics[i], partitions[i] = k.topic, k.partition
	}
	var (
		st               applyStats
		version          int
		belowOffset, dlq int
		maxPos           int64
		newest           time.Time
	)
	// BEGIN goes with the offset locks, COMMIT with the offsets' update.
	err := pgpool.InPipe(ctx, p.pool, func(tx *pgpool.PipeTx) (*pgx.Batch, error) {
		st, belowOffset, dlq, maxPos, newest = applyStats{}, 0, 0, 0, time.Time{}
		next := make(map[partitionKey]int64, len(keys))
		q := &pgx.Batch{}
		q.Queue(liveLockShared, name)
		// A separate statement, so that it reads the registry after the lock is granted.
		q.Queue(`INSERT INTO projection_offsets (name, version, topic, partition)
			SELECT v.name, v.version, u.topic, u.partition
			FROM projection_versions v, unnest($2::text[], $3::int[]) WITH ORDINALITY AS u(topic, partition, i)
			WHERE v.name = $1 AND v.state = 'active'
			ORDER BY u.i
			ON CONFLICT (name, version, topic, partition) DO UPDATE SET next_offset = projection_offsets.next_offset
			RETURNING version, topic, partition, next_offset`, name, topics, partitions,
		).Query(func(rows pgx.Rows) error {
			var (
				k   partitionKey
				off int64
			)
			_, err := pgx.ForEachRow(rows, []any{&version, &k.topic, &k.partition, &off}, func() error { next[k] = off; return nil })
			return err
		})
		if err := tx.SendBatch(ctx, q).Close(); err != nil {
			return nil, fmt.Errorf("lock offsets of %d partitions: %w", len(keys), err)
		}
		if len(next) != len(keys) {
			return nil, errNoActive
		}

		// What each partition reached: its next offset and its highest position.
		type reached struct{ next, pos int64 }
		upto := make(map[partitionKey]reached, len(keys))
		total := 0
		for _, b := range batches {
			total += len(b.Records)
		}
		evs := make([]event, 0, total)
		for _, b := range batches {
			k := partitionKey{b.Topic, b.Partition}
			from := next[k]
			got, touched := upto[k]
			for _, r := range b.Records {
				if r.Offset < from {
					belowOffset++
					continue
				}
				from = r.Offset + 1 // a partition's records once, even if two batches hold them
				got.next, touched = from, true
				ev, err := p.decodeRecord(r)
				if err != nil {
					if err := b.DeadLetter(ctx, r, err); err != nil {
						return nil, err
					}
					dlq++
					continue
				}
				evs = append(evs, ev)
				got.pos = max(got.pos, ev.Position)
				if ev.RecordedAt.After(newest) {
					newest = ev.RecordedAt
				}
			}
			next[k] = from
			if touched {
				upto[k] = got
				maxPos = max(maxPos, got.pos)
			}
		}
		if len(upto) == 0 {
			return nil, nil // all of it was applied before
		}
		var err error
		if st, err = p.model.apply(ctx, tx, version, evs, live, p.heal); err != nil {
			return nil, err
		}
		uTopics, uParts := make([]string, 0, len(upto)), make([]int32, 0, len(upto))
		uNext, uPos := make([]int64, 0, len(upto)), make([]int64, 0, len(upto))
		for _, k := range keys {
			if got, ok := upto[k]; ok {
				uTopics, uParts = append(uTopics, k.topic), append(uParts, k.partition)
				uNext, uPos = append(uNext, got.next), append(uPos, got.pos)
			}
		}
		// One round trip for both, and the COMMIT.
		q = &pgx.Batch{}
		q.Queue(`UPDATE projection_offsets o SET next_offset = greatest(o.next_offset, u.next_offset),
				position = greatest(o.position, u.position), updated_at = now()
			FROM unnest($3::text[], $4::int[], $5::bigint[], $6::bigint[]) AS u(topic, partition, next_offset, position)
			WHERE o.name = $1 AND o.version = $2 AND o.topic = u.topic AND o.partition = u.partition`,
			name, version, uTopics, uParts, uNext, uPos)
		// Delivered at commit: WaitForVersion callers look again.
		q.Queue(`SELECT pg_notify('ordo_projections_' || current_schema(), $1)`, name)
		return q, nil
	})
	if err != nil {
		return err
	}
	st.record(name, "live")
	if belowOffset > 0 {
		metricSkipped.WithLabelValues(name, "offset").Add(float64(belowOffset))
	}
	if dlq > 0 {
		metricDeadLettered.WithLabelValues(name).Add(float64(dlq))
	}
	metricApplySeconds.WithLabelValues(name).Observe(time.Since(start).Seconds())
	metricActiveVersion.WithLabelValues(name).Set(float64(version))
	if maxPos > 0 {
		if maxPos > p.position.Load() {
			p.position.Store(maxPos)
			metricPosition.WithLabelValues(name).Set(float64(maxPos))
		}
		metricDelay.WithLabelValues(name).Set(max(0, time.Since(newest).Seconds()))
	}
	return nil
}

// decodeRecord turns a Kafka record into an event of this projection. Records of other
// stream types cannot be on its topics; if one is (a misrouted or forged record), it is
// as undecodable as a corrupt one.
func (p *Projector) decodeRecord(r *kgo.Record) (event, error) {
	e, err := record.ToEvent(r)
	if err != nil {
		return event{}, err
	}
	_, typ, ok := streamKey(e.StreamID)
	if !ok || typ != e.StreamType || !wants(p.model, typ) {
		return event{}, fmt.Errorf("record of stream %q (type %q) does not belong to projection %s", e.StreamID, e.StreamType, p.model.name())
	}
	return decode(p.codec, e)
}

// heal reads versions [from, to] of a stream from the event store. Events the store
// itself cannot decode stay no-ops that advance the version, as in a rebuild.
func (p *Projector) heal(ctx context.Context, streamID string, from, to int64) ([]event, error) {
	stored, err := p.store.ReadStream(ctx, streamID, from, int(to-from+1))
	if err != nil {
		return nil, err
	}
	out := make([]event, 0, len(stored))
	for _, e := range stored {
		ev, err := decode(p.codec, e)
		if err != nil {
			p.log.Error("event in the store cannot be decoded; applied as a no-op", "stream", e.StreamID, "version", e.Version, "err", err)
		}
		out = append(out, ev)
	}
	return out, nil
}
