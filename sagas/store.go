package sagas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
)

// Errors of the saga store.
var (
	// ErrNotFound: no saga for that order.
	ErrNotFound = errors.New("sagas: saga not found")
	// errFenced: the row moved on (another worker claimed the saga after this one's
	// lease ran out); the write was refused and the caller must stop.
	errFenced = errors.New("sagas: saga version moved on; lease lost")
)

// querier is a pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// store reads and writes order_sagas, saga_steps and saga_offsets.
type store struct {
	pool *pgxpool.Pool
}

const sagaColumns = `order_id, customer_id, items, total_cents, currency, payment_token, placed_at, correlation_id,
	causation_id, state, step, attempt, deadline, reason, detail, cancel_requested, stock, reservation_expires_at,
	payment, authorization_ref, capture_ref, order_status, last_error, owner, wake_at, version, created_at,
	updated_at, finished_at, traceparent`

func scanSaga(row pgx.CollectableRow) (*Saga, error) {
	var (
		s                                   Saga
		orderID, customerID                 uuid.UUID
		items                               []byte
		state, step, reason, stock, payment string
		orderStatus                         string
		deadline, expires, wake, finished   *time.Time
		owner                               *string
	)
	err := row.Scan(&orderID, &customerID, &items, &s.Total.Cents, &s.Total.Currency, &s.PaymentToken, &s.PlacedAt,
		&s.CorrelationID, &s.CausationID, &state, &step, &s.Attempt, &deadline, &reason, &s.Detail, &s.CancelRequested,
		&stock, &expires, &payment, &s.AuthorizationRef, &s.CaptureRef, &orderStatus, &s.LastError, &owner, &wake,
		&s.Version, &s.CreatedAt, &s.UpdatedAt, &finished, &s.TraceParent)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(items, &s.Items); err != nil {
		return nil, fmt.Errorf("saga %s items: %w", domain.ID(orderID), err)
	}
	s.OrderID, s.CustomerID = domain.ID(orderID), domain.ID(customerID)
	s.State, s.Step, s.Reason = State(state), Step(step), order.CancelReason(reason)
	s.Stock, s.Payment, s.OrderStatus = StockState(stock), PaymentState(payment), order.Status(orderStatus)
	s.Deadline, s.ReservationExpiresAt, s.WakeAt, s.FinishedAt = deref(deadline), deref(expires), deref(wake), deref(finished)
	if owner != nil {
		s.Owner = *owner
	}
	s.PlacedAt, s.CreatedAt, s.UpdatedAt = s.PlacedAt.UTC(), s.CreatedAt.UTC(), s.UpdatedAt.UTC()
	return &s, nil
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (st *store) load(ctx context.Context, q querier, orderID domain.ID) (*Saga, error) {
	rows, err := q.Query(ctx, `SELECT `+sagaColumns+` FROM order_sagas WHERE order_id = $1`, uuid.UUID(orderID))
	if err != nil {
		return nil, fmt.Errorf("load saga %s: %w", orderID, err)
	}
	s, err := pgx.CollectExactlyOneRow(rows, scanSaga)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: order %s", ErrNotFound, orderID)
	}
	if err != nil {
		return nil, fmt.Errorf("load saga %s: %w", orderID, err)
	}
	return s, nil
}

// insert creates sagas that do not exist yet (a redelivered order.placed is a no-op)
// and returns the sagas it created. Sagas with a token in owned are created leased to
// that token (this worker runs them at once); the others are created due, for any
// worker's timer loop.
func (st *store) insert(ctx context.Context, q querier, sagas []*Saga, owned map[domain.ID]string, lease time.Duration) ([]*Saga, error) {
	b := &pgx.Batch{}
	created := make([]*Saga, 0, len(sagas))
	for _, s := range sagas {
		items, err := json.Marshal(s.Items)
		if err != nil {
			return nil, err
		}
		var own *string
		leaseMS := int64(0)
		if tok, ok := owned[s.OrderID]; ok {
			own, leaseMS = &tok, lease.Milliseconds()
		}
		b.Queue(`INSERT INTO order_sagas (order_id, customer_id, items, total_cents, currency, payment_token, placed_at,
			correlation_id, causation_id, state, step, deadline, stock, payment, order_status, owner, wake_at, traceparent)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'none', 'none', 'pending', $13,
				clock_timestamp() + $14 * interval '1 millisecond', $15)
			ON CONFLICT (order_id) DO NOTHING RETURNING `+sagaColumns,
			uuid.UUID(s.OrderID), uuid.UUID(s.CustomerID), items, s.Total.Cents, s.Total.Currency, s.PaymentToken, s.PlacedAt,
			s.CorrelationID, s.CausationID, string(s.State), string(s.Step), nullTime(s.Deadline), own, leaseMS, s.TraceParent,
		).Query(func(rows pgx.Rows) error {
			got, err := pgx.CollectRows(rows, scanSaga)
			created = append(created, got...)
			return err
		})
	}
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("insert sagas: %w", err)
	}
	return created, nil
}

// requestCancel marks the sagas of orders cancelled by someone else (a customer) and
// makes idle ones due at once. It returns the sagas made due (not leased by a worker:
// a lease holder sees the flag at its next write).
func (st *store) requestCancel(ctx context.Context, q querier, ids []domain.ID) ([]domain.ID, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	uids := make([]uuid.UUID, len(ids))
	for i, id := range ids {
		uids[i] = uuid.UUID(id)
	}
	rows, err := q.Query(ctx, `UPDATE order_sagas SET cancel_requested = true, updated_at = now(),
			wake_at = CASE WHEN owner IS NOT NULL AND wake_at > clock_timestamp() THEN wake_at ELSE clock_timestamp() END
		WHERE order_id = ANY($1) AND NOT cancel_requested
		  AND state IN ('reserving', 'authorizing', 'capturing', 'confirming', 'confirmed')
		RETURNING order_id, wake_at <= clock_timestamp()`, uids)
	if err != nil {
		return nil, fmt.Errorf("request cancel: %w", err)
	}
	var (
		due []domain.ID
		id  uuid.UUID
		now bool
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &now}, func() error {
		if now {
			due = append(due, domain.ID(id))
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("request cancel: %w", err)
	}
	return due, nil
}

// cancelRequested reports whether the customer asked to cancel the order of a saga.
func (st *store) cancelRequested(ctx context.Context, orderID domain.ID) (bool, error) {
	var requested bool
	err := st.pool.QueryRow(ctx, `SELECT cancel_requested FROM order_sagas WHERE order_id = $1`, uuid.UUID(orderID)).Scan(&requested)
	if err != nil {
		return false, fmt.Errorf("saga %s: cancel requested: %w", orderID, err)
	}
	return requested, nil
}

// claim takes a due saga for owner, leased until now + lease. It returns ErrNotFound
// when the saga is not due (another worker holds it, or nothing is left to do).
func (st *store) claim(ctx context.Context, orderID domain.ID, owner string, lease time.Duration) (*Saga, error) {
	rows, err := st.pool.Query(ctx, `UPDATE order_sagas SET owner = $2, wake_at = clock_timestamp() + $3 * interval '1 millisecond',
			version = version + 1
		WHERE order_id = $1 AND wake_at <= now() RETURNING `+sagaColumns, uuid.UUID(orderID), owner, lease.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("claim saga %s: %w", orderID, err)
	}
	s, err := pgx.CollectExactlyOneRow(rows, scanSaga)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("claim saga %s: %w", orderID, err)
	}
	return s, nil
}

// claimIdle takes a saga that no worker holds, due or not (the sweeper's claim).
func (st *store) claimIdle(ctx context.Context, orderID domain.ID, owner string, lease time.Duration) (*Saga, error) {
	rows, err := st.pool.Query(ctx, `UPDATE order_sagas SET owner = $2, wake_at = clock_timestamp() + $3 * interval '1 millisecond',
			version = version + 1
		WHERE order_id = $1 AND (wake_at IS NULL OR wake_at <= now()) RETURNING `+sagaColumns, uuid.UUID(orderID), owner, lease.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("claim saga %s: %w", orderID, err)
	}
	s, err := pgx.CollectExactlyOneRow(rows, scanSaga)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("claim saga %s: %w", orderID, err)
	}
	return s, nil
}

// claimDue takes up to n due sagas, oldest due first, skipping rows another worker is
// claiming at the same moment.
func (st *store) claimDue(ctx context.Context, owner string, lease time.Duration, n int) ([]*Saga, error) {
	rows, err := st.pool.Query(ctx, `UPDATE order_sagas s SET owner = $1, wake_at = clock_timestamp() + $2 * interval '1 millisecond',
			version = s.version + 1
		FROM (SELECT order_id FROM order_sagas WHERE wake_at <= now() ORDER BY wake_at LIMIT $3 FOR UPDATE SKIP LOCKED) due
		WHERE s.order_id = due.order_id RETURNING `+prefixed("s.", sagaColumns), owner, lease.Milliseconds(), n)
	if err != nil {
		return nil, fmt.Errorf("claim due sagas: %w", err)
	}
	sagas, err := pgx.CollectRows(rows, scanSaga)
	if err != nil {
		return nil, fmt.Errorf("claim due sagas: %w", err)
	}
	return sagas, nil
}

// save writes s if the row is still at s.Version, and bumps the version. hold keeps
// the lease for owner (now + lease); otherwise the lease is released, and the saga is
// left due at once if a cancellation arrived that it has not acted on. It refreshes
// s.Version, s.CancelRequested and the lease fields from the row. The step records
// are inserted by the same statement, and only if the save is.
func (st *store) save(ctx context.Context, q querier, s *Saga, owner string, hold bool, lease time.Duration, recs ...stepRecord) error {
	b, saved := saveBatch(s, owner, hold, lease, recs...)
	return saved(q.SendBatch(ctx, b).Close())
}

// saveBatch is save as a batch to send, and saved, which takes the batch's outcome
// (its Close error) and returns save's. A save that finds the row moved on fails in the
// server (saga_fenced), so that statements sent after it in the pipeline, a COMMIT
// among them, are skipped.
func saveBatch(s *Saga, owner string, hold bool, lease time.Duration, recs ...stepRecord) (*pgx.Batch, func(error) error) {
	var (
		own      *string
		wake     *time.Time
		finished *time.Time
		found    bool
	)
	// The step records go in the same statement, inserted only when the save is.
	var (
		stepOrders             = make([]uuid.UUID, len(recs))
		stepNames, outcomes    = make([]string, len(recs)), make([]string, len(recs))
		details, workers       = make([]string, len(recs)), make([]string, len(recs))
		attempts               = make([]int32, len(recs))
		startedAt, finishedAts = make([]time.Time, len(recs)), make([]time.Time, len(recs))
	)
	for i, r := range recs {
		stepOrders[i], stepNames[i], attempts[i], outcomes[i] = uuid.UUID(r.OrderID), string(r.Step), int32(r.Attempt), r.Outcome
		details[i], workers[i], startedAt[i], finishedAts[i] = truncate(r.Detail, 2000), r.Worker, r.StartedAt, r.FinishedAt
	}
	b := &pgx.Batch{}
	b.Queue(`WITH u AS (UPDATE order_sagas SET state = $3, step = $4, attempt = $5, deadline = $6, reason = $7,
			detail = $8, stock = $9, reservation_expires_at = $10, payment = $11, authorization_ref = $12,
			capture_ref = $13, order_status = $14, last_error = $15,
			owner = CASE WHEN $16 THEN $17 END,
			wake_at = CASE WHEN $16 THEN clock_timestamp() + $18 * interval '1 millisecond'
				WHEN cancel_requested AND $3 IN ('reserving', 'authorizing', 'capturing', 'confirming', 'confirmed') THEN now()
				END,
			finished_at = CASE WHEN $3 IN ('confirmed', 'cancelled', 'compensation_failed') THEN coalesce(finished_at, now()) END,
			version = version + 1, updated_at = now()
		WHERE order_id = $1 AND version = $2
		RETURNING version, cancel_requested, owner, wake_at, finished_at, updated_at),
		steps AS (INSERT INTO saga_steps (order_id, step, attempt, outcome, detail, worker, started_at, finished_at)
			SELECT r.* FROM unnest($19::uuid[], $20::text[], $21::int[], $22::text[], $23::text[], $24::text[],
				$25::timestamptz[], $26::timestamptz[]) AS r
			WHERE EXISTS (SELECT FROM u))
		SELECT * FROM u
		UNION ALL
		SELECT NULL, NULL, NULL, NULL, NULL, NULL WHERE CASE WHEN EXISTS (SELECT FROM u) THEN false ELSE saga_fenced($1) END`,
		uuid.UUID(s.OrderID), s.Version, string(s.State), string(s.Step), s.Attempt, nullTime(s.Deadline), string(s.Reason),
		truncate(s.Detail, 500), string(s.Stock), nullTime(s.ReservationExpiresAt), string(s.Payment), s.AuthorizationRef,
		s.CaptureRef, string(s.OrderStatus), truncate(s.LastError, 2000), hold, owner, lease.Milliseconds(),
		stepOrders, stepNames, attempts, outcomes, details, workers, startedAt, finishedAts,
	).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			found = true
			if err := rows.Scan(&s.Version, &s.CancelRequested, &own, &wake, &finished, &s.UpdatedAt); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	return b, func(err error) error {
		var pgErr *pgconn.PgError
		switch {
		case errors.As(err, &pgErr) && pgErr.Code == codeFenced:
			return errFenced
		case err != nil:
			return fmt.Errorf("save saga %s: %w", s.OrderID, err)
		case !found:
			return errFenced
		}
		s.Owner = ""
		if own != nil {
			s.Owner = *own
		}
		s.WakeAt, s.FinishedAt = deref(wake), deref(finished)
		return nil
	}
}

// codeFenced is saga_fenced's SQLSTATE.
const codeFenced = "OR409"

// renew extends the lease held under token; it reports whether the lease is still
// held (a claim by anyone else changes the token).
func (st *store) renew(ctx context.Context, orderID domain.ID, token string, lease time.Duration) (bool, error) {
	tag, err := st.pool.Exec(ctx, `UPDATE order_sagas SET wake_at = clock_timestamp() + $3 * interval '1 millisecond'
		WHERE order_id = $1 AND owner = $2`, uuid.UUID(orderID), token, lease.Milliseconds())
	if err != nil {
		return false, fmt.Errorf("renew lease of %s: %w", orderID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// releaseOwned hands every saga held under a token starting with prefix (one worker's
// tokens) to whoever comes next: a clean stop.
func (st *store) releaseOwned(ctx context.Context, prefix string) (int64, error) {
	tag, err := st.pool.Exec(ctx, `UPDATE order_sagas SET owner = NULL, wake_at = now(), version = version + 1
		WHERE starts_with(owner, $1) AND wake_at > now()`, prefix)
	if err != nil {
		return 0, fmt.Errorf("release sagas of %s: %w", prefix, err)
	}
	return tag.RowsAffected(), nil
}

// stepRecord is one row of the step log.
type stepRecord struct {
	OrderID    domain.ID
	Step       Step
	Attempt    int
	Outcome    string
	Detail     string
	Worker     string
	StartedAt  time.Time
	FinishedAt time.Time
}

func (st *store) logStep(ctx context.Context, q querier, r stepRecord) error {
	b := &pgx.Batch{}
	queueStep(b, r)
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("log step %s of %s: %w", r.Step, r.OrderID, err)
	}
	return nil
}

func queueStep(b *pgx.Batch, r stepRecord) {
	b.Queue(`INSERT INTO saga_steps (order_id, step, attempt, outcome, detail, worker, started_at, finished_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, uuid.UUID(r.OrderID), string(r.Step), r.Attempt, r.Outcome,
		truncate(r.Detail, 2000), r.Worker, r.StartedAt, r.FinishedAt)
}

// NextOffsets implements consumer.OffsetStore from saga_offsets.
func (st *store) NextOffsets(ctx context.Context, group string, partitions map[string][]int32) (map[string]map[int32]int64, error) {
	out := map[string]map[int32]int64{}
	for topic, parts := range partitions {
		rows, err := st.pool.Query(ctx, `SELECT partition, next_offset FROM saga_offsets
			WHERE group_name = $1 AND topic = $2 AND partition = ANY($3)`, group, topic, parts)
		if err != nil {
			return nil, fmt.Errorf("read saga offsets: %w", err)
		}
		var (
			p    int32
			next int64
		)
		_, err = pgx.ForEachRow(rows, []any{&p, &next}, func() error {
			if out[topic] == nil {
				out[topic] = map[int32]int64{}
			}
			out[topic][p] = next
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read saga offsets: %w", err)
		}
	}
	return out, nil
}

// queueOffset queues the write of a partition's next offset to b.
func queueOffset(b *pgx.Batch, group, topic string, partition int32, next int64) {
	b.Queue(`INSERT INTO saga_offsets (group_name, topic, partition, next_offset) VALUES ($1, $2, $3, $4)
		ON CONFLICT (group_name, topic, partition) DO UPDATE
		SET next_offset = greatest(saga_offsets.next_offset, excluded.next_offset), updated_at = now()`,
		group, topic, partition, next)
}

func prefixed(prefix, columns string) string {
	out := make([]byte, 0, len(columns)*2)
	start := true
	for i := 0; i < len(columns); i++ {
		c := columns[i]
		if start && c != ' ' && c != '\t' && c != '\n' {
			out = append(out, prefix...)
			start = false
		}
		out = append(out, c)
		if c == ',' {
			start = true
		}
	}
	return string(out)
}

func uuidOf(id domain.ID) uuid.UUID { return uuid.UUID(id) }
