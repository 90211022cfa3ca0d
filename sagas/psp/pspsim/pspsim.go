// Package pspsim is the built-in payment service provider: a simulator behind the psp
// port that answers by payment token the way providers' test cards do, and keeps its own
// ledger in Postgres (authorizations, captures, voids, refunds, keyed by idempotency key).
//
// Tokens (DESIGN.md): tok_visa and tok_mastercard are authorized; tok_chargeDeclined is
// declined (card_declined); tok_riskLevelHighest is refused by the provider's risk check
// (a Fraud outcome, score 95); tok_timeout never answers: Authorize blocks until the
// caller's context ends. Any other token is declined (invalid_token).
//
// The ledger is the simulator's truth, like a real provider's books: a call with a key
// seen before returns the recorded answer; the per-order invariants (one authorization,
// one capture, one void, one refund) are unique indexes, so no sequence of calls, however
// concurrent or repeated, captures an order twice. Calls of one order are serialized
// with a transaction-scoped advisory lock.
package pspsim

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/internal/pgmigrate"
	"github.com/ordo-platform/ordo/sagas/psp"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the simulator's ledger tables.
func Migrations() pgmigrate.Set {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // fixed at build time
	}
	return pgmigrate.Set{Name: "pspsim", FS: sub}
}

// Test tokens.
const (
	TokenVisa           = "tok_visa"
	TokenMastercard     = "tok_mastercard"
	TokenChargeDeclined = "tok_chargeDeclined"
	TokenRiskHighest    = "tok_riskLevelHighest"
	TokenTimeout        = "tok_timeout"
)

// Name is the provider name the simulator reports.
const Name = "simulator"

// Options tune the simulator.
type Options struct {
	// Latency is added to every answer (never past the caller's deadline), to make
	// calls take as long as a real provider's.
	Latency time.Duration
}

// Simulator is the psp.Provider simulator. It is safe for concurrent use.
type Simulator struct {
	pool *pgxpool.Pool
	opts Options
}

var _ psp.Provider = (*Simulator)(nil)

// New returns a simulator keeping its ledger in pool (Migrations must be applied).
func New(pool *pgxpool.Pool, opts Options) *Simulator {
	return &Simulator{pool: pool, opts: opts}
}

// Name implements psp.Provider.
func (s *Simulator) Name() string { return Name }

// Operation is one ledger row.
type Operation struct {
	IdempotencyKey string
	Operation      string
	OrderID        domain.ID
	Token          string
	Amount         domain.Money
	Outcome        string
	Reference      string
	DeclineReason  string
	DeclineCode    string
	FraudReasons   []string
	FraudScore     int
	CreatedAt      time.Time
}

const selectOp = `SELECT idempotency_key, operation, order_id, token, amount_cents, currency, outcome, reference,
	decline_reason, decline_code, fraud_reasons, fraud_score, created_at FROM pspsim_operations `

func scanOp(row pgx.CollectableRow) (Operation, error) {
	var (
		op  Operation
		oid uuid.UUID
	)
	err := row.Scan(&op.IdempotencyKey, &op.Operation, &oid, &op.Token, &op.Amount.Cents, &op.Amount.Currency,
		&op.Outcome, &op.Reference, &op.DeclineReason, &op.DeclineCode, &op.FraudReasons, &op.FraudScore, &op.CreatedAt)
	op.OrderID = domain.ID(oid)
	return op, err
}

// Ledger returns the operations recorded for an order, oldest first.
func (s *Simulator) Ledger(ctx context.Context, orderID domain.ID) ([]Operation, error) {
	rows, err := s.pool.Query(ctx, selectOp+`WHERE order_id = $1 ORDER BY created_at, idempotency_key`, uuid.UUID(orderID))
	if err != nil {
		return nil, fmt.Errorf("pspsim ledger: %w", err)
	}
	ops, err := pgx.CollectRows(rows, scanOp)
	if err != nil {
		return nil, fmt.Errorf("pspsim ledger: %w", err)
	}
	return ops, nil
}

// Totals sums the ledger: money captured and refunded, over all orders, in minor
// units (whatever the currency; tests use one).
func (s *Simulator) Totals(ctx context.Context) (captured, refunded int64, err error) {
	err = s.pool.QueryRow(ctx, `SELECT
		coalesce(sum(amount_cents) FILTER (WHERE operation = 'capture'), 0),
		coalesce(sum(amount_cents) FILTER (WHERE operation = 'refund'), 0)
		FROM pspsim_operations`).Scan(&captured, &refunded)
	if err != nil {
		return 0, 0, fmt.Errorf("pspsim totals: %w", err)
	}
	return captured, refunded, nil
}

// Authorize implements psp.Provider.
func (s *Simulator) Authorize(ctx context.Context, req psp.AuthorizeRequest) (psp.Authorization, error) {
	if err := s.check(req.IdempotencyKey, req.OrderID); err != nil {
		return psp.Authorization{}, err
	}
	if !req.Amount.IsPositive() || req.Amount.Validate() != nil {
		return psp.Authorization{}, psp.Permanent(fmt.Errorf("pspsim: authorize %s: amount must be positive", req.Amount))
	}
	if err := s.wait(ctx); err != nil {
		return psp.Authorization{}, err
	}
	var out psp.Authorization
	err := s.inOrder(ctx, req.IdempotencyKey, "authorize", req.OrderID, func(prior *Operation, ops []Operation) (*Operation, error) {
		if prior != nil {
			a, err := s.authorization(*prior, "authorize", req.OrderID)
			out = a
			return nil, err
		}
		op := Operation{IdempotencyKey: req.IdempotencyKey, Operation: "authorize", OrderID: req.OrderID, Token: req.Token, Amount: req.Amount}
		switch {
		case find(ops, "void", "") != nil:
			// The merchant cancelled this order's payment (a technical cancel after a
			// timeout): a late or repeated authorization is refused.
			op.Outcome, op.DeclineReason, op.DeclineCode = string(psp.Declined), "authorization_cancelled", "cancelled_by_merchant"
		case find(ops, "authorize", string(psp.Authorized)) != nil:
			return nil, psp.Permanent(fmt.Errorf("pspsim: order %s is already authorized under another idempotency key", req.OrderID))
		case req.Token == TokenTimeout:
			return nil, errNoAnswer
		case req.Token == TokenVisa || req.Token == TokenMastercard:
			op.Outcome, op.Reference = string(psp.Authorized), reference("auth", req.IdempotencyKey)
		case req.Token == TokenChargeDeclined:
			op.Outcome, op.DeclineReason, op.DeclineCode = string(psp.Declined), "card_declined", "card_declined"
		case req.Token == TokenRiskHighest:
			op.Outcome, op.FraudReasons, op.FraudScore = string(psp.Fraud), []string{"provider_risk_level_highest"}, 95
		default:
			op.Outcome, op.DeclineReason, op.DeclineCode = string(psp.Declined), "invalid_token", "resource_missing"
		}
		return &op, nil
	}, func(op Operation) error {
		a, err := s.authorization(op, "authorize", req.OrderID)
		out = a
		return err
	})
	if errors.Is(err, errNoAnswer) {
		// tok_timeout: the provider never answers; the caller's deadline ends the call.
		<-ctx.Done()
		return psp.Authorization{}, fmt.Errorf("pspsim: authorize with %s: %w", TokenTimeout, ctx.Err())
	}
	return out, err
}

var errNoAnswer = errors.New("pspsim: no answer")

func (s *Simulator) authorization(op Operation, operation string, orderID domain.ID) (psp.Authorization, error) {
	if op.Operation != operation || op.OrderID != orderID {
		return psp.Authorization{}, fmt.Errorf("%w: key %s was used to %s order %s", psp.ErrIdempotencyKeyReuse, op.IdempotencyKey, op.Operation, op.OrderID)
	}
	return psp.Authorization{
		Outcome: psp.Outcome(op.Outcome), Reference: op.Reference, Amount: op.Amount, At: op.CreatedAt,
		DeclineReason: op.DeclineReason, DeclineCode: op.DeclineCode, FraudReasons: op.FraudReasons, FraudScore: op.FraudScore,
	}, nil
}

// Capture implements psp.Provider.
func (s *Simulator) Capture(ctx context.Context, req psp.CaptureRequest) (psp.Capture, error) {
	if err := s.check(req.IdempotencyKey, req.OrderID); err != nil {
		return psp.Capture{}, err
	}
	if err := s.wait(ctx); err != nil {
		return psp.Capture{}, err
	}
	var out psp.Capture
	answer := func(op Operation) error {
		if op.Operation != "capture" || op.OrderID != req.OrderID {
			return fmt.Errorf("%w: key %s was used to %s order %s", psp.ErrIdempotencyKeyReuse, op.IdempotencyKey, op.Operation, op.OrderID)
		}
		out = psp.Capture{Reference: op.Reference, Amount: op.Amount}
		return nil
	}
	err := s.inOrder(ctx, req.IdempotencyKey, "capture", req.OrderID, func(prior *Operation, ops []Operation) (*Operation, error) {
		if prior != nil {
			return nil, answer(*prior)
		}
		auth := find(ops, "authorize", string(psp.Authorized))
		switch {
		case find(ops, "capture", "") != nil:
			return nil, fmt.Errorf("%w: order %s was captured under another idempotency key", psp.ErrAlreadyCaptured, req.OrderID)
		case auth == nil:
			return nil, fmt.Errorf("%w: order %s", psp.ErrNotAuthorized, req.OrderID)
		case find(ops, "void", string("voided")) != nil:
			return nil, fmt.Errorf("%w: the authorization of order %s was voided", psp.ErrNotAuthorized, req.OrderID)
		case req.AuthorizationReference != "" && req.AuthorizationReference != auth.Reference:
			return nil, fmt.Errorf("%w: order %s has no authorization %s", psp.ErrNotAuthorized, req.OrderID, req.AuthorizationReference)
		case req.Amount.Currency != auth.Amount.Currency || req.Amount.Cents <= 0 || req.Amount.Cents > auth.Amount.Cents:
			return nil, psp.Permanent(fmt.Errorf("pspsim: capture %s of an authorization of %s", req.Amount, auth.Amount))
		}
		return &Operation{IdempotencyKey: req.IdempotencyKey, Operation: "capture", OrderID: req.OrderID, Token: auth.Token,
			Amount: req.Amount, Outcome: "captured", Reference: reference("cap", req.IdempotencyKey)}, nil
	}, answer)
	return out, err
}

// Void implements psp.Provider: a technical cancel by order id.
func (s *Simulator) Void(ctx context.Context, req psp.VoidRequest) (psp.Void, error) {
	if err := s.check(req.IdempotencyKey, req.OrderID); err != nil {
		return psp.Void{}, err
	}
	if err := s.wait(ctx); err != nil {
		return psp.Void{}, err
	}
	var (
		out  psp.Void
		auth *Operation
	)
	answer := func(op Operation) error {
		if op.Operation != "void" || op.OrderID != req.OrderID {
			return fmt.Errorf("%w: key %s was used to %s order %s", psp.ErrIdempotencyKeyReuse, op.IdempotencyKey, op.Operation, op.OrderID)
		}
		out = psp.Void{Voided: op.Outcome == "voided"}
		if out.Voided && auth != nil {
			out.Authorization, _ = s.authorization(*auth, "authorize", req.OrderID)
		}
		return nil
	}
	err := s.inOrder(ctx, req.IdempotencyKey, "void", req.OrderID, func(prior *Operation, ops []Operation) (*Operation, error) {
		auth = find(ops, "authorize", string(psp.Authorized))
		if prior == nil {
			prior = find(ops, "void", "") // voided before under another key: same answer
		}
		if prior != nil {
			return nil, answer(*prior)
		}
		if find(ops, "capture", "") != nil {
			return nil, fmt.Errorf("%w: order %s; refund it", psp.ErrAlreadyCaptured, req.OrderID)
		}
		if auth != nil && req.AuthorizationReference != "" && req.AuthorizationReference != auth.Reference {
			return nil, psp.Permanent(fmt.Errorf("pspsim: order %s has no authorization %s", req.OrderID, req.AuthorizationReference))
		}
		op := Operation{IdempotencyKey: req.IdempotencyKey, Operation: "void", OrderID: req.OrderID, Outcome: "nothing_to_void"}
		if auth != nil {
			op.Outcome, op.Amount, op.Reference = "voided", auth.Amount, auth.Reference
		}
		return &op, nil
	}, answer)
	return out, err
}

// Refund implements psp.Provider.
func (s *Simulator) Refund(ctx context.Context, req psp.RefundRequest) (psp.Refund, error) {
	if err := s.check(req.IdempotencyKey, req.OrderID); err != nil {
		return psp.Refund{}, err
	}
	if err := s.wait(ctx); err != nil {
		return psp.Refund{}, err
	}
	var (
		out  psp.Refund
		capt *Operation
	)
	answer := func(op Operation) error {
		if op.Operation != "refund" || op.OrderID != req.OrderID {
			return fmt.Errorf("%w: key %s was used to %s order %s", psp.ErrIdempotencyKeyReuse, op.IdempotencyKey, op.Operation, op.OrderID)
		}
		out = psp.Refund{Reference: op.Reference, Amount: op.Amount}
		if capt != nil {
			out.Capture = psp.Capture{Reference: capt.Reference, Amount: capt.Amount}
		}
		return nil
	}
	err := s.inOrder(ctx, req.IdempotencyKey, "refund", req.OrderID, func(prior *Operation, ops []Operation) (*Operation, error) {
		capt = find(ops, "capture", "")
		if prior != nil {
			return nil, answer(*prior)
		}
		if r := find(ops, "refund", ""); r != nil {
			if r.Amount != req.Amount {
				return nil, psp.Permanent(fmt.Errorf("pspsim: order %s was already refunded %s", req.OrderID, r.Amount))
			}
			return nil, answer(*r)
		}
		switch {
		case capt == nil:
			return nil, fmt.Errorf("%w: order %s", psp.ErrNotCaptured, req.OrderID)
		case req.CaptureReference != "" && req.CaptureReference != capt.Reference:
			return nil, fmt.Errorf("%w: order %s has no capture %s", psp.ErrNotCaptured, req.OrderID, req.CaptureReference)
		case req.Amount.Currency != capt.Amount.Currency || req.Amount.Cents <= 0 || req.Amount.Cents > capt.Amount.Cents:
			return nil, psp.Permanent(fmt.Errorf("pspsim: refund %s of a capture of %s", req.Amount, capt.Amount))
		}
		return &Operation{IdempotencyKey: req.IdempotencyKey, Operation: "refund", OrderID: req.OrderID, Token: capt.Token,
			Amount: req.Amount, Outcome: "refunded", Reference: reference("ref", req.IdempotencyKey)}, nil
	}, answer)
	return out, err
}

func (s *Simulator) check(key string, orderID domain.ID) error {
	var errs []error
	if key == "" || len(key) > 255 {
		errs = append(errs, errors.New("idempotency key must have 1 to 255 characters"))
	}
	if orderID.IsZero() {
		errs = append(errs, errors.New("order id is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return psp.Permanent(fmt.Errorf("pspsim: %w", err))
	}
	return nil
}

// wait adds the configured latency, within the caller's deadline.
func (s *Simulator) wait(ctx context.Context) error {
	if s.opts.Latency <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(s.opts.Latency)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("pspsim: %w", ctx.Err())
	case <-t.C:
		return nil
	}
}

// inOrder runs one call in a transaction that holds the order's advisory lock: decide
// gets the answer recorded under the key (if any) and the order's operations, and
// returns the operation to record (nil: nothing to record; it has set the answer).
// After recording, answer turns the recorded row into the result.
//
// The transaction costs two round trips, not five: BEGIN, the lock and the read go in
// one pipeline, the INSERT and COMMIT in another. A failure anywhere rolls back; a
// connection still in a transaction after that is closed by the pool, never reused.
func (s *Simulator) inOrder(ctx context.Context, key, operation string, orderID domain.ID,
	decide func(prior *Operation, ops []Operation) (*Operation, error), answer func(Operation) error,
) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pspsim %s: %w", operation, err)
	}
	defer conn.Release()
	open := false
	defer func() {
		if open {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	var all []Operation
	b := &pgx.Batch{}
	b.Queue("BEGIN").Exec(func(pgconn.CommandTag) error { open = true; return nil })
	b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended('pspsim:' || $1::text, 0))`, uuid.UUID(orderID))
	// Two index lookups, not `order_id = $1 OR idempotency_key = $2`: planned on a new,
	// empty table, the OR became a sequential scan that a cached plan kept as the table grew.
	b.Queue(selectOp+`WHERE order_id = $1
		UNION ALL `+selectOp+`WHERE idempotency_key = $2 AND order_id <> $1 ORDER BY created_at`, uuid.UUID(orderID), key,
	).Query(func(rows pgx.Rows) error {
		var err error
		all, err = pgx.CollectRows(rows, scanOp)
		return err
	})
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("pspsim %s: lock order and read: %w", operation, err)
	}
	var (
		prior *Operation
		ops   []Operation
	)
	for i := range all {
		if all[i].IdempotencyKey == key {
			prior = &all[i]
		}
		if all[i].OrderID == orderID {
			ops = append(ops, all[i])
		}
	}
	op, err := decide(prior, ops)
	if err != nil || op == nil {
		return err
	}
	if op.FraudReasons == nil {
		op.FraudReasons = []string{}
	}
	b = &pgx.Batch{}
	b.Queue(`INSERT INTO pspsim_operations (idempotency_key, operation, order_id, token, amount_cents, currency,
		outcome, reference, decline_reason, decline_code, fraud_reasons, fraud_score)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING created_at`,
		op.IdempotencyKey, op.Operation, uuid.UUID(op.OrderID), op.Token, op.Amount.Cents, op.Amount.Currency, op.Outcome, op.Reference,
		op.DeclineReason, op.DeclineCode, op.FraudReasons, op.FraudScore,
	).QueryRow(func(row pgx.Row) error { return row.Scan(&op.CreatedAt) })
	b.Queue("COMMIT").Exec(func(tag pgconn.CommandTag) error {
		open = tag.String() != "COMMIT" // "ROLLBACK": the server rolled back
		return nil
	})
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("pspsim %s: record: %w", operation, err)
	}
	if open {
		return fmt.Errorf("pspsim %s: record: the transaction did not commit", operation)
	}
	return answer(*op)
}

// find returns the order's first operation of a kind (and outcome, when not empty).
func find(ops []Operation, operation, outcome string) *Operation {
	for i := range ops {
		if ops[i].Operation == operation && (outcome == "" || ops[i].Outcome == outcome) {
			return &ops[i]
		}
	}
	return nil
}

// reference derives a provider reference from the idempotency key, so that the same
// request always gets the same reference.
func reference(prefix, key string) string {
	sum := sha256.Sum256([]byte(key))
	return "sim_" + prefix + "_" + hex.EncodeToString(sum[:10])
}
