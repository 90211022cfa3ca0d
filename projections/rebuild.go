package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/schemas"
)

// RebuildOptions tune a rebuild.
type RebuildOptions struct {
	// PageSize is how many events are read from the store, applied and checkpointed at
	// once (default 50000).
	PageSize int
	// Progress, when set, is called after every checkpoint and at each phase change.
	Progress func(RebuildProgress)
	// Log receives a line per phase (discarded when nil).
	Log *slog.Logger
}

// Rebuild phases, in order.
const (
	PhaseRebuild = "rebuild" // bulk load from the store into the new version
	PhaseIndex   = "index"   // secondary indexes on the loaded tables
	PhaseCatchUp = "catch-up"
	PhaseSwitch  = "switch" // under the live lock: last events, offsets, flip
	PhaseDone    = "done"
)

// RebuildProgress is a rebuild's state, reported after each checkpoint.
type RebuildProgress struct {
	Projection string
	Version    int
	Phase      string
	// Position is the store position checkpointed so far.
	Position int64
	// Events counts the store events read into this version so far (every stream type:
	// the store leaves out other projections' events or they are skipped here), across
	// resumed runs.
	Events int64
	// RunEvents counts the events read by this run.
	RunEvents int64
	// Remaining estimates the events still to read (from the store's Backlog; -1 when
	// the store cannot tell). It is counted only for a Progress callback.
	Remaining int64
	Elapsed   time.Duration
}

// RebuildResult says what a rebuild did.
type RebuildResult struct {
	Projection string
	// Version is the new active version; Previous the one it replaced (0 if none).
	Version, Previous int
	// Resumed is true when this run continued a rebuild that had been interrupted.
	Resumed bool
	// Position is the store position the new version had applied at the switch.
	Position int64
	// Events is how many store events this run read; Applied how many changed a row.
	Events, Applied int64
	// Duration is the whole run; SwitchDuration the time the live projector waited.
	Duration, SwitchDuration time.Duration
}

// Rate is the events per second this run read and applied (store to read model).
func (r RebuildResult) Rate() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Events) / r.Duration.Seconds()
}

// Rebuild rebuilds a projection from the event store (ReadAll from position 0, never
// from Kafka) into a new version of its tables while the active version keeps serving,
// then switches over atomically. See the package documentation for the procedure and
// why no event is lost or applied twice at the hand-over.
//
// It writes only read-model tables and the projection registry: it has no Kafka
// client, publishes nothing and calls nothing, so a replay cannot send a notification,
// take a payment or run a saga step.
//
// One rebuild per projection runs at a time (ErrRebuildRunning otherwise). An
// interrupted rebuild (killed, cancelled, lost connection) resumes from its last
// checkpoint on the next call.
func Rebuild(ctx context.Context, pool *pgxpool.Pool, store eventstore.Store, name string, opts RebuildOptions) (RebuildResult, error) {
	m, err := modelByName(name)
	if err != nil {
		return RebuildResult{}, err
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 50000
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("projection", name)
	start := time.Now()
	res := RebuildResult{Projection: name}

	// Every write of the rebuild goes through this one connection, which holds the
	// rebuild lock: a rebuild that lost its lock (connection gone) cannot write anymore.
	pc, err := pool.Acquire(ctx)
	if err != nil {
		return res, err
	}
	conn := pc.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	var got bool
	if err := conn.QueryRow(ctx, rebuildLock, name).Scan(&got); err != nil {
		return res, fmt.Errorf("rebuild lock: %w", err)
	}
	if !got {
		return res, fmt.Errorf("%w: %s", ErrRebuildRunning, name)
	}
	// Unlock before the close when the connection still works: the server ends a closed
	// session's backend (and drops its locks) a moment later, and a rebuild started again
	// at once (after a cancel) would find the lock still held.
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if !conn.IsClosed() {
			_, _ = conn.Exec(uctx, rebuildUnlock, name)
		}
	}()
	// Checkpoints commit with the rows they cover, so losing the last commits in a crash
	// only means reading those pages again: no need to wait for the WAL flush.
	if _, err := conn.Exec(ctx, `SET synchronous_commit = off`); err != nil {
		return res, err
	}

	b := &rebuilder{m: m, conn: conn, store: store, codec: schemas.Default(), opts: opts, log: log, start: start}
	if err := b.begin(ctx); err != nil {
		return res, err
	}
	res.Version, res.Resumed = b.version, b.resumed
	log.Info("rebuild starting", "version", b.version, "resumed", b.resumed, "from", b.position)

	b.remaining = -1
	if opts.Progress != nil { // counting a large backlog takes a while: only for a display
		b.remaining = b.backlog(ctx)
	}
	b.report(PhaseRebuild)
	if err := b.load(ctx); err != nil {
		return b.result(res), err
	}
	b.report(PhaseIndex)
	if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return m.indexes(ctx, tx, b.version) }); err != nil {
		return b.result(res), fmt.Errorf("create indexes: %w", err)
	}
	b.report(PhaseCatchUp)
	if err := b.load(ctx); err != nil { // what arrived while the indexes were built
		return b.result(res), err
	}
	b.report(PhaseSwitch)
	switchStart := time.Now()
	if res.Previous, err = b.switchOver(ctx); err != nil {
		return b.result(res), err
	}
	res.SwitchDuration = time.Since(switchStart)
	metricActiveVersion.WithLabelValues(name).Set(float64(b.version))
	b.remaining = 0
	b.report(PhaseDone)
	res = b.result(res)
	log.Info("rebuild switched over", "version", b.version, "previous", res.Previous, "position", b.position,
		"events", res.Events, "rate", res.Rate(), "switch", res.SwitchDuration)
	return res, nil
}

type rebuilder struct {
	m       model
	conn    *pgx.Conn
	store   eventstore.Store
	codec   *schemas.Codec
	opts    RebuildOptions
	log     *slog.Logger
	start   time.Time
	version int
	resumed bool

	position, events, runEvents, applied int64
	remaining                            int64
	phase                                string
}

func (b *rebuilder) result(r RebuildResult) RebuildResult {
	r.Position, r.Events, r.Applied = b.position, b.runEvents, b.applied
	r.Duration = time.Since(b.start)
	return r
}

// begin finds the building version to resume, or registers a new one with empty tables.
func (b *rebuilder) begin(ctx context.Context) error {
	return pgx.BeginFunc(ctx, b.conn, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT version, position, events FROM projection_versions WHERE name = $1 AND state = 'building'`,
			b.m.name()).Scan(&b.version, &b.position, &b.events)
		if err == nil {
			b.resumed = true
			return b.m.create(ctx, tx, b.version) // IF NOT EXISTS: they are there
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("find rebuild to resume: %w", err)
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) + 1 FROM projection_versions WHERE name = $1`,
			b.m.name()).Scan(&b.version); err != nil {
			return err
		}
		for _, t := range b.m.tables(b.version) { // leftovers of a version dropped from the registry by hand
			if _, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+pgx.Identifier{t}.Sanitize()); err != nil {
				return err
			}
		}
		if err := b.m.create(ctx, tx, b.version); err != nil {
			return fmt.Errorf("create tables: %w", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO projection_versions (name, version, state) VALUES ($1, $2, 'building')`, b.m.name(), b.version)
		return err
	})
}

func (b *rebuilder) backlog(ctx context.Context) int64 {
	bl, ok := b.store.(eventstore.Backlogger)
	if !ok {
		return -1
	}
	n, _, err := bl.Backlog(ctx, b.position)
	if err != nil {
		return -1
	}
	return n
}

func (b *rebuilder) report(phase string) {
	b.phase = phase
	metricRebuildPosition.WithLabelValues(b.m.name()).Set(float64(b.position))
	if b.opts.Progress != nil {
		b.opts.Progress(RebuildProgress{
			Projection: b.m.name(), Version: b.version, Phase: phase, Position: b.position,
			Events: b.events, RunEvents: b.runEvents, Remaining: b.remaining, Elapsed: time.Since(b.start),
		})
	}
}

// page is one read of the store, decoded.
type page struct {
	events []event // the projection's events
	read   int     // events read (all stream types)
	last   int64   // position of the last event read
	err    error
}

// load reads the store from the checkpoint until a read comes back short (close to the
// head), applying and checkpointing page by page. Reading and decoding the next page
// overlaps with writing the current one.
func (b *rebuilder) load(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	pages := make(chan page, 2)
	defer func() {
		cancel()
		for range pages { // let the reader end before returning
		}
	}()
	go func() {
		defer close(pages)
		after := b.position
		for {
			p := b.read(ctx, after)
			select {
			case pages <- p:
			case <-ctx.Done():
				return
			}
			if p.err != nil || p.read < b.opts.PageSize {
				return
			}
			after = p.last
		}
	}()
	lastRefresh := time.Now()
	for p := range pages {
		if p.err != nil {
			return p.err
		}
		if p.read == 0 {
			return nil
		}
		if err := b.write(ctx, p); err != nil {
			return err
		}
		if b.remaining >= 0 {
			b.remaining = max(0, b.remaining-int64(p.read))
			if time.Since(lastRefresh) > 10*time.Second || b.remaining == 0 {
				b.remaining, lastRefresh = b.backlog(ctx), time.Now()
			}
		}
		b.report(b.phase)
	}
	return ctx.Err()
}

func (b *rebuilder) read(ctx context.Context, after int64) page {
	var (
		p      page
		stored []eventstore.Event
		err    error
	)
	if tr, ok := b.store.(eventstore.StreamTypeReader); ok {
		// The store leaves out the other stream types' events (most of the store, for
		// some read models) instead of sending them to be skipped here.
		stored, p.read, p.last, err = tr.ReadAllTypes(ctx, after, b.opts.PageSize, b.m.streamTypes())
	} else if stored, err = b.store.ReadAll(ctx, after, b.opts.PageSize); err == nil && len(stored) > 0 {
		p.read, p.last = len(stored), stored[len(stored)-1].Position
	}
	if err != nil {
		return page{err: err}
	}
	p.events = make([]event, 0, len(stored))
	for _, e := range stored {
		if !wants(b.m, e.StreamType) {
			continue
		}
		ev, err := decode(b.codec, e)
		if err != nil {
			// The live projector dead-letters such a record and fills the version from the
			// store, where it is the same no-op: both paths end in the same state.
			b.log.Error("event cannot be decoded; applied as a no-op", "stream", e.StreamID, "version", e.Version, "err", err)
		}
		p.events = append(p.events, ev)
	}
	return p
}

// write applies a page and moves the checkpoint in one transaction.
func (b *rebuilder) write(ctx context.Context, p page) error {
	var st applyStats
	err := pgx.BeginFunc(ctx, b.conn, func(tx pgx.Tx) error {
		var err error
		if st, err = b.m.apply(ctx, tx, b.version, p.events, bulk, nil); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE projection_versions SET position = $3, events = events + $4, updated_at = now()
			WHERE name = $1 AND version = $2 AND state = 'building'`, b.m.name(), b.version, p.last, p.read)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("version %d of %s is no longer building", b.version, b.m.name())
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rebuild %s v%d after position %d: %w", b.m.name(), b.version, b.position, err)
	}
	st.record(b.m.name(), "rebuild")
	b.position = p.last
	b.events += int64(p.read)
	b.runEvents += int64(p.read)
	b.applied += int64(st.applied)
	return nil
}

// switchOver makes the new version the active one, in one transaction that holds the
// projection's live lock exclusively, so no live batch runs meanwhile:
//
//  1. find the highest position the live projector has applied to the active version
//     (max over its partitions' offset rows);
//  2. apply the store's events until the new version is at least there (and at the
//     head, as far as the store shows it now);
//  3. give the new version the active version's Kafka offsets: everything below them is
//     in the new version (step 2), everything from them on is consumed into it, and
//     what it already has is skipped by the per-row version guards;
//  4. retire the old version, activate the new one, point the view at it, notify.
//
// Queries see the old version until the commit and the new one after it.
func (b *rebuilder) switchOver(ctx context.Context) (int, error) {
	var old int
	name := b.m.name()
	err := pgx.BeginFunc(ctx, b.conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = on`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, liveLockExclusive, name); err != nil {
			return fmt.Errorf("live lock: %w", err)
		}
		var err error
		if old, err = activeVersion(ctx, tx, name); err != nil {
			return err
		}
		var liveAt int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM projection_offsets WHERE name = $1 AND version = $2`,
			name, old).Scan(&liveAt); err != nil {
			return err
		}
		for {
			p := b.read(ctx, b.position)
			if p.err != nil {
				return p.err
			}
			if p.read == 0 {
				if b.position < liveAt {
					// Only a record that is not in the store (forged onto Kafka) can be ahead.
					b.log.Warn("live projector reports a position the store does not have", "live", liveAt, "store", b.position)
				}
				break
			}
			st, err := b.m.apply(ctx, tx, b.version, p.events, bulk, nil)
			if err != nil {
				return err
			}
			st.record(name, "rebuild")
			b.position, b.applied = p.last, b.applied+int64(st.applied)
			b.events, b.runEvents = b.events+int64(p.read), b.runEvents+int64(p.read)
			if p.read < b.opts.PageSize && b.position >= liveAt {
				break
			}
		}
		if old != 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO projection_offsets (name, version, topic, partition, next_offset, position)
				SELECT name, $3, topic, partition, next_offset, position FROM projection_offsets WHERE name = $1 AND version = $2
				ON CONFLICT (name, version, topic, partition) DO UPDATE SET next_offset = excluded.next_offset,
					position = excluded.position, updated_at = now()`, name, old, b.version); err != nil {
				return fmt.Errorf("hand over offsets: %w", err)
			}
			if _, err := tx.Exec(ctx, `UPDATE projection_versions SET state = 'retired', retired_at = now(), updated_at = now()
				WHERE name = $1 AND version = $2`, name, old); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, `UPDATE projection_versions SET state = 'active', position = $3, events = $4,
				activated_at = now(), updated_at = now()
			WHERE name = $1 AND version = $2 AND state = 'building'`, name, b.version, b.position, b.events)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("version %d of %s is no longer building", b.version, name)
		}
		if err := replaceView(ctx, tx, b.m, b.version); err != nil {
			return fmt.Errorf("switch view: %w", err)
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify('ordo_projections_' || current_schema(), $1)`, name)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("switch %s to v%d: %w", name, b.version, err)
	}
	return old, nil
}
