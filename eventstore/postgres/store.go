package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/internal/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the event store's schema migrations.
func Migrations() pgmigrate.Set {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	return pgmigrate.Set{Name: "eventstore", FS: sub}
}

// Store is the Postgres event store. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	channel string
	notify  *listener
	group   *committer
	// groupPool is what the group committer writes on: connections of its own that plan
	// the group statement generically (see genericPlans), or pool when those cannot be
	// made.
	groupPool *pgxpool.Pool
}

// Option configures a Store.
type Option func(*options)

type options struct{ groupWorkers int }

// DefaultGroupWorkers is how many group commits may be in flight at once by default.
const DefaultGroupWorkers = 2

// WithGroupCommit sets how many group commits (see group.go) may be in flight at once;
// 0 turns grouping off, so that every Append is a transaction of its own.
func WithGroupCommit(workers int) Option {
	return func(o *options) { o.groupWorkers = max(workers, 0) }
}

var _ eventstore.Store = (*Store)(nil)
var _ eventstore.Notifier = (*Store)(nil)
var _ eventstore.StreamTypeReader = (*Store)(nil)

// New returns a store over pool. The tables must exist (Migrations). The schema the pool
// resolves "events" to (its search_path) names the notification channel, so stores in
// different schemas do not wake each other.
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	o := options{groupWorkers: DefaultGroupWorkers}
	for _, opt := range opts {
		opt(&o)
	}
	var schema string
	if err := pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return nil, fmt.Errorf("eventstore: current schema: %w", err)
	}
	s := &Store{pool: pool, channel: "ordo_events_" + schema}
	s.notify = newListener(pool, s.channel)
	s.groupPool = pool
	if o.groupWorkers > 0 {
		// Without them (a PgBouncer that refuses the setting at connect, say) groups are
		// planned as Postgres chooses, as before: slower for small groups, not wrong.
		if gp, err := genericPlans(ctx, pool, o.groupWorkers, schema); err == nil {
			s.groupPool = gp
		}
	}
	s.group = newCommitter(s, o.groupWorkers)
	return s, nil
}

// genericPlans returns a pool like pool (its settings, schema and hooks) of at most n
// connections, opened on first use, that plan prepared statements generically.
//
// Planning the group statement costs more than executing a small group. A connection's
// first groups are often small (2-8 appends), their custom plans look cheaper than a
// generic plan (which guesses 10 elements an array), and Postgres then plans every
// execution anew: a group of two took ~520 µs that way and ~300 µs with the generic
// plan, which is the same nested loop for every size (docs/PERFORMANCE.md). Only the
// group committer uses these connections; every other statement keeps Postgres's choice.
func genericPlans(ctx context.Context, pool *pgxpool.Pool, n int, schema string) (*pgxpool.Pool, error) {
	cfg := pool.Config().Copy()
	cfg.MaxConns, cfg.MinConns = int32(n), 0
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	gp, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// The copy must resolve "events" as pool does.
	var got string
	if err = gp.QueryRow(ctx, "SELECT current_schema()").Scan(&got); err == nil && got != schema {
		err = fmt.Errorf("its connections resolve schema %q, the pool's %q", got, schema)
	}
	if err != nil {
		gp.Close()
		return nil, err
	}
	return gp, nil
}

// Close stops the store's group committer (after writing what is queued) and its
// notification listener. The pool belongs to the caller.
func (s *Store) Close() {
	s.group.close()
	s.notify.close()
	if s.groupPool != s.pool {
		s.groupPool.Close()
	}
}

// appendSQL appends a run of events to one stream in one statement. Positions are
// (top-level transaction id << 16) + the event's index in its transaction (kept in the
// transaction-local setting ordo.tx_events), so they sort by transaction; see doc.go.
// Nothing is inserted when the stream is not at the expected version, when the stream's
// last event belongs to a younger transaction (its position would then sort after ours:
// per-stream order must equal position order), or when the transaction has run out of
// event indexes. The returned row tells which.
const appendSQL = `
WITH cur AS (
    SELECT coalesce(max(version), 0) AS v, coalesce(max(position), 0) AS p
    FROM (SELECT version, position FROM events WHERE stream_id = $1 ORDER BY version DESC LIMIT 1) last
), tx AS (
    SELECT pg_current_xact_id()::text::bigint << 16 AS base,
           coalesce(nullif(current_setting('ordo.tx_events', true), ''), '0')::bigint AS n
), ins AS (
    INSERT INTO events (position, id, stream_id, stream_type, version, type, schema_version,
                        schema_fingerprint, occurred_at, correlation_id, causation_id, actor,
                        traceparent, payload)
    SELECT tx.base + tx.n + u.ord, u.id, $1, $2, cur.v + u.ord, u.type, u.schema_version,
           u.fingerprint, u.occurred_at, u.correlation_id, u.causation_id, u.actor,
           u.traceparent, u.payload
    FROM cur, tx, unnest($4::uuid[], $5::text[], $6::int[], $7::bytea[], $8::timestamptz[],
                         $9::uuid[], $10::uuid[], $11::text[], $12::text[], $13::bytea[])
         WITH ORDINALITY AS u(id, type, schema_version, fingerprint, occurred_at,
                              correlation_id, causation_id, actor, traceparent, payload, ord)
    WHERE ($3::bigint = -1 OR cur.v = $3::bigint)
      AND cur.p < tx.base
      AND tx.n + $14::bigint < 65536
    RETURNING version, position
), counted AS (
    SELECT min(version) AS first, max(version) AS last, min(position) AS first_pos,
           max(position) AS last_pos, count(*) AS inserted FROM ins
)
SELECT cur.v, cur.p, tx.base, tx.n, counted.first, counted.last, counted.first_pos, counted.last_pos,
       set_config('ordo.tx_events', (tx.n + counted.inserted)::text, true)
FROM cur, tx, counted`

// appendQueuedSQL is appendSQL for QueueAppend: a refusal fails the statement in the
// server (eventstore_append_refused, migration 00003) instead of returning a row that
// says so, since the statements sent after it, COMMIT among them, must not run.
var appendQueuedSQL = appendSQL[:strings.LastIndex(appendSQL, "SELECT cur.v")] + `SELECT
       set_config('ordo.tx_events', (tx.n + counted.inserted)::text, true),
       CASE WHEN counted.inserted = 0 THEN eventstore_append_refused($1, $3, cur.v, cur.p, tx.base, tx.n, $14) END
FROM cur, tx, counted`

// appendOneSQL is Append's statement for one event with an exact expected version (or
// NoStream) in a transaction of its own, the common case (one command, one event). It is
// a plain INSERT: the version is expected+1, the position the transaction's first; see
// appendOwnTx for why neither a version lookup nor the ordering guard is needed.
const appendOneSQL = `
INSERT INTO events (position, id, stream_id, stream_type, version, type, schema_version, schema_fingerprint,
                    occurred_at, correlation_id, causation_id, actor, traceparent, payload)
SELECT (pg_current_xact_id()::text::bigint << 16) + 1, $1, $2, $3, $4::bigint + 1, $5, $6, $7, $8, $9, $10, $11, $12, $13
WHERE $4::bigint = 0 OR EXISTS (SELECT FROM events WHERE stream_id = $2 AND version = $4::bigint)
RETURNING position`

// appendManySQL is appendOneSQL for a run of events (unnest of one array per column).
const appendManySQL = `
INSERT INTO events (position, id, stream_id, stream_type, version, type, schema_version, schema_fingerprint,
                    occurred_at, correlation_id, causation_id, actor, traceparent, payload)
SELECT (pg_current_xact_id()::text::bigint << 16) + u.ord, u.id, $1, $2, $3::bigint + u.ord, u.type,
       u.schema_version, u.fingerprint, u.occurred_at, u.correlation_id, u.causation_id, u.actor,
       u.traceparent, u.payload
FROM unnest($4::uuid[], $5::text[], $6::int[], $7::bytea[], $8::timestamptz[],
            $9::uuid[], $10::uuid[], $11::text[], $12::text[], $13::bytea[])
     WITH ORDINALITY AS u(id, type, schema_version, fingerprint, occurred_at,
                          correlation_id, causation_id, actor, traceparent, payload, ord)
WHERE $3::bigint = 0 OR EXISTS (SELECT FROM events WHERE stream_id = $1 AND version = $3::bigint)
RETURNING position`

// maxEventsPerTx is how many events one transaction can append: the low 16 bits of a
// position index the events of a transaction.
const maxEventsPerTx = 65535

// querier is what an append runs on: the pool (one implicit transaction) or a caller's
// transaction.
type querier interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

var (
	metricAppendSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "ordo", Subsystem: "eventstore", Name: "append_duration_seconds",
		Help:    "Time to append one batch of events to a stream (one round trip, and the wait for the group committer), by outcome.",
		Buckets: prometheus.ExponentialBuckets(0.00025, 2, 14),
	}, []string{"outcome"})
	metricAppendEvents = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "ordo", Subsystem: "eventstore", Name: "append_batch_events",
		Help:    "Events per successful append.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 12),
	})
)

// Collectors are the store's Prometheus metrics.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{metricAppendSeconds, metricAppendEvents, metricGroupRequests}
}

func observeAppend(start time.Time, n int, err error) {
	outcome := "ok"
	switch {
	case errors.Is(err, eventstore.ErrVersionConflict):
		outcome = "conflict"
	case err != nil:
		outcome = "error"
	default:
		metricAppendEvents.Observe(float64(n))
	}
	metricAppendSeconds.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
}

// Append implements eventstore.Store. It is one round trip and one transaction.
func (s *Store) Append(ctx context.Context, stream eventstore.Stream, expected eventstore.ExpectedVersion, events ...eventstore.NewEvent) (eventstore.AppendResult, error) {
	start := time.Now()
	var (
		res eventstore.AppendResult
		err error
	)
	if expected == eventstore.Any {
		res, err = s.append(ctx, s.pool, stream, expected, events)
	} else if err = checkAppend(stream, expected, events); err == nil {
		if out, queued := s.group.submit(ctx, stream, expected, events); queued {
			res, err = out.res, out.err
		} else {
			res, err = s.appendOwnTx(ctx, stream, expected, events)
		}
	}
	observeAppend(start, len(events), err)
	if err == nil {
		s.notify.signal()
	}
	return res, err
}

// AppendTx appends inside the caller's transaction, so that events and other rows (a
// saga's state, an idempotency record, several streams at once) commit together or not
// at all. Readers see the events once tx commits. Keep such transactions short: until
// tx ends, readers of the global order wait for it. After a failed AppendTx the
// transaction is aborted; roll it back. Call Notify after committing to wake
// subscribers at once rather than at their next poll.
func (s *Store) AppendTx(ctx context.Context, tx pgx.Tx, stream eventstore.Stream, expected eventstore.ExpectedVersion, events ...eventstore.NewEvent) (eventstore.AppendResult, error) {
	start := time.Now()
	res, err := s.append(ctx, tx, stream, expected, events)
	observeAppend(start, len(events), err)
	return res, err
}

// Queuer is a transaction that can queue a statement to travel with its next one
// (internal/postgres.PipeTx).
type Queuer interface {
	Queue(sql string, args ...any) *pgx.QueuedQuery
}

// QueueAppend is AppendTx without a round trip of its own: the append is queued on tx
// and sent with tx's next statement, at the latest with its COMMIT. It returns the
// result the append has if tx commits, positions excepted (known only once it is sent;
// 0 here); an exact expected version (or NoStream) is required. Any refusal fails the
// statement in the server, and so the statement it travels with and the transaction:
// that call (the commit, or a read) then returns eventstore.ErrVersionConflict when
// the stream was not at the expected version, was appended by a younger transaction,
// or already holds these events (a retry of an append that committed: decide again on
// the stream read, in a new transaction); eventstore.ErrDuplicateEvent when an event
// id is stored elsewhere; eventstore.ErrInvalidAppend past 65,535 events in the
// transaction. Reads on tx after it see the queued events, as they see AppendTx's.
func (s *Store) QueueAppend(tx Queuer, stream eventstore.Stream, expected eventstore.ExpectedVersion, events ...eventstore.NewEvent) (eventstore.AppendResult, error) {
	if expected < 0 {
		return eventstore.AppendResult{}, fmt.Errorf("%w: a queued append needs an exact expected version, not %s", eventstore.ErrInvalidAppend, expected)
	}
	if err := checkAppend(stream, expected, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	n := len(events)
	c := toColumns(events)
	start := time.Now()
	tx.Queue(appendQueuedSQL, stream.ID, stream.Type, int64(expected), c.ids, c.types, c.versions, c.fingerprints,
		c.occurred, c.correlations, c.causations, c.actors, c.traces, c.payloads, int64(n)).
		QueryRow(func(row pgx.Row) error {
			var (
				setting string
				refused *int64
			)
			err := row.Scan(&setting, &refused)
			if err != nil {
				err = s.queuedRefusal(stream, events, err)
			}
			observeAppend(start, n, err)
			return err
		})
	return eventstore.AppendResult{FirstVersion: int64(expected) + 1, LastVersion: int64(expected) + int64(n)}, nil
}

// queuedRefusal is the error of a queued append that failed with err.
func (s *Store) queuedRefusal(stream eventstore.Stream, events []eventstore.NewEvent, err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return fmt.Errorf("append to %s: %w", stream, err)
	}
	switch {
	case pgErr.Code == "OR410" || isDeadlock(err):
		return fmt.Errorf("%w: append to %s: %w", eventstore.ErrVersionConflict, stream, err)
	case pgErr.Code == "OR413":
		return fmt.Errorf("%w: append to %s: %w", eventstore.ErrInvalidAppend, stream, err)
	case pgErr.Code == "23505" && pgErr.ConstraintName == "events_id_key":
		// A retry of an append that committed, or ids stored elsewhere: the store tells
		// (on a connection of its own; this transaction is aborted).
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, rerr := s.resolveConflict(ctx, stream, eventIDs(events), err); rerr != nil && !errors.Is(rerr, eventstore.ErrVersionConflict) {
			return rerr
		}
		return fmt.Errorf("%w: %s already has these events; retry in a new transaction: %w", eventstore.ErrVersionConflict, stream, err)
	case pgErr.Code == "23505":
		return fmt.Errorf("%w: append to %s: %w", eventstore.ErrVersionConflict, stream, err)
	}
	return fmt.Errorf("append to %s: %w", stream, err)
}

// Notify wakes subscribers after a transaction with AppendTx has committed.
func (s *Store) Notify() { s.notify.signal() }

// columns are an append's events as one array per column, for unnest.
type columns struct {
	ids          []pgtype.UUID
	types        []string
	versions     []int32
	fingerprints [][]byte
	occurred     []time.Time
	correlations []pgtype.UUID
	causations   []pgtype.UUID
	actors       []string
	traces       []string
	payloads     [][]byte
}

func toColumns(events []eventstore.NewEvent) columns {
	c := newColumns(len(events))
	for _, e := range events {
		c.add(e)
	}
	return c
}

// newColumns has room for n events.
func newColumns(n int) columns {
	return columns{
		ids: make([]pgtype.UUID, 0, n), types: make([]string, 0, n), versions: make([]int32, 0, n),
		fingerprints: make([][]byte, 0, n), occurred: make([]time.Time, 0, n), correlations: make([]pgtype.UUID, 0, n),
		causations: make([]pgtype.UUID, 0, n), actors: make([]string, 0, n), traces: make([]string, 0, n), payloads: make([][]byte, 0, n),
	}
}

// add appends e's columns.
func (c *columns) add(e eventstore.NewEvent) {
	c.ids, c.types, c.versions = append(c.ids, pgUUID(e.ID)), append(c.types, e.Type), append(c.versions, int32(e.SchemaVersion))
	c.fingerprints, c.occurred = append(c.fingerprints, nonNil(e.SchemaFingerprint)), append(c.occurred, e.OccurredAt)
	c.payloads = append(c.payloads, nonNil(e.Payload))
	c.correlations = append(c.correlations, pgUUID(e.Metadata.CorrelationID))
	c.causations = append(c.causations, pgUUID(e.Metadata.CausationID))
	c.actors, c.traces = append(c.actors, e.Metadata.Actor), append(c.traces, e.Metadata.TraceParent)
}

func checkAppend(stream eventstore.Stream, expected eventstore.ExpectedVersion, events []eventstore.NewEvent) error {
	if err := eventstore.Validate(stream, expected, events); err != nil {
		return err
	}
	if n := len(events); n > maxEventsPerTx {
		return fmt.Errorf("%w: %d events, at most %d per transaction", eventstore.ErrInvalidAppend, n, maxEventsPerTx)
	}
	return nil
}

// appendOwnTx is Append with an exact expected version (or NoStream): one INSERT in a
// transaction of its own, without the general statement's version lookup, ordering
// guard and per-transaction event counter.
//
//   - Versions: the events get expected+1, expected+2, ... The unique index on
//     (stream_id, version) refuses them when the stream is already beyond expected (a
//     concurrent writer inserting the same version waits for the other to end, as with
//     the general statement); the EXISTS refuses them when the stream has not reached
//     expected, which would leave a hole. A stream's versions have no hole, so version
//     `expected` exists if and only if the stream is at expected or beyond; for NoStream
//     (expected 0) the unique index alone decides, since every stream has a version 1.
//   - Order: per-stream order must equal position order. Every event of the stream that
//     this statement can see was committed by a transaction U before the statement's
//     snapshot was taken; U's id was assigned before U committed, and this
//     transaction's id is assigned while the statement runs, after its snapshot. Ids
//     are handed out in increasing order, so U < ours and every visible event of the
//     stream sorts before ours. An event the snapshot cannot see (in progress, or
//     committed since) either takes one of our versions (the unique index refuses one
//     of the two) or comes after ours, from a writer that saw our commit and so got a
//     younger transaction id. The guard of the general statement is needed only when a
//     caller's transaction took its id before an append (AppendTx).
//   - Index in the transaction: this statement is the transaction's only one, so its
//     events are the first (index 1, 2, ...).
//
// pgxpool never hands out a connection inside a transaction (it closes those on
// release), so the statement does run in a transaction of its own.
func (s *Store) appendOwnTx(ctx context.Context, stream eventstore.Stream, expected eventstore.ExpectedVersion, events []eventstore.NewEvent) (eventstore.AppendResult, error) {
	if err := checkAppend(stream, expected, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	var (
		first, last int64
		err         error
		ids         []uuid.UUID
	)
	if len(events) == 1 {
		e := events[0]
		err = s.pool.QueryRow(ctx, appendOneSQL, pgUUID(e.ID), stream.ID, stream.Type, int64(expected), e.Type,
			int32(e.SchemaVersion), nonNil(e.SchemaFingerprint), e.OccurredAt, pgUUID(e.Metadata.CorrelationID),
			pgUUID(e.Metadata.CausationID), e.Metadata.Actor, e.Metadata.TraceParent, nonNil(e.Payload)).Scan(&first)
		last = first
		if err != nil {
			ids = []uuid.UUID{e.ID}
		}
	} else {
		c := toColumns(events)
		var rows pgx.Rows
		rows, err = s.pool.Query(ctx, appendManySQL, stream.ID, stream.Type, int64(expected), c.ids, c.types,
			c.versions, c.fingerprints, c.occurred, c.correlations, c.causations, c.actors, c.traces, c.payloads)
		if err == nil {
			var pos int64
			_, err = pgx.ForEachRow(rows, []any{&pos}, func() error {
				if first == 0 || pos < first {
					first = pos
				}
				last = max(last, pos)
				return nil
			})
			if err == nil && first == 0 {
				err = pgx.ErrNoRows
			}
		}
		if err != nil {
			ids = eventIDs(events)
		}
	}
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		n := int64(len(events))
		return eventstore.AppendResult{FirstVersion: int64(expected) + 1, LastVersion: int64(expected) + n,
			FirstPosition: first, LastPosition: last}, nil
	case errors.As(err, &pgErr) && pgErr.Code == "23505": // unique_violation
		return s.resolveConflict(ctx, stream, ids, err)
	case isDeadlock(err):
		return eventstore.AppendResult{}, fmt.Errorf("%w: append to %s: %w", eventstore.ErrVersionConflict, stream, err)
	case errors.Is(err, pgx.ErrNoRows):
		// The stream has not reached the expected version. It may be a retry of an append
		// that did commit.
		return s.resolveConflict(ctx, stream, ids, fmt.Errorf("stream %s is not at %s", stream, expected))
	default:
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", stream, err)
	}
}

func (s *Store) append(ctx context.Context, q querier, stream eventstore.Stream, expected eventstore.ExpectedVersion, events []eventstore.NewEvent) (eventstore.AppendResult, error) {
	if err := checkAppend(stream, expected, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	n := len(events)
	c := toColumns(events)

	var (
		current, currentPos, base, used int64
		first, last, firstPos, lastPos  *int64
		setting                         string
	)
	b := &pgx.Batch{}
	b.Queue(appendSQL, stream.ID, stream.Type, int64(expected), c.ids, c.types, c.versions, c.fingerprints,
		c.occurred, c.correlations, c.causations, c.actors, c.traces, c.payloads, int64(n)).
		QueryRow(func(row pgx.Row) error {
			return row.Scan(&current, &currentPos, &base, &used, &first, &last, &firstPos, &lastPos, &setting)
		})
	err := q.SendBatch(ctx, b).Close()
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" { // unique_violation
			return s.resolveConflict(ctx, stream, eventIDs(events), err)
		}
		if isDeadlock(err) {
			return eventstore.AppendResult{}, fmt.Errorf("%w: append to %s: %w", eventstore.ErrVersionConflict, stream, err)
		}
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", stream, err)
	}
	if first != nil {
		return eventstore.AppendResult{FirstVersion: *first, LastVersion: *last, FirstPosition: *firstPos, LastPosition: *lastPos}, nil
	}
	switch {
	case used+int64(n) > maxEventsPerTx:
		return eventstore.AppendResult{}, fmt.Errorf("%w: the transaction already appended %d events, at most %d", eventstore.ErrInvalidAppend, used, maxEventsPerTx)
	case currentPos >= base:
		// The stream's last event was appended by a transaction younger than ours; our
		// events would sort before it. Retrying in a new transaction succeeds.
		return eventstore.AppendResult{}, fmt.Errorf("%w: stream %s was appended by a younger transaction; retry in a new one", eventstore.ErrVersionConflict, stream)
	}
	// The expected version did not hold. It may be a retry of an append that did commit.
	return s.resolveConflict(ctx, stream, eventIDs(events),
		fmt.Errorf("stream %s is at version %d, expected %s", stream, current, expected))
}

// isDeadlock: two transactions appending to the same streams in opposite orders wait
// for each other on the unique index of (stream_id, version), and Postgres aborts one.
// For its caller that is a lost race like any other version conflict: retrying (in a
// new transaction) succeeds.
func isDeadlock(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "40P01" // deadlock_detected
}

// resolveConflict runs only after an append stored nothing: when every event id is
// already stored, as one contiguous run of the same stream, the append is a retry and
// gets the first result; otherwise it is a real conflict.
func (s *Store) resolveConflict(ctx context.Context, stream eventstore.Stream, ids []uuid.UUID, cause error) (eventstore.AppendResult, error) {
	keys := make([]pgtype.UUID, len(ids))
	for i, id := range ids {
		keys[i] = pgUUID(id)
	}
	rows, err := s.pool.Query(ctx,
		`SELECT id, stream_id, version, position FROM events WHERE id = ANY($1) ORDER BY position`, keys)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: check for retry: %w", stream, err)
	}
	type stored struct {
		id       pgtype.UUID
		stream   string
		version  int64
		position int64
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (stored, error) {
		var x stored
		err := r.Scan(&x.id, &x.stream, &x.version, &x.position)
		return x, err
	})
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: check for retry: %w", stream, err)
	}
	if len(found) == 0 {
		return eventstore.AppendResult{}, fmt.Errorf("%w: %w", eventstore.ErrVersionConflict, cause)
	}
	if len(found) != len(ids) {
		return eventstore.AppendResult{}, fmt.Errorf("%w: %d of %d event ids already stored", eventstore.ErrDuplicateEvent, len(found), len(ids))
	}
	for i, f := range found {
		if f.stream != stream.ID || f.id.Bytes != ids[i] || f.version != found[0].version+int64(i) {
			return eventstore.AppendResult{}, fmt.Errorf("%w: event %s is stored as %s@%d", eventstore.ErrDuplicateEvent, uuid.UUID(f.id.Bytes), f.stream, f.version)
		}
	}
	return eventstore.AppendResult{
		FirstVersion: found[0].version, LastVersion: found[len(found)-1].version,
		FirstPosition: found[0].position, LastPosition: found[len(found)-1].position,
	}, nil
}

const selectEvent = `SELECT position, id, stream_id, stream_type, version, type, schema_version,
    schema_fingerprint, occurred_at, recorded_at, correlation_id, causation_id, actor,
    traceparent, payload FROM events `

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, streamID string, from int64, limit int) ([]eventstore.Event, error) {
	rows, err := s.pool.Query(ctx, selectEvent+`WHERE stream_id = $1 AND version >= $2 ORDER BY version LIMIT $3`,
		streamID, from, limit)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", streamID, err)
	}
	evs, err := collectEvents(rows, limit)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", streamID, err)
	}
	return evs, nil
}

// ReadStreamTx is ReadStream inside a caller's transaction: on its connection (a step
// that holds a transaction does not queue for a second connection) and seeing its own
// appends.
func (s *Store) ReadStreamTx(ctx context.Context, tx pgx.Tx, streamID string, from int64, limit int) ([]eventstore.Event, error) {
	rows, err := tx.Query(ctx, selectEvent+`WHERE stream_id = $1 AND version >= $2 ORDER BY version LIMIT $3`,
		streamID, from, limit)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", streamID, err)
	}
	evs, err := collectEvents(rows, limit)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", streamID, err)
	}
	return evs, nil
}

// ReadStreams reads several streams from their first event in one round trip: their
// events ordered by stream id, then version, at most limit in all. A caller whose page
// is full continues each stream it needs with ReadStream from the last version it got.
// In a transaction pass it as tx (nil reads on the pool).
func (s *Store) ReadStreams(ctx context.Context, tx pgx.Tx, streamIDs []string, limit int) ([]eventstore.Event, error) {
	const q = selectEvent + `WHERE stream_id = ANY($1) ORDER BY stream_id, version LIMIT $2`
	var (
		rows pgx.Rows
		err  error
	)
	if tx != nil {
		rows, err = tx.Query(ctx, q, streamIDs, limit)
	} else {
		rows, err = s.pool.Query(ctx, q, streamIDs, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("read streams %v: %w", streamIDs, err)
	}
	evs, err := collectEvents(rows, limit)
	if err != nil {
		return nil, fmt.Errorf("read streams %v: %w", streamIDs, err)
	}
	return evs, nil
}

// visibleBound is the exclusive upper bound of the positions that can no longer be
// preceded by a late commit: every transaction older than the snapshot's xmin is over.
// It is a scalar subquery so that Postgres computes it once per statement (an InitPlan)
// rather than once per row it filters (a stable function call is not folded): 0.2–0.3 µs
// per event read, 5–10% of a page read's time in Postgres.
const visibleBound = `(SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16)`

// readAllSQL takes the first $2 events after $1 in position order and keeps those below
// the visible bound. That is the same set as the first $2 events after $1 that are below
// the bound (the ones below the bound are a prefix of the position order), but the
// planner cannot estimate a range whose end is a function of the snapshot: given
// "position > $1 AND position < bound" it guesses a few hundred rows and, in the custom
// plans of a connection's first executions, chose a bitmap scan of the whole backlog
// plus a sort of it (on disk, for a large one) before the LIMIT. The subquery is a plain
// index scan that stops after $2 rows, whatever the plan.
const readAllSQL = `SELECT * FROM (` + selectEvent + `WHERE position > $1 ORDER BY position LIMIT $2) page
    WHERE position < ` + visibleBound + ` ORDER BY position`

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, after int64, limit int) ([]eventstore.Event, error) {
	rows, err := s.pool.Query(ctx, readAllSQL, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read all after %d: %w", after, err)
	}
	evs, err := collectEvents(rows, limit)
	if err != nil {
		return nil, fmt.Errorf("read all after %d: %w", after, err)
	}
	return evs, nil
}

// readAllTypesSQL is readAllSQL's page ($1, $2) with only the events of the stream types
// in $3 sent, plus always the page's last event (which tells the reader where the page
// ends), each row with the page's size. The page's end is found first (an index scan of
// positions that stops after $2 rows); every event up to it is final (below the visible
// bound), so reading them again in the same statement finds the same set. The LIMIT
// keeps the second scan in index order (no sort), whatever the planner guesses of the
// range.
const readAllTypesSQL = `WITH scanned AS (
		SELECT max(position) AS last, count(*) AS n FROM (
			SELECT position FROM events WHERE position > $1 ORDER BY position LIMIT $2
		) page WHERE position < ` + visibleBound + `
	)
	SELECT e.*, s.n FROM scanned s CROSS JOIN LATERAL (` + selectEvent + `WHERE position > $1 AND position <= s.last
		AND (stream_type = ANY($3) OR position = s.last) ORDER BY position LIMIT $2) e`

// ReadAllTypes implements eventstore.StreamTypeReader: the events of other stream types
// are skipped by Postgres, not sent.
func (s *Store) ReadAllTypes(ctx context.Context, after int64, limit int, streamTypes []string) ([]eventstore.Event, int, int64, error) {
	rows, err := s.pool.Query(ctx, readAllTypesSQL, after, limit, streamTypes)
	if err != nil {
		return nil, 0, after, fmt.Errorf("read all after %d: %w", after, err)
	}
	evs, n, err := collect(rows, limit, true)
	if err != nil {
		return nil, 0, after, fmt.Errorf("read all after %d: %w", after, err)
	}
	if len(evs) == 0 {
		return evs, 0, after, nil
	}
	last := evs[len(evs)-1]
	if !slices.Contains(streamTypes, last.StreamType) {
		evs = evs[:len(evs)-1]
	}
	return evs, int(n), last.Position, nil
}

// StreamVersion implements eventstore.Store.
func (s *Store) StreamVersion(ctx context.Context, streamID string) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1`, streamID).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("version of %s: %w", streamID, err)
	}
	return v, nil
}

// HeadPosition implements eventstore.Store.
func (s *Store) HeadPosition(ctx context.Context) (int64, error) {
	var p int64
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM events WHERE position < `+visibleBound).Scan(&p); err != nil {
		return 0, fmt.Errorf("head position: %w", err)
	}
	return p, nil
}

// Appended implements eventstore.Notifier with LISTEN/NOTIFY.
func (s *Store) Appended() <-chan struct{} { return s.notify.appended() }

// scanEvent scans a row of selectEvent's columns followed by the extra ones.
func scanEvent(row pgx.CollectableRow, extra ...any) (eventstore.Event, error) {
	var (
		e                      eventstore.Event
		schemaVersion          int32
		id, correlation, cause pgtype.UUID // scanned natively; see pgUUID
	)
	err := row.Scan(append([]any{&e.Position, &id, &e.StreamID, &e.StreamType, &e.Version, &e.Type, &schemaVersion,
		&e.SchemaFingerprint, &e.OccurredAt, &e.RecordedAt, &correlation, &cause, &e.Metadata.Actor,
		&e.Metadata.TraceParent, &e.Payload}, extra...)...)
	e.ID, e.SchemaVersion = id.Bytes, int(schemaVersion)
	e.Metadata.CorrelationID, e.Metadata.CausationID = correlation.Bytes, cause.Bytes // zero when NULL
	return e, err
}

// pgUUID is u as pgx encodes it natively (binary, 16 bytes), uuid.Nil as NULL. pgx takes
// a uuid.UUID as a driver.Valuer: its text form, a binary plan that fails (allocating an
// error) and a parse, for every value; that was a quarter of the CPU of a batch append.
func pgUUID(u uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: u, Valid: u != uuid.Nil} }

func eventIDs(events []eventstore.NewEvent) []uuid.UUID {
	ids := make([]uuid.UUID, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return ids
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Pool returns the pool the store writes through, for callers that open their own
// transactions for AppendTx.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Backlog implements eventstore.Backlogger; it counts at most 1,000,000 events.
func (s *Store) Backlog(ctx context.Context, after int64) (int64, time.Time, error) {
	var (
		n      int64
		oldest *time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT count(*), min(recorded_at) FROM (
		SELECT recorded_at FROM events WHERE position > $1 AND position < `+visibleBound+`
		ORDER BY position LIMIT 1000000) pending`, after).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("backlog after %d: %w", after, err)
	}
	if oldest == nil {
		return n, time.Time{}, nil
	}
	return n, *oldest, nil
}
