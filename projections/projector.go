package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
// default. A batch is one partition's records of a poll, so with six partitions the
// linger mostly merges the polls: in bench e2e it cut the projectors' transactions by
// about a fifth (7,432 to 5,886 over a run).
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
// GroupOrders or GroupProducts) whose batches are applied to the active version's tables
// in one Postgres transaction each, together with the partition's offset. It is a
// lifecycle role.
type Projector struct {
	lifecycle.Stopper
	model    model
	pool     *pgxpool.Pool
	store    eventstore.Store
	codec    *schemas.Codec
	log      *slog.Logger
	consumer *consumer.Consumer
	position atomic.Int64 // highest position applied by this process (a gauge, approximate across members)
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

// Handle implements consumer.Handler: one transaction per batch (one partition's
// records). It takes the projection's live lock shared (a switch-over takes it
// exclusively), locks the partition's offset row of the active version, skips the
// records below the stored offset (redelivered, or handled meanwhile by another member
// after a rebalance), dead-letters what cannot be decoded, applies the rest and stores
// the new offset. Either all of it commits or none.
func (p *Projector) Handle(ctx context.Context, b consumer.Batch) error {
	start := time.Now()
	name := p.model.name()
	var (
		st               applyStats
		version          int
		belowOffset, dlq int
		maxPos           int64
		newest           time.Time
	)
	// BEGIN goes with the offset lock, COMMIT with the offset's update.
	err := pgpool.InPipe(ctx, p.pool, func(tx *pgpool.PipeTx) (*pgx.Batch, error) {
		st, belowOffset, dlq, maxPos, newest = applyStats{}, 0, 0, 0, time.Time{}
		q := &pgx.Batch{}
		q.Queue(liveLockShared, name)
		// A separate statement, so that it reads the registry after the lock is granted.
		q.Queue(`INSERT INTO projection_offsets (name, version, topic, partition)
			SELECT name, version, $2, $3 FROM projection_versions WHERE name = $1 AND state = 'active'
			ON CONFLICT (name, version, topic, partition) DO UPDATE SET next_offset = projection_offsets.next_offset
			RETURNING version, next_offset`, name, b.Topic, b.Partition)
		br := tx.SendBatch(ctx, q)
		var next int64
		_, err := br.Exec()
		if err == nil {
			err = br.QueryRow().Scan(&version, &next)
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, errNoActive
		}
		if err != nil {
			return nil, fmt.Errorf("lock offset of %s/%d: %w", b.Topic, b.Partition, err)
		}

		evs := make([]event, 0, len(b.Records))
		last := int64(-1)
		for _, r := range b.Records {
			if r.Offset < next {
				belowOffset++
				continue
			}
			last = r.Offset
			ev, err := p.decodeRecord(r)
			if err != nil {
				if err := b.DeadLetter(ctx, r, err); err != nil {
					return nil, err
				}
				dlq++
				continue
			}
			evs = append(evs, ev)
			maxPos = max(maxPos, ev.Position)
			if ev.RecordedAt.After(newest) {
				newest = ev.RecordedAt
			}
		}
		if last < 0 {
			return nil, nil // all of it was applied before
		}
		if st, err = p.model.apply(ctx, tx, version, evs, live, p.heal); err != nil {
			return nil, err
		}
		// One round trip for both, and the COMMIT.
		q = &pgx.Batch{}
		q.Queue(`UPDATE projection_offsets SET next_offset = greatest(next_offset, $5),
				position = greatest(position, $6), updated_at = now()
			WHERE name = $1 AND version = $2 AND topic = $3 AND partition = $4`,
			name, version, b.Topic, b.Partition, last+1, maxPos)
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
