package sagas

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordo-platform/ordo/app"
	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/domain/payment"
	"github.com/ordo-platform/ordo/domain/product"
	"github.com/ordo-platform/ordo/eventstore"
	pgpool "github.com/ordo-platform/ordo/internal/postgres"
	"github.com/ordo-platform/ordo/internal/telemetry"
	"github.com/ordo-platform/ordo/sagas/fraud"
	"github.com/ordo-platform/ordo/sagas/psp"
)

// Actor is the actor of every event the saga appends.
const Actor = "saga:order"

var (
	// errTimedOut: a forward step ran out of time.
	errTimedOut = errors.New("step timed out")
)

// permanentError marks a step failure that retrying will not fix.
type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

func isPermanent(err error) bool {
	var p permanentError
	if errors.As(err, &p) || psp.IsPermanent(err) {
		return true
	}
	_, isDomain := domain.AsError(err)
	return isDomain
}

// isContention reports errors that mean "another writer got there first".
func isContention(err error) bool {
	var pgErr *pgconn.PgError
	return errors.Is(err, eventstore.ErrVersionConflict) ||
		(errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")) // deadlock, serialization
}

// drive runs a claimed saga until nothing is left to do, another worker takes it over,
// or the worker stops.
func (w *Worker) drive(ctx context.Context, s *Saga) {
	for ctx.Err() == nil {
		var err error
		if act := s.Next(); act == ActNone {
			err = w.store.save(ctx, w.store.pool, s, "", false, 0)
		} else {
			// Each step is a span in the trace of the request that placed the order; the
			// events it appends carry that trace on (app.Execute stores the traceparent).
			sctx, span := tracer.Start(telemetry.WithTraceParent(ctx, s.TraceParent), "saga "+string(act),
				trace.WithAttributes(attribute.String("ordo.order_id", s.OrderID.String()), attribute.String("ordo.saga.state", string(s.State))))
			err = w.do(sctx, s, act)
			if err != nil {
				span.RecordError(err)
			}
			span.End()
		}
		switch {
		case ctx.Err() != nil:
			return // stopping: Start hands the saga back
		case errors.Is(err, errFenced):
			metricLeaseLost.Inc()
			w.log.Info("another worker took the saga over", "order_id", s.OrderID)
			return
		case err != nil:
			// Unexpected; the lease runs out and a timer loop tries again.
			w.log.Error("saga step failed; it will be retried when its lease runs out", "order_id", s.OrderID,
				"state", s.State, "err", err)
			return
		}
		if s.Owner != "" {
			continue // more to do
		}
		if s.WakeAt.IsZero() {
			return // released, nothing left
		}
		// Released, but a cancellation arrived meanwhile: take it again.
		next, err := w.store.claim(ctx, s.OrderID, w.token(), w.cfg.Lease)
		if err != nil {
			return // someone else has it, or the timer loop will
		}
		s = next
	}
}

var tracer = telemetry.Tracer("sagas")

// do runs one action.
func (w *Worker) do(ctx context.Context, s *Saga, act Action) error {
	var (
		err  error
		step Step
	)
	switch act {
	case ActCancelRequest:
		return w.cancelRequest(ctx, s)
	case ActReserve:
		step, err = StepReserve, w.reserve(ctx, s)
	case ActAuthorize:
		step, err = StepAuthorize, w.authorize(ctx, s)
	case ActCapture:
		step, err = StepCapture, w.capture(ctx, s)
	case ActConfirm:
		step, err = StepConfirm, w.confirm(ctx, s)
	case ActCompensate:
		step, err = StepCompensate, w.compensateLocal(ctx, s)
	case ActVoid:
		step, err = StepVoid, w.void(ctx, s)
	case ActRefund:
		step, err = StepRefund, w.refund(ctx, s)
	case ActFinish:
		next := *s
		return w.persist(ctx, s, &next, w.rec(s, StepFinish, 1, "cancelled", string(s.Reason), time.Now()))
	default:
		return fmt.Errorf("saga %s: unknown action %s", s.OrderID, act)
	}
	if err == nil || errors.Is(err, errFenced) || ctx.Err() != nil {
		return err
	}
	forward := s.State.forward()
	switch {
	case forward && errors.Is(err, errTimedOut):
		return w.timedOut(ctx, s, step, err)
	case forward && isPermanent(err):
		return w.forwardFailed(ctx, s, step, err)
	case !forward && isPermanent(err):
		return w.compensationFailed(ctx, s, step, err)
	}
	return err
}

// attempts runs try until it succeeds or fails for good, renewing the lease meanwhile.
// A transient failure is logged and backed off; contention (another saga appended to
// the same stream first) is retried after a short jittered wait and is neither a
// failure nor bounded by the deadline. Past deadline (when set) a failure returns
// errTimedOut wrapping it; after maxFailures failures (when > 0) the last one is
// returned marked permanent.
func (w *Worker) attempts(ctx context.Context, s *Saga, step Step, deadline time.Time, maxFailures int,
	try func(ctx context.Context, attempt int) error,
) error {
	return w.withLease(ctx, s, func(ctx context.Context) error {
		failures, contended := 0, 0
		for n := 1; ; n++ {
			start := time.Now()
			err := try(ctx, n)
			if err == nil || errors.Is(err, errFenced) || errors.Is(err, errTimedOut) || isPermanent(err) {
				return err
			}
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			metricRetries.WithLabelValues(string(step)).Inc()
			var wait time.Duration
			contention := isContention(err)
			if contention {
				// Other sagas are making progress on the same streams: not a failure, and
				// not a reason to give up on a local step however long it takes.
				contended++
				wait = time.Duration(1+rand.N(min(5<<contended, 200))) * time.Millisecond
			} else {
				failures++
				w.log.Warn("saga step failed; retrying", "order_id", s.OrderID, "step", step, "attempt", n, "err", err)
				w.logStepNow(ctx, w.done(s, step, n, "retry", err.Error(), start))
				if maxFailures > 0 && failures >= maxFailures {
					return permanentError{fmt.Errorf("%s failed %d times: %w", step, failures, err)}
				}
				wait = w.backoff(failures)
			}
			if !deadline.IsZero() && !contention && time.Now().Add(wait).After(deadline) {
				return fmt.Errorf("%w: %w", errTimedOut, err)
			}
			if err := sleep(ctx, wait); err != nil {
				return err
			}
		}
	})
}

// withLease runs fn while renewing the saga's lease every third of it. If the renewal
// finds the lease taken over, fn's context is cancelled with errFenced.
func (w *Worker) withLease(ctx context.Context, s *Saga, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	orderID, owner := s.OrderID, s.Owner
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(w.cfg.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			held, err := w.store.renew(ctx, orderID, owner, w.cfg.Lease)
			if err == nil && !held {
				cancel(errFenced)
				return
			}
		}
	})
	err := fn(ctx)
	close(stop)
	wg.Wait()
	if err != nil && errors.Is(context.Cause(ctx), errFenced) {
		return errFenced
	}
	return err
}

// transition commits the saga's move to next in one transaction with the events fn
// appends (through app.WithTx) and the step records, then makes next the saga's state.
// fn may still adjust next (it runs before next is saved). The lease is kept while the
// saga has more to do and released otherwise.
func (w *Worker) transition(ctx context.Context, s *Saga, next *Saga, recs []stepRecord, fn func(ctx context.Context, tx pgx.Tx) error) error {
	// BEGIN goes with the first statement, COMMIT with the save: two round trips fewer.
	tx, err := pgpool.BeginPipe(ctx, w.txPool)
	if err != nil {
		return err
	}
	// Tracked: the inventory streams this step appends to stay this saga's until the
	// commit, so the other sagas of this worker wait for it here instead of colliding
	// with it in the store (see app.WithTrackedTx). Queued: the appends travel with the
	// step's next read or with its save and COMMIT, not one round trip each; one that
	// is refused fails the commit with a version conflict, and the step is retried.
	txCtx, end := app.WithQueuedTx(ctx, tx)
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
		end(committed)
	}()
	if fn != nil {
		if err := fn(txCtx, tx); err != nil {
			return err
		}
	}
	next.settle()
	for i := range recs {
		if recs[i].FinishedAt.IsZero() {
			recs[i].FinishedAt = time.Now().UTC() // the step ends with its transition
		}
	}
	b, saved := saveBatch(next, s.Owner, next.Next() != ActNone, w.cfg.Lease, recs...)
	if err := saved(tx.CommitWith(ctx, b)); err != nil {
		return err
	}
	committed = true
	if fn != nil {
		w.env.Store.Notify()
	}
	w.observe(s, next, recs)
	*s = *next
	return nil
}

// persist is a transition without events, retried until it is stored.
func (w *Worker) persist(ctx context.Context, s *Saga, next *Saga, rec stepRecord) error {
	return w.attempts(ctx, s, rec.Step, time.Time{}, 0, func(ctx context.Context, _ int) error {
		n := *next
		return w.transition(ctx, s, &n, []stepRecord{rec}, nil)
	})
}

// settle ends a compensation with nothing left to undo.
func (s *Saga) settle() {
	if s.State == StateCompensating && s.Next() == ActFinish {
		s.State, s.Step, s.Attempt, s.LastError = StateCancelled, "", 0, ""
	}
}

func (w *Worker) observe(prev, next *Saga, recs []stepRecord) {
	for _, r := range recs {
		metricStepSeconds.WithLabelValues(string(r.Step), r.Outcome).Observe(r.FinishedAt.Sub(r.StartedAt).Seconds())
	}
	if prev.State == next.State {
		return
	}
	switch next.State {
	case StateConfirmed:
		metricOutcomes.WithLabelValues("confirmed", "").Inc()
	case StateCancelled:
		metricOutcomes.WithLabelValues("cancelled", string(next.Reason)).Inc()
	case StateCompensationFailed:
		metricCompensationFailures.Inc()
		metricOutcomes.WithLabelValues("compensation_failed", string(next.Reason)).Inc()
	}
}

// rec is a step record whose attempt ends with the transition that logs it.
func (w *Worker) rec(s *Saga, step Step, attempt int, outcome, detail string, start time.Time) stepRecord {
	return stepRecord{OrderID: s.OrderID, Step: step, Attempt: attempt, Outcome: outcome, Detail: detail,
		Worker: w.id, StartedAt: start.UTC()}
}

// done is a step record of an attempt that ended now.
func (w *Worker) done(s *Saga, step Step, attempt int, outcome, detail string, start time.Time) stepRecord {
	r := w.rec(s, step, attempt, outcome, detail, start)
	r.FinishedAt = time.Now().UTC()
	return r
}

// logIn records a step attempt inside a transition's transaction.
func (w *Worker) logIn(ctx context.Context, tx pgx.Tx, r stepRecord) error {
	metricStepSeconds.WithLabelValues(string(r.Step), r.Outcome).Observe(r.FinishedAt.Sub(r.StartedAt).Seconds())
	return w.store.logStep(ctx, tx, r)
}

// logStepNow records a step attempt outside any transition (a failed attempt).
func (w *Worker) logStepNow(ctx context.Context, r stepRecord) {
	metricStepSeconds.WithLabelValues(string(r.Step), r.Outcome).Observe(r.FinishedAt.Sub(r.StartedAt).Seconds())
	if err := w.store.logStep(ctx, w.store.pool, r); err != nil && ctx.Err() == nil {
		w.log.Warn("step log", "order_id", r.OrderID, "err", err)
	}
}

func (w *Worker) meta(s *Saga) eventstore.Metadata {
	return eventstore.Metadata{CorrelationID: s.CorrelationID, CausationID: s.CausationID, Actor: Actor}
}

// seed derives the event ids of one of the saga's appends, so that a repeated append
// is recognised by the store.
func seed(s *Saga, step Step, stream string) string {
	return fmt.Sprintf("saga/%s/%s/%s", s.OrderID, step, stream)
}

func inventoryStream(id domain.ID) eventstore.Stream {
	return eventstore.Stream{Type: product.InventoryStreamType, ID: product.InventoryStreamID(id)}
}

func orderStream(id domain.ID) eventstore.Stream {
	return eventstore.Stream{Type: order.StreamType, ID: order.StreamID(id)}
}

func paymentStream(id domain.ID) eventstore.Stream {
	return eventstore.Stream{Type: payment.StreamType, ID: payment.StreamID(id)}
}

// holdInventory takes the inventory streams of the items (sorted by product id, as
// every saga takes them) for the step's transaction before it appends anything.
func (w *Worker) holdInventory(ctx context.Context, items []Item) error {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = inventoryStream(it.ProductID).ID
	}
	return app.Hold(ctx, w.env, ids...)
}

// inventory runs one command on a product's inventory.
func (w *Worker) inventory(ctx context.Context, s *Saga, step Step, productID domain.ID, decide func(*product.Inventory) ([]domain.Event, error)) error {
	st := inventoryStream(productID)
	_, _, err := app.Execute(ctx, w.env, app.Command[*product.Inventory]{
		Stream: st, New: func() *product.Inventory { return &product.Inventory{} },
		Decide: decide, Meta: w.meta(s), IDSeed: seed(s, step, st.ID), MaxAttempts: 3,
		Cached: true, // inventories grow with every order: catch up, do not fold again
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", step, st.ID, err)
	}
	return nil
}

// orderCmd runs one command on the saga's order and returns the order after it.
func (w *Worker) orderCmd(ctx context.Context, s *Saga, step Step, decide func(*order.Order) ([]domain.Event, error)) (*order.Order, error) {
	o, _, err := app.Execute(ctx, w.env, app.Command[*order.Order]{
		Stream: orderStream(s.OrderID), New: func() *order.Order { return &order.Order{} },
		Decide: decide, Meta: w.meta(s), IDSeed: seed(s, step, "order"), MaxAttempts: 3,
	})
	if err != nil {
		return nil, fmt.Errorf("%s order %s: %w", step, s.OrderID, err)
	}
	return o, nil
}

// recordPayment records the provider's answer in the payment aggregate. Forward steps
// record strictly; compensations record best effort: the provider already moved the
// money back, and a record the aggregate refuses (it never heard of an authorization
// that timed out) must not turn a successful compensation into a failure. The
// refusal is returned as a note for the step log.
func (w *Worker) recordPayment(ctx context.Context, s *Saga, step Step, strict bool, decide func(*payment.Payment) ([]domain.Event, error)) (string, error) {
	_, _, err := app.Execute(ctx, w.env, app.Command[*payment.Payment]{
		Stream: paymentStream(s.OrderID), New: func() *payment.Payment { return &payment.Payment{} },
		Decide: decide, Meta: w.meta(s), IDSeed: seed(s, step, "payment"), MaxAttempts: 3,
		// Only sagas write payments: the capture after this worker's authorization
		// appends without reading the stream back.
		Cached: true,
		// The authorization (or the fraud flag) starts the stream.
		NewStream: step == StepAuthorize || step == StepFraudCheck,
	})
	if err == nil {
		return "", nil
	}
	if e, ok := domain.AsError(err); ok && !strict {
		return "payment record skipped: " + e.Error(), nil
	}
	return "", fmt.Errorf("%s: record payment of %s: %w", step, s.OrderID, err)
}

// cancelRequest turns a customer's cancellation into a compensation.
func (w *Worker) cancelRequest(ctx context.Context, s *Saga) error {
	next := *s
	next.compensate(order.ReasonCancelledByUser, "cancelled by the customer")
	return w.persist(ctx, s, &next, w.done(s, StepCancelRequest, 1, "cancel_requested", "from "+string(s.State), time.Now()))
}

// reserve holds the stock of every item, all or nothing, in one transaction with the
// saga's move to authorizing.
func (w *Worker) reserve(ctx context.Context, s *Saga) error {
	// The timeout bounds the retries of this local step (a database in trouble), counted
	// from when it starts: a saga that waited for a free slot under load has not failed.
	deadline := time.Now().Add(w.cfg.ReserveTimeout)
	return w.attempts(ctx, s, StepReserve, deadline, 0, func(ctx context.Context, n int) error {
		start := time.Now()
		now := time.Now().UTC()
		next := *s
		next.Stock, next.ReservationExpiresAt = StockReserved, domain.NormalizeTime(now.Add(w.cfg.ReservationTTL))
		next.advance(StateAuthorizing, StepAuthorize, now.Add(w.cfg.PaymentTimeout))
		err := w.transition(ctx, s, &next, []stepRecord{w.rec(s, StepReserve, n, "reserved", itemsDetail(s.Items), start)},
			func(ctx context.Context, _ pgx.Tx) error {
				// Read on the step's connection (ctx carries its transaction), before taking
				// the inventory streams, so that the streams are held for the appends alone.
				disc, err := w.discontinued(ctx, s.Items)
				if err != nil {
					return err
				}
				if err := w.holdInventory(ctx, s.Items); err != nil {
					return err
				}
				for _, it := range s.Items { // sorted by product id: every saga locks streams in one order
					err := w.inventory(ctx, s, StepReserve, it.ProductID, func(inv *product.Inventory) ([]domain.Event, error) {
						return inv.DecideReserve(product.Reserve{ProductID: it.ProductID, OrderID: s.OrderID, Quantity: it.Quantity,
							ExpiresAt: next.ReservationExpiresAt, Discontinued: disc[it.ProductID]})
					})
					if err != nil {
						return err
					}
				}
				return nil
			})
		if e, ok := domain.AsError(err); ok {
			// Not enough stock, or discontinued: the transaction rolled back, nothing is held.
			next := *s
			next.compensate(order.ReasonOutOfStock, e.Detail)
			return w.transition(ctx, s, &next, []stepRecord{w.rec(s, StepReserve, n, "out_of_stock", err.Error(), start)}, nil)
		}
		return err
	})
}

func itemsDetail(items []Item) string {
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = fmt.Sprintf("%d × %s", it.Quantity, it.ProductID)
	}
	return strings.Join(parts, ", ")
}

// discontinued reads each product's catalogue status just before reserving.
func (w *Worker) discontinued(ctx context.Context, items []Item) (map[domain.ID]bool, error) {
	streams := make([]string, len(items))
	for i, it := range items {
		streams[i] = product.StreamID(it.ProductID)
	}
	products, err := app.LoadMany(ctx, w.env, streams, func() *product.Product { return &product.Product{} })
	if err != nil {
		return nil, err
	}
	out := make(map[domain.ID]bool, len(items))
	for _, it := range items {
		out[it.ProductID] = products[product.StreamID(it.ProductID)].Discontinued()
	}
	return out, nil
}

// fraudCheck runs the fraud rules with facts as of the order's placement.
func (w *Worker) fraudCheck(ctx context.Context, s *Saga) (fraud.Verdict, error) {
	rules := w.cfg.Fraud
	var facts fraud.Facts
	if rules.VelocityMaxOrders > 0 {
		err := w.store.pool.QueryRow(ctx, `SELECT count(*) FROM order_sagas
			WHERE customer_id = $1 AND order_id <> $2 AND placed_at > $3 AND placed_at <= $4`,
			uuidOf(s.CustomerID), uuidOf(s.OrderID), s.PlacedAt.Add(-rules.VelocityWindow), s.PlacedAt).Scan(&facts.RecentOrders)
		if err != nil {
			return fraud.Verdict{}, fmt.Errorf("fraud velocity: %w", err)
		}
	}
	if rules.NewAccountMaxCents > 0 && s.Total.Cents > rules.NewAccountMaxCents {
		// The account's age is its stream's first event: the user.registered.
		evs, err := w.env.Store.ReadStream(ctx, "user-"+s.CustomerID.String(), 1, 1)
		if err != nil {
			return fraud.Verdict{}, fmt.Errorf("fraud account age: %w", err)
		}
		if len(evs) == 1 {
			facts.AccountCreatedAt = evs[0].OccurredAt
		}
	}
	v := rules.Evaluate(fraud.Order{OrderID: s.OrderID, CustomerID: s.CustomerID, Total: s.Total, PlacedAt: s.PlacedAt}, facts)
	for _, r := range v.Reasons {
		metricFraud.WithLabelValues(strings.SplitN(r, ":", 2)[0]).Inc()
	}
	return v, nil
}

// authorize runs the fraud check, then asks the provider to authorize the total, and
// captures it at once when it can (captureNow).
func (w *Worker) authorize(ctx context.Context, s *Saga) error {
	return w.attempts(ctx, s, StepAuthorize, s.Deadline, 0, func(ctx context.Context, n int) error {
		start := time.Now()
		verdict, err := w.fraudCheck(ctx, s)
		if err != nil {
			return err
		}
		outcome := "pass"
		if verdict.Blocked {
			outcome = "refused"
		}
		fraudRec := w.done(s, StepFraudCheck, n, outcome, fmt.Sprintf("score %d: %s", verdict.Score, strings.Join(verdict.Reasons, "; ")), start)
		if verdict.Blocked {
			next := *s
			next.Payment = PaymentFraud
			next.compensate(order.ReasonFraudSuspected, strings.Join(verdict.Reasons, "; "))
			return w.transition(ctx, s, &next, []stepRecord{fraudRec}, func(ctx context.Context, _ pgx.Tx) error {
				_, err := w.recordPayment(ctx, s, StepFraudCheck, true, func(p *payment.Payment) ([]domain.Event, error) {
					return p.DecideFlagFraud(payment.FlagFraud{OrderID: s.OrderID, Reasons: verdict.Reasons, Score: verdict.Score})
				})
				return err
			})
		}

		callStart := time.Now()
		cctx, cancel := context.WithDeadline(ctx, s.Deadline)
		defer cancel()
		res, err := w.deps.PSP.Authorize(cctx, psp.AuthorizeRequest{
			IdempotencyKey: psp.Key(s.OrderID, string(StepAuthorize)), OrderID: s.OrderID, CustomerID: s.CustomerID,
			Token: s.PaymentToken, Amount: s.Total,
		})
		w.observeCall(cctx, "authorize", string(res.Outcome), err, callStart)
		if err != nil {
			return w.callFailed(ctx, cctx, err)
		}
		rec := w.rec(s, StepAuthorize, n, string(res.Outcome), res.Reference+res.DeclineReason+strings.Join(res.FraudReasons, "; "), callStart)
		next := *s
		var record func(*payment.Payment) ([]domain.Event, error)
		switch res.Outcome {
		case psp.Authorized:
			amount, at := res.Amount, res.At
			if amount.Currency == "" {
				amount = s.Total
			}
			if at.IsZero() {
				at = time.Now()
			}
			next.Payment, next.AuthorizationRef = PaymentAuthorized, res.Reference
			next.advance(StateCapturing, StepCapture, time.Now().Add(w.cfg.CaptureTimeout))
			auth := payment.Authorize{OrderID: s.OrderID, Amount: amount, Provider: w.deps.PSP.Name(),
				ProviderReference: res.Reference, At: at}
			if done, err := w.captureNow(ctx, s, &next, []stepRecord{fraudRec, rec}, auth); done {
				return err
			}
			record = func(p *payment.Payment) ([]domain.Event, error) { return p.DecideAuthorize(auth) }
		case psp.Declined:
			reason := res.DeclineReason
			if domain.Token(payment.CodeInvalidDeclineReason, "reason", reason) != nil {
				reason = "declined"
			}
			next.Payment = PaymentDeclined
			next.compensate(order.ReasonPaymentDeclined, reason)
			record = func(p *payment.Payment) ([]domain.Event, error) {
				return p.DecideDecline(payment.Decline{OrderID: s.OrderID, Reason: reason, ProviderCode: truncate(res.DeclineCode, 64)})
			}
		case psp.Fraud:
			reasons := res.FraudReasons
			if len(reasons) == 0 {
				reasons = []string{"provider_risk_check"}
			}
			next.Payment = PaymentFraud
			next.compensate(order.ReasonFraudSuspected, strings.Join(reasons, "; "))
			record = func(p *payment.Payment) ([]domain.Event, error) {
				return p.DecideFlagFraud(payment.FlagFraud{OrderID: s.OrderID, Reasons: reasons, Score: min(max(res.FraudScore, 0), 100)})
			}
		default:
			return permanentError{fmt.Errorf("provider answered %q", res.Outcome)}
		}
		return w.transition(ctx, s, &next, []stepRecord{fraudRec, rec}, func(ctx context.Context, _ pgx.Tx) error {
			_, err := w.recordPayment(ctx, s, StepAuthorize, true, record)
			return err
		})
	})
}

// callFailed classifies a failed provider call: the worker stopping, the step's
// deadline (a timeout), or the provider's error (permanent or transient as it says).
func (w *Worker) callFailed(ctx, cctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return context.Cause(ctx)
	case cctx.Err() != nil:
		return fmt.Errorf("%w: %w", errTimedOut, err)
	}
	return err
}

func (w *Worker) observeCall(cctx context.Context, op, outcome string, err error, start time.Time) {
	result := outcome
	switch {
	case err == nil:
	case cctx.Err() != nil:
		result = "timeout"
	case errors.Is(err, psp.ErrAlreadyCaptured):
		result = "already_captured"
	case psp.IsPermanent(err):
		result = "refused"
	default:
		result = "error"
	}
	name := w.deps.PSP.Name()
	metricPaymentCalls.WithLabelValues(name, op, result).Inc()
	metricPaymentSeconds.WithLabelValues(name, op).Observe(time.Since(start).Seconds())
}

// capture asks the provider to capture the authorization.
func (w *Worker) capture(ctx context.Context, s *Saga) error {
	return w.attempts(ctx, s, StepCapture, s.Deadline, 0, func(ctx context.Context, n int) error {
		start := time.Now()
		res, err := w.callCapture(ctx, s)
		if err != nil {
			return err
		}
		return w.recordCapture(ctx, s, s, res, []stepRecord{w.rec(s, StepCapture, n, "captured", res.Reference, start)}, StepCapture,
			func(p *payment.Payment, c payment.Capture) ([]domain.Event, error) { return p.DecideCapture(c) })
	})
}

// callCapture asks the provider to capture s's authorization before s's deadline.
func (w *Worker) callCapture(ctx context.Context, s *Saga) (psp.Capture, error) {
	start := time.Now()
	cctx, cancel := context.WithDeadline(ctx, s.Deadline)
	defer cancel()
	res, err := w.deps.PSP.Capture(cctx, psp.CaptureRequest{
		IdempotencyKey: psp.Key(s.OrderID, string(StepCapture)), OrderID: s.OrderID,
		AuthorizationReference: s.AuthorizationRef, Amount: s.Total,
	})
	w.observeCall(cctx, "capture", "captured", err, start)
	if err != nil {
		return res, w.callFailed(ctx, cctx, err)
	}
	if res.Amount.Currency == "" {
		res.Amount = s.Total
	}
	return res, nil
}

// recordCapture records the capture res of the saga in state from (s itself, or s
// just authorized in the same step), with its step records recs, with the order's
// confirmation in one transaction: the confirm step's work (its events carry the
// confirm step's ids) without a transaction of its own. When the confirmation is
// refused (the customer cancelled meanwhile) or fails, the capture is recorded alone,
// and the confirm step decides as it does after any capture. decide records the
// capture in the payment aggregate, under the event ids of payStep.
func (w *Worker) recordCapture(ctx context.Context, s, from *Saga, res psp.Capture, recs []stepRecord, payStep Step,
	decide func(*payment.Payment, payment.Capture) ([]domain.Event, error),
) error {
	record := func(ctx context.Context) error {
		_, err := w.recordPayment(ctx, s, payStep, true, func(p *payment.Payment) ([]domain.Event, error) {
			return decide(p, payment.Capture{Amount: res.Amount, ProviderReference: res.Reference})
		})
		return err
	}
	confirmed := *from
	confirmed.Payment, confirmed.CaptureRef = PaymentCaptured, res.Reference
	confirmed.confirmed()
	err := w.transition(ctx, s, &confirmed, append(slices.Clip(recs), w.rec(s, StepConfirm, 1, "confirmed", "with the capture", time.Now())),
		func(ctx context.Context, _ pgx.Tx) error {
			// The confirmation is its own span in the order's trace, inside the capture's.
			cctx, span := tracer.Start(ctx, "saga "+string(ActConfirm), trace.WithAttributes(
				attribute.String("ordo.order_id", s.OrderID.String()), attribute.Bool("ordo.saga.with_capture", true)))
			defer span.End()
			err := w.confirmIn(cctx, s, record)
			if err != nil {
				span.RecordError(err)
			}
			return err
		})
	if err == nil || errors.Is(err, errFenced) || ctx.Err() != nil {
		return err
	}
	next := *from
	next.Payment, next.CaptureRef = PaymentCaptured, res.Reference
	next.advance(StateConfirming, StepConfirm, time.Now().Add(w.cfg.ConfirmTimeout))
	return w.transition(ctx, s, &next, recs, func(ctx context.Context, _ pgx.Tx) error { return record(ctx) })
}

// captureNow follows an authorization at once with its capture, and records both with
// the order's confirmation in one transaction: one step transaction (and saga save)
// per order fewer than recording the authorization first. authorized is s after the
// authorization, recs the step records so far. It returns false, having done nothing,
// when the customer asked to cancel meanwhile (the authorization is then recorded
// alone and voided, not captured and refunded) or when the provider did not capture:
// the caller records the authorization alone, and the capture step asks again under
// the same idempotency key, as after any authorization.
func (w *Worker) captureNow(ctx context.Context, s, authorized *Saga, recs []stepRecord, auth payment.Authorize) (bool, error) {
	if cancelled, err := w.store.cancelRequested(ctx, s.OrderID); err != nil || cancelled {
		if err != nil {
			w.log.Warn("could not tell whether the order was cancelled; the authorization is recorded alone", "order_id", s.OrderID, "err", err)
		}
		return false, nil
	}
	// The capture is its own span in the order's trace, inside the authorization's.
	ctx, span := tracer.Start(ctx, "saga "+string(ActCapture), trace.WithAttributes(
		attribute.String("ordo.order_id", s.OrderID.String()), attribute.Bool("ordo.saga.with_authorization", true)))
	defer span.End()
	start := time.Now()
	res, err := w.callCapture(ctx, authorized)
	if err != nil {
		span.RecordError(err)
		if ctx.Err() != nil {
			return true, context.Cause(ctx)
		}
		w.log.Warn("capture after the authorization failed; the capture step retries", "order_id", s.OrderID, "err", err)
		return false, nil
	}
	// Recorded under the authorization's ids: its event is the one the authorize step
	// records alone, and the payment stream starts with it.
	err = w.recordCapture(ctx, s, authorized, res, append(recs, w.rec(s, StepCapture, 1, "captured", res.Reference, start)), StepAuthorize,
		func(p *payment.Payment, c payment.Capture) ([]domain.Event, error) {
			return p.DecideAuthorizeAndCapture(auth, c)
		})
	if err != nil {
		span.RecordError(err)
	}
	return true, err
}

// confirmed is the saga after its confirmation.
func (s *Saga) confirmed() {
	s.State, s.Step, s.Deadline, s.Attempt, s.LastError = StateConfirmed, "", time.Time{}, 0, ""
	s.Stock, s.OrderStatus = StockCommitted, order.StatusConfirmed
}

// confirmIn commits the order's reservations and confirms it, in the step transaction
// of ctx, after first (when set: the capture's record, which the history shows before
// the confirmation).
func (w *Worker) confirmIn(ctx context.Context, s *Saga, first func(ctx context.Context) error) error {
	// The contended inventory streams are taken before anything is written: the
	// transaction's id is taken by its first append, and a transaction that waited for a
	// stream must be younger than the one it waited for.
	if err := w.holdInventory(ctx, s.Items); err != nil {
		return err
	}
	if first != nil {
		if err := first(ctx); err != nil {
			return err
		}
	}
	for _, it := range s.Items {
		err := w.inventory(ctx, s, StepConfirm, it.ProductID, func(inv *product.Inventory) ([]domain.Event, error) {
			return inv.DecideCommit(product.Commit{OrderID: s.OrderID})
		})
		if err != nil {
			return err
		}
	}
	_, err := w.orderCmd(ctx, s, StepConfirm, (*order.Order).DecideConfirm)
	return err
}

// confirm confirms the order and commits its reservations, in one transaction (after
// a capture whose transaction could not confirm; see capture).
func (w *Worker) confirm(ctx context.Context, s *Saga) error {
	return w.attempts(ctx, s, StepConfirm, s.Deadline, 0, func(ctx context.Context, n int) error {
		start := time.Now()
		next := *s
		next.confirmed()
		err := w.transition(ctx, s, &next, []stepRecord{w.rec(s, StepConfirm, n, "confirmed", "", start)}, func(ctx context.Context, _ pgx.Tx) error {
			return w.confirmIn(ctx, s, nil)
		})
		if domain.HasCode(err, order.CodeOrderAlreadyCancelled) {
			// The customer cancelled while the saga was paying: undo, with their reason.
			o, _, lerr := app.Load(ctx, w.env, order.StreamID(s.OrderID), func() *order.Order { return &order.Order{} })
			if lerr != nil {
				return lerr
			}
			next := *s
			next.compensate(o.CancelReason(), o.CancelDetail())
			next.OrderStatus = order.StatusCancelled
			return w.transition(ctx, s, &next, []stepRecord{w.rec(s, StepConfirm, n, "order_cancelled", string(o.CancelReason()), start)}, nil)
		}
		return err
	})
}

// compensateLocal gives the stock back (releases a reservation, or restocks what a
// confirmed order had committed) and cancels the order, in one transaction. The
// saga's reason becomes the order's: the first cancellation's reason stands.
func (w *Worker) compensateLocal(ctx context.Context, s *Saga) error {
	return w.attempts(ctx, s, StepCompensate, time.Time{}, w.cfg.CompensationMaxAttempts, func(ctx context.Context, n int) error {
		start := time.Now()
		next := *s
		var detail []string
		err := w.transition(ctx, s, &next, nil, func(ctx context.Context, tx pgx.Tx) error {
			if s.Stock == StockReserved || s.Stock == StockCommitted {
				if err := w.holdInventory(ctx, s.Items); err != nil {
					return err
				}
			}
			for _, it := range s.Items {
				var err error
				switch s.Stock {
				case StockReserved:
					err = w.inventory(ctx, s, StepCompensate, it.ProductID, func(inv *product.Inventory) ([]domain.Event, error) {
						return inv.DecideRelease(product.Release{OrderID: s.OrderID, Reason: string(s.Reason)})
					})
				case StockCommitted:
					// No shipping in Ordo: the goods never left, so they go back on hand.
					err = w.inventory(ctx, s, StepCompensate, it.ProductID, func(inv *product.Inventory) ([]domain.Event, error) {
						return inv.DecideAdjustStock(product.AdjustStock{ProductID: it.ProductID, Delta: it.Quantity,
							Reason: fmt.Sprintf("restock: order %s cancelled", s.OrderID)})
					})
				}
				if err != nil {
					return err
				}
			}
			switch s.Stock {
			case StockReserved:
				next.Stock = StockReleased
				detail = append(detail, "stock released")
			case StockCommitted:
				next.Stock = StockRestocked
				detail = append(detail, "stock restocked")
			}
			o, err := w.orderCmd(ctx, s, StepCompensate, func(o *order.Order) ([]domain.Event, error) {
				return o.DecideCancel(order.Cancel{Reason: s.Reason, Detail: s.Detail})
			})
			if err != nil {
				return err
			}
			next.OrderStatus, next.Reason = order.StatusCancelled, o.CancelReason()
			detail = append(detail, "order cancelled ("+string(o.CancelReason())+")")
			return w.logIn(ctx, tx, w.done(s, StepCompensate, n, "done", strings.Join(detail, ", "), start))
		})
		return err
	})
}

// void takes the authorization back (a technical cancel by order id when the
// authorization's fate is unknown).
func (w *Worker) void(ctx context.Context, s *Saga) error {
	return w.attempts(ctx, s, StepVoid, time.Time{}, w.cfg.CompensationMaxAttempts, func(ctx context.Context, n int) error {
		start := time.Now()
		cctx, cancel := context.WithTimeout(ctx, w.cfg.CompensationTimeout)
		defer cancel()
		res, err := w.deps.PSP.Void(cctx, psp.VoidRequest{
			IdempotencyKey: psp.Key(s.OrderID, string(StepVoid)), OrderID: s.OrderID, AuthorizationReference: s.AuthorizationRef,
		})
		outcome := "nothing_to_void"
		if res.Voided {
			outcome = "voided"
		}
		w.observeCall(cctx, "void", outcome, err, start)
		next := *s
		if errors.Is(err, psp.ErrAlreadyCaptured) {
			// The capture went through after all (its answer was lost): refund instead.
			next.Payment = PaymentCaptured
			return w.transition(ctx, s, &next, []stepRecord{w.rec(s, StepVoid, n, "already_captured", err.Error(), start)}, nil)
		}
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return err
		}
		if !res.Voided {
			next.Payment = PaymentNone
			return w.transition(ctx, s, &next, []stepRecord{w.rec(s, StepVoid, n, outcome, "", start)}, nil)
		}
		next.Payment = PaymentVoided
		var note string
		return w.transition(ctx, s, &next, nil, func(ctx context.Context, tx pgx.Tx) error {
			var err error
			note, err = w.recordPayment(ctx, s, StepVoid, false, func(p *payment.Payment) ([]domain.Event, error) {
				var events []domain.Event
				if !p.Exists() && res.Authorization.Reference != "" {
					// An authorization the saga never heard of (its Authorize timed out).
					a := res.Authorization
					if a.At.IsZero() {
						a.At = time.Now()
					}
					evs, err := p.DecideAuthorize(payment.Authorize{OrderID: s.OrderID, Amount: a.Amount, Provider: w.deps.PSP.Name(),
						ProviderReference: a.Reference, At: a.At})
					if err != nil {
						return nil, err
					}
					for _, e := range evs {
						if err := p.Evolve(e); err != nil {
							return nil, err
						}
					}
					events = append(events, evs...)
				}
				evs, err := p.DecideVoid()
				return append(events, evs...), err
			})
			if err != nil {
				return err
			}
			return w.logIn(ctx, tx, w.done(s, StepVoid, n, outcome, note, start))
		})
	})
}

// refund gives captured money back.
func (w *Worker) refund(ctx context.Context, s *Saga) error {
	return w.attempts(ctx, s, StepRefund, time.Time{}, w.cfg.CompensationMaxAttempts, func(ctx context.Context, n int) error {
		start := time.Now()
		cctx, cancel := context.WithTimeout(ctx, w.cfg.CompensationTimeout)
		defer cancel()
		res, err := w.deps.PSP.Refund(cctx, psp.RefundRequest{
			IdempotencyKey: psp.Key(s.OrderID, string(StepRefund)), OrderID: s.OrderID, CaptureReference: s.CaptureRef, Amount: s.Total,
		})
		w.observeCall(cctx, "refund", "refunded", err, start)
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return err
		}
		amount := res.Amount
		if amount.Currency == "" {
			amount = s.Total
		}
		next := *s
		next.Payment = PaymentRefunded
		return w.transition(ctx, s, &next, nil, func(ctx context.Context, tx pgx.Tx) error {
			note, err := w.recordPayment(ctx, s, StepRefund, false, func(p *payment.Payment) ([]domain.Event, error) {
				return p.DecideRefund(payment.Refund{Amount: amount})
			})
			if err != nil {
				return err
			}
			return w.logIn(ctx, tx, w.done(s, StepRefund, n, "refunded", strings.TrimSpace(res.Reference+" "+note), start))
		})
	})
}

// timedOut cancels the order of a forward step that ran out of time.
func (w *Worker) timedOut(ctx context.Context, s *Saga, step Step, cause error) error {
	metricTimeouts.WithLabelValues(string(step)).Inc()
	next := *s
	if step == StepAuthorize && next.Payment == PaymentNone {
		next.Payment = PaymentUnknown // the provider may have authorized: void by order id
	}
	next.LastError = cause.Error()
	next.compensate(order.ReasonTimeout, fmt.Sprintf("%s did not finish in time", step))
	return w.persist(ctx, s, &next, w.rec(s, step, s.Attempt+1, "timeout", cause.Error(), time.Now()))
}

// forwardFailed cancels the order of a forward step that failed for good.
func (w *Worker) forwardFailed(ctx context.Context, s *Saga, step Step, cause error) error {
	next := *s
	reason := order.ReasonPaymentDeclined
	switch step {
	case StepReserve, StepConfirm:
		reason = order.ReasonOutOfStock
	case StepAuthorize:
		if next.Payment == PaymentNone {
			next.Payment = PaymentUnknown
		}
	}
	next.LastError = cause.Error()
	next.compensate(reason, cause.Error())
	return w.persist(ctx, s, &next, w.rec(s, step, s.Attempt+1, "failed", cause.Error(), time.Now()))
}

// compensationFailed parks the saga for an operator.
func (w *Worker) compensationFailed(ctx context.Context, s *Saga, step Step, cause error) error {
	w.log.Error("compensation failed; the saga needs an operator (docs/saga.md)", "order_id", s.OrderID, "step", step, "err", cause)
	next := *s
	next.State, next.Step, next.LastError = StateCompensationFailed, step, cause.Error()
	next.Attempt = w.cfg.CompensationMaxAttempts
	if err := w.persist(ctx, s, &next, w.rec(s, step, next.Attempt, "compensation_failed", cause.Error(), time.Now())); err != nil {
		return err
	}
	w.refreshGauge(ctx)
	return nil
}
