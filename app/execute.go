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
}

// NewEnv returns an Env over store with the default codec and clock.
func NewEnv(store *postgres.Store) *Env {
	return &Env{Store: store, Codec: schemas.Default(), Now: time.Now}
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

type txKey struct{}

// WithTx returns a context whose commands append inside tx (an outer transaction the
// caller commits), for example to store an idempotency record with the events.
func WithTx(ctx context.Context, tx pgx.Tx) context.Context {
	return context.WithValue(ctx, txKey{}, tx)
}

func txFrom(ctx context.Context) pgx.Tx {
	tx, _ := ctx.Value(txKey{}).(pgx.Tx)
	return tx
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
		a, res, err := executeOnce(ctx, env, cmd)
		if err == nil {
			return a, res, nil
		}
		if !errors.Is(err, eventstore.ErrVersionConflict) || attempt >= attempts {
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
	var version int64
	for from := int64(1); ; {
		page, err := env.Store.ReadStream(ctx, streamID, from, 1000)
		if err != nil {
			return a, 0, err
		}
		for _, se := range page {
			e, err := env.Codec.Decode(se.Type, se.SchemaVersion, se.Payload)
			if err != nil {
				return a, 0, fmt.Errorf("load %s@%d: %w", streamID, se.Version, err)
			}
			if err := a.Evolve(e); err != nil {
				return a, 0, fmt.Errorf("load %s@%d: %w", streamID, se.Version, err)
			}
			version = se.Version
		}
		if len(page) < 1000 {
			return a, version, nil
		}
		from = version + 1
	}
}

func executeOnce[A Aggregate](ctx context.Context, env *Env, cmd Command[A]) (A, Result, error) {
	a, version, err := Load(ctx, env, cmd.Stream.ID, cmd.New)
	if err != nil {
		return a, Result{}, err
	}
	events, err := cmd.Decide(a)
	if err != nil {
		return a, Result{}, err
	}
	if len(events) == 0 {
		return a, Result{Version: version}, nil
	}
	now := env.now()
	batch := make([]eventstore.NewEvent, len(events))
	for i, e := range events {
		enc, err := env.Codec.Encode(e)
		if err != nil {
			return a, Result{}, err
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
	outer := txFrom(ctx)
	switch {
	case outer == nil && cmd.InTx == nil:
		res, err = env.Store.Append(ctx, cmd.Stream, eventstore.Exact(version), batch...)
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
		return a, Result{}, err
	}
	if res.FirstVersion != version+1 {
		// The store recognised a retry of an earlier, committed append with the same ids.
		return a, Result{Version: res.LastVersion, Position: res.LastPosition, Events: events}, nil
	}
	for _, e := range events {
		if err := a.Evolve(e); err != nil {
			return a, Result{}, err
		}
	}
	return a, Result{Version: res.LastVersion, Position: res.LastPosition, Events: events}, nil
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
