package app

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/internal/telemetry"
	"github.com/ordo-platform/ordo/schemas"
)

// Env is what command handlers share.
type Env struct {
	Store *postgres.Store
	Codec *schemas.Codec
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Cache holds folded aggregates of commands that ask for it (Command.Cached).
	Cache *Cache
}

// NewEnv returns an Env over store with the default codec and clock and a cache of
// 10,000 streams.
func NewEnv(store *postgres.Store) *Env {
	return &Env{Store: store, Codec: schemas.Default(), Now: time.Now, Cache: NewCache(10_000)}
}

func (e *Env) now() time.Time {
	if e.Now == nil {
		return time.Now().UTC()
	}
	return e.Now().UTC()
}

// Aggregate is what Execute folds a stream into.
type Aggregate interface {
	Evolve(domain.Event) error
}

// Command is one load-decide-append.
type Command[A Aggregate] struct {
	// Stream is the aggregate's stream.
	Stream eventstore.Stream
	// New returns the empty aggregate to fold the stream into.
	New func() A
	// Decide returns the events the command causes, or a *domain.Error. No events
	// means nothing to do (an idempotent repeat).
	Decide func(A) ([]domain.Event, error)
	// Meta travels with every event.
	Meta eventstore.Metadata
	// IDSeed, when set, derives the event ids from it (UUIDv5 of seed and index), so
	// that a retried command appends the same ids and the store keeps only the first.
	IDSeed string
	// InTx, when set, runs in the append's transaction after the append succeeded, with
	// the folded aggregate and the new events: rows written there commit with them.
	InTx func(ctx context.Context, tx pgx.Tx, a A, events []domain.Event) error
	// MaxAttempts bounds the retries on a version conflict (default 5).
	MaxAttempts int
	// Cached keeps the folded aggregate in Env.Cache between commands: for long, hot
	// streams (inventories). The aggregate is then shared: Execute returns the zero A,
	// and After is how the caller reads the state after the command.
	Cached bool
	// NewStream says the stream is new (its id was just made, or its first command is
	// being run): the first attempt decides on the empty aggregate without reading the
	// stream (when Cached, only if nothing is cached), and appends only if the stream
	// still has no events; a conflict reads it and decides again, as after any race.
	NewStream bool
	// After, when set, is called with the aggregate after a successful command (with
	// the new events applied, or unchanged when there were none), while no other
	// command of this process can change it.
	After func(A)
}

// Result is what an executed command did.
type Result struct {
	// Version is the stream's version after the command (unchanged when it decided
	// nothing).
	Version int64
	// Position is the global position of the last appended event (0 when none).
	Position int64
	// Events are the events appended.
	Events []domain.Event
}

// Execute runs cmd: load, fold, decide, append at the loaded version; on a version
// conflict it starts over, at most MaxAttempts times. It returns the aggregate with the
// new events applied.
func Execute[A Aggregate](ctx context.Context, env *Env, cmd Command[A]) (_ A, _ Result, err error) {
	ctx, span := tracer.Start(ctx, "command "+cmd.Stream.Type, trace.WithAttributes(
		attribute.String("ordo.stream_id", cmd.Stream.ID)))
	defer func() {
		if err != nil {
			span.RecordError(err)
			if domain.KindOf(err) == domain.KindUnknown {
				span.SetStatus(codes.Error, err.Error())
			}
		}
		span.End()
	}()
	if cmd.Meta.TraceParent == "" {
		// The events remember the trace that caused them; the relay and every consumer
		// continue it.
		cmd.Meta.TraceParent = telemetry.TraceParent(ctx)
	}
	attempts := cmd.MaxAttempts
	if attempts <= 0 {
		attempts = 5
	}
	var zero A
	for attempt := 1; ; attempt++ {
		var (
			a   A
			res Result
			err error
		)
		if cmd.Cached && env.Cache != nil {
			res, err = executeCached(ctx, env, cmd, cmd.NewStream && attempt == 1)
		} else {
			a, res, err = executeOnce(ctx, env, cmd, cmd.NewStream && attempt == 1)
			if err == nil && cmd.After != nil {
				cmd.After(a)
			}
		}
		if err == nil {
			return a, res, nil
		}
		if !errors.Is(err, eventstore.ErrVersionConflict) || attempt >= attempts {
			return zero, Result{}, err
		}
		if o := outerFrom(ctx); o != nil && o.tracked {
			// A tracked transaction appends without a savepoint: the failed append aborted
			// it, and only its owner can start over (in a new one).
			return zero, Result{}, err
		}
		// Another writer won: back off a little (jittered) and decide again on fresh state.
		d := time.Duration(attempt*attempt) * time.Millisecond
		select {
		case <-ctx.Done():
			return zero, Result{}, ctx.Err()
		case <-time.After(d + rand.N(d+time.Millisecond)):
		}
	}
}

// Load folds a stream into a fresh aggregate and returns it with the stream's version.
func Load[A Aggregate](ctx context.Context, env *Env, streamID string, newA func() A) (A, int64, error) {
	a := newA()
	version, err := catchUp(ctx, env, streamID, a, 0)
	if err != nil {
		return a, 0, err
	}
	return a, version, nil
}

// executeOnce loads, decides and appends; unread takes the stream as empty instead of
// reading it (the append refuses if it is not).
// LoadMany folds each of several streams into a fresh aggregate, reading them together
// (one round trip when they are short), and returns the aggregates by stream id.
func LoadMany[A Aggregate](ctx context.Context, env *Env, streamIDs []string, newA func() A) (map[string]A, error) {
	out := make(map[string]A, len(streamIDs))
	versions := make(map[string]int64, len(streamIDs))
	ids := make([]string, 0, len(streamIDs))
	for _, id := range streamIDs {
		if _, ok := out[id]; !ok {
			out[id] = newA()
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return out, nil
	}
	var tx pgx.Tx
	if o := outerFrom(ctx); o != nil && o.tracked {
		tx = o.tx
	}
	const limit = 256
	page, err := env.Store.ReadStreams(ctx, tx, ids, limit)
	if err != nil {
		return nil, err
	}
	for _, se := range page {
		if err := evolve(env, out[se.StreamID], se); err != nil {
			return nil, err
		}
		versions[se.StreamID] = se.Version
	}
	if len(page) == limit {
		// A stream may have been cut off by the limit, and the ones after it not read at
		// all: read each on from where it got to.
		for _, id := range ids {
			if _, err := catchUp(ctx, env, id, out[id], versions[id]); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func executeOnce[A Aggregate](ctx context.Context, env *Env, cmd Command[A], unread bool) (A, Result, error) {
	if unread {
		// A refusal, or nothing to do, decided on the stream taken as empty proves
		// nothing: then decide again on the stream read.
		a := cmd.New()
		res, _, err := decideAndAppend(ctx, env, cmd, a, 0, true)
		if _, refused := domain.AsError(err); !refused && (err != nil || len(res.Events) > 0) {
			return a, res, err
		}
	}
	a, version, err := Load(ctx, env, cmd.Stream.ID, cmd.New)
	if err != nil {
		return a, Result{}, err
	}
	res, _, err := decideAndAppend(ctx, env, cmd, a, version, true)
	return a, res, err
}

// executeCached runs cmd on the cached aggregate: catch up from the cached version,
// decide, append; the cache moves only to committed state. Inside a tracked transaction
// the stream stays locked until the transaction ends, and the events reach the cache at
// its commit (see WithTrackedTx).
func executeCached[A Aggregate](ctx context.Context, env *Env, cmd Command[A], unread bool) (Result, error) {
	outer := outerFrom(ctx)
	if outer != nil && !outer.tracked {
		outer = nil
	}
	e := env.Cache.get(cmd.Stream.ID)
	var held *heldEntry
	if outer != nil {
		held = outer.holding(e)
	}
	if held == nil {
		var err error
		if e, err = env.Cache.entry(ctx, cmd.Stream.ID); err != nil {
			return Result{}, err
		}
		if outer != nil {
			held = outer.hold(e) // unlocked when the transaction ends
		} else {
			defer e.unlock()
		}
	}
	a, ok := e.agg.(A)
	if !ok { // nothing cached (or another type under this stream: start over)
		// A new stream is taken as empty, as if this process had written it: the append
		// at version 0 is refused if it is not.
		a, e.version, e.head = cmd.New(), 0, unread
		e.agg = a
	}
	// When this process wrote the stream's last event, the cached state is taken as the
	// head without reading the stream: the append at its version is refused if another
	// process appended since. A decision that appends nothing (a refusal, or nothing to
	// do) proves nothing, so it is made again on the stream read to its head.
	caughtUp := false
	var (
		v         = e.version
		res       Result
		committed bool
		err       error
	)
	for {
		if !e.head || caughtUp {
			if v, err = catchUp(ctx, env, cmd.Stream.ID, a, e.version); err != nil {
				e.agg, e.head = nil, false // the fold may be half applied: forget it
				return Result{}, err
			}
			e.version, e.head, caughtUp = v, true, true
		}
		// Inside a caller's transaction the events may still roll back: the cached state
		// then stays at the committed version v, and the next command reads from there.
		res, committed, err = decideAndAppend(ctx, env, cmd, a, v, false)
		_, refused := domain.AsError(err)
		if caughtUp || !(refused || (err == nil && len(res.Events) == 0)) {
			break
		}
		caughtUp = true
	}
	fresh := len(res.Events) > 0 && res.Version == v+int64(len(res.Events))
	switch {
	case err != nil:
		if committed {
			e.agg = nil // appended, but applying failed half way: forget the state
		}
		if _, refused := domain.AsError(err); !refused {
			e.head = false // another writer may have appended
		}
		return Result{}, err
	case committed && fresh:
		e.version = res.Version
	case committed:
		e.head = len(res.Events) == 0 // a recognised retry: read the stream next time
	case held != nil && fresh && !held.applied:
		// Appended at v+1...: the transaction's end applies them if it commits.
		held.base, held.events, held.applied = v, res.Events, true
	default:
		e.head = false // the caller's transaction decides; read the stream next time
	}
	if cmd.After != nil {
		cmd.After(a)
	}
	return res, nil
}

// catchUp evolves a with the stream's events after version and returns the new version.
// In a tracked transaction it reads on the transaction's connection (and so sees what
// the transaction appended).
func catchUp(ctx context.Context, env *Env, streamID string, a Aggregate, version int64) (int64, error) {
	// Most reads are of a few events (a product, an order, a cached inventory catching
	// up): a small first page spares the store's reader a buffer sized for a large one.
	limit := 32
	for {
		var (
			page []eventstore.Event
			err  error
		)
		if o := outerFrom(ctx); o != nil && o.tracked {
			page, err = env.Store.ReadStreamTx(ctx, o.tx, streamID, version+1, limit)
		} else {
			page, err = env.Store.ReadStream(ctx, streamID, version+1, limit)
		}
		if err != nil {
			return version, err
		}
		for _, se := range page {
			if err := evolve(env, a, se); err != nil {
				return version, err
			}
			version = se.Version
		}
		if len(page) < limit {
			return version, nil
		}
		limit = 1000
	}
}

// evolve decodes se and applies it to a.
func evolve(env *Env, a Aggregate, se eventstore.Event) error {
	e, err := env.Codec.Decode(se.Type, se.SchemaVersion, se.Payload)
	if err != nil {
		return fmt.Errorf("load %s@%d: %w", se.StreamID, se.Version, err)
	}
	if err := a.Evolve(e); err != nil {
		return fmt.Errorf("load %s@%d: %w", se.StreamID, se.Version, err)
	}
	return nil
}

// decideAndAppend decides on a (folded to version) and appends. On success the events
// are applied to a when they are committed, or when evolveUncommitted allows it (a is
// the caller's own). committed says whether they are committed already (false inside a
// caller's transaction) and a has them.
func decideAndAppend[A Aggregate](ctx context.Context, env *Env, cmd Command[A], a A, version int64, evolveUncommitted bool) (Result, bool, error) {
	events, err := cmd.Decide(a)
	if err != nil {
		return Result{}, false, err
	}
	if len(events) == 0 {
		return Result{Version: version}, true, nil
	}
	now := env.now()
	batch := make([]eventstore.NewEvent, len(events))
	for i, e := range events {
		enc, err := env.Codec.Encode(e)
		if err != nil {
			return Result{}, false, err
		}
		batch[i] = eventstore.NewEvent{
			ID:                eventID(cmd.IDSeed, i),
			Type:              enc.Type,
			SchemaVersion:     enc.Version,
			SchemaFingerprint: enc.Fingerprint,
			Payload:           enc.Payload,
			OccurredAt:        now,
			Metadata:          cmd.Meta,
		}
	}

	var res eventstore.AppendResult
	outer, o := txFrom(ctx), outerFrom(ctx)
	switch {
	case outer == nil && cmd.InTx == nil:
		res, err = env.Store.Append(ctx, cmd.Stream, eventstore.Exact(version), batch...)
	case outer != nil && o.queue != nil && cmd.InTx == nil:
		// Sent with the transaction's next statement; a refusal fails the commit.
		res, err = env.Store.QueueAppend(o.queue, cmd.Stream, eventstore.Exact(version), batch...)
	case outer != nil && o.tracked:
		// No savepoint (two round trips saved): a failed append aborts the transaction,
		// and Execute leaves the retry to its owner.
		if res, err = env.Store.AppendTx(ctx, outer, cmd.Stream, eventstore.Exact(version), batch...); err == nil {
			if res.FirstVersion != version+1 {
				// A retry of a committed append: the store recognised it, but only after its
				// insert failed, which aborted the transaction. Start over; the next attempt
				// finds the events and decides nothing.
				err = fmt.Errorf("%w: %s already has these events; retry in a new transaction", eventstore.ErrVersionConflict, cmd.Stream)
			} else if cmd.InTx != nil {
				err = cmd.InTx(ctx, outer, a, events)
			}
		}
	default:
		err = inTx(ctx, env, outer, func(tx pgx.Tx) error {
			var err error
			if res, err = env.Store.AppendTx(ctx, tx, cmd.Stream, eventstore.Exact(version), batch...); err != nil {
				return err
			}
			if cmd.InTx != nil {
				return cmd.InTx(ctx, tx, a, events)
			}
			return nil
		})
	}
	if err != nil {
		return Result{}, false, err
	}
	committed := outer == nil
	if res.FirstVersion != version+1 {
		// The store recognised a retry of an earlier, committed append with the same ids;
		// a does not have those events (the caller re-reads when it needs them).
		return Result{Version: res.LastVersion, Position: res.LastPosition, Events: events}, false, nil
	}
	if !committed && !evolveUncommitted {
		return Result{Version: res.LastVersion, Position: res.LastPosition, Events: events}, false, nil
	}
	for _, e := range events {
		if err := a.Evolve(e); err != nil {
			return Result{}, committed, err
		}
	}
	return Result{Version: res.LastVersion, Position: res.LastPosition, Events: events}, committed, nil
}

// inTx runs fn in a savepoint of the caller's transaction, or in a new transaction of
// its own, so that a failed attempt can be retried cleanly.
func inTx(ctx context.Context, env *Env, outer pgx.Tx, fn func(pgx.Tx) error) error {
	var (
		tx  pgx.Tx
		err error
	)
	if outer != nil {
		tx, err = outer.Begin(ctx) // a savepoint
	} else {
		tx, err = env.Store.Pool().Begin(ctx)
	}
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	if outer == nil {
		env.Store.Notify()
	}
	return nil
}

var tracer = telemetry.Tracer("app")

// idNamespace is the UUIDv5 namespace of seeded event ids.
var idNamespace = uuid.MustParse("6f1d3c2e-8a4b-5b7e-9c1d-0e2f3a4b5c6d")

func eventID(seed string, i int) uuid.UUID {
	if seed == "" {
		return eventstore.NewID()
	}
	return uuid.NewHash(sha1.New(), idNamespace, []byte(fmt.Sprintf("%s/%d", seed, i)), 5)
}
