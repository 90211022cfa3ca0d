package pspsim_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/internal/testenv"
	"github.com/ordo-platform/ordo/sagas/psp"
	"github.com/ordo-platform/ordo/sagas/psp/pspsim"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newSim(t *testing.T) *pspsim.Simulator {
	t.Helper()
	return pspsim.New(testenv.PostgresSchema(t, pspsim.Migrations()), pspsim.Options{})
}

func newOrder() domain.ID { return domain.ID(uuid.Must(uuid.NewV7())) }

var eur = func(c int64) domain.Money { return domain.Money{Cents: c, Currency: "EUR"} }

func authorize(t *testing.T, sim *pspsim.Simulator, id domain.ID, token string) (psp.Authorization, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return sim.Authorize(ctx, psp.AuthorizeRequest{IdempotencyKey: psp.Key(id, "authorize"), OrderID: id,
		CustomerID: newOrder(), Token: token, Amount: eur(1299)})
}

func TestAuthorizeAnswersByToken(t *testing.T) {
	t.Parallel()
	sim := newSim(t)
	tests := []struct {
		token   string
		outcome psp.Outcome
		reason  string
	}{
		{token: pspsim.TokenVisa, outcome: psp.Authorized},
		{token: pspsim.TokenMastercard, outcome: psp.Authorized},
		{token: pspsim.TokenChargeDeclined, outcome: psp.Declined, reason: "card_declined"},
		{token: pspsim.TokenRiskHighest, outcome: psp.Fraud},
		{token: "tok_unknown", outcome: psp.Declined, reason: "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			t.Parallel()
			id := newOrder()
			a, err := authorize(t, sim, id, tt.token)
			require.NoError(t, err)
			require.Equal(t, tt.outcome, a.Outcome)
			require.Equal(t, tt.reason, a.DeclineReason)
			if tt.outcome == psp.Authorized {
				require.NotEmpty(t, a.Reference)
				require.Equal(t, eur(1299), a.Amount)
			}
			if tt.outcome == psp.Fraud {
				require.NotEmpty(t, a.FraudReasons)
				require.Positive(t, a.FraudScore)
			}
			again, err := authorize(t, sim, id, tt.token)
			require.NoError(t, err)
			require.Equal(t, a.Outcome, again.Outcome, "a retry gets the first answer")
			require.Equal(t, a.Reference, again.Reference)
			ops, err := sim.Ledger(context.Background(), id)
			require.NoError(t, err)
			require.Len(t, ops, 1, "a retry records nothing new")
		})
	}
}

func TestTimeoutTokenNeverAnswers(t *testing.T) {
	t.Parallel()
	sim := newSim(t)
	id := newOrder()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := sim.Authorize(ctx, psp.AuthorizeRequest{IdempotencyKey: psp.Key(id, "authorize"), OrderID: id, Token: pspsim.TokenTimeout, Amount: eur(100)})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.False(t, psp.IsPermanent(err))

	// The technical cancel finds nothing to void, and refuses the authorization from then on.
	v, err := sim.Void(context.Background(), psp.VoidRequest{IdempotencyKey: psp.Key(id, "void"), OrderID: id})
	require.NoError(t, err)
	require.False(t, v.Voided)
	a, err := authorize(t, sim, id, pspsim.TokenVisa)
	require.NoError(t, err)
	require.Equal(t, psp.Declined, a.Outcome, "no authorization after a technical cancel")
}

func TestCaptureVoidRefundRules(t *testing.T) {
	t.Parallel()
	sim := newSim(t)
	ctx := context.Background()
	id := newOrder()
	a, err := authorize(t, sim, id, pspsim.TokenVisa)
	require.NoError(t, err)

	_, err = sim.Refund(ctx, psp.RefundRequest{IdempotencyKey: psp.Key(id, "refund"), OrderID: id, Amount: eur(1299)})
	require.ErrorIs(t, err, psp.ErrNotCaptured)
	_, err = sim.Capture(ctx, psp.CaptureRequest{IdempotencyKey: psp.Key(id, "capture"), OrderID: id, AuthorizationReference: a.Reference, Amount: eur(5000)})
	require.True(t, psp.IsPermanent(err), "above the authorization: %v", err)

	c, err := sim.Capture(ctx, psp.CaptureRequest{IdempotencyKey: psp.Key(id, "capture"), OrderID: id, AuthorizationReference: a.Reference, Amount: eur(1299)})
	require.NoError(t, err)
	again, err := sim.Capture(ctx, psp.CaptureRequest{IdempotencyKey: psp.Key(id, "capture"), OrderID: id, AuthorizationReference: a.Reference, Amount: eur(1299)})
	require.NoError(t, err)
	require.Equal(t, c, again)
	_, err = sim.Capture(ctx, psp.CaptureRequest{IdempotencyKey: "another key", OrderID: id, AuthorizationReference: a.Reference, Amount: eur(1299)})
	require.ErrorIs(t, err, psp.ErrAlreadyCaptured, "a second capture under another key is refused")
	_, err = sim.Void(ctx, psp.VoidRequest{IdempotencyKey: psp.Key(id, "void"), OrderID: id})
	require.ErrorIs(t, err, psp.ErrAlreadyCaptured)

	r, err := sim.Refund(ctx, psp.RefundRequest{IdempotencyKey: psp.Key(id, "refund"), OrderID: id, Amount: eur(1299)})
	require.NoError(t, err)
	require.Equal(t, eur(1299), r.Amount)
	require.Equal(t, c.Reference, r.Capture.Reference)
	captured, refunded, err := sim.Totals(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1299), captured)
	require.Equal(t, int64(1299), refunded)

	// Void of a live authorization, by order id alone.
	id2 := newOrder()
	a2, err := authorize(t, sim, id2, pspsim.TokenMastercard)
	require.NoError(t, err)
	v, err := sim.Void(ctx, psp.VoidRequest{IdempotencyKey: psp.Key(id2, "void"), OrderID: id2})
	require.NoError(t, err)
	require.True(t, v.Voided)
	require.Equal(t, a2.Reference, v.Authorization.Reference)
	_, err = sim.Capture(ctx, psp.CaptureRequest{IdempotencyKey: psp.Key(id2, "capture"), OrderID: id2, Amount: eur(1299)})
	require.ErrorIs(t, err, psp.ErrNotAuthorized)

	_, err = sim.Void(ctx, psp.VoidRequest{IdempotencyKey: psp.Key(id, "refund"), OrderID: id})
	require.ErrorIs(t, err, psp.ErrIdempotencyKeyReuse)
}

// TestConcurrentCapturesChargeOnce: many callers capture one order at once, with the
// same key and with different keys; the ledger holds one capture.
func TestConcurrentCapturesChargeOnce(t *testing.T) {
	t.Parallel()
	sim := newSim(t)
	ctx := context.Background()
	id := newOrder()
	_, err := authorize(t, sim, id, pspsim.TokenVisa)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			key := psp.Key(id, "capture")
			if i%2 == 1 {
				key += string(rune('a' + i))
			}
			_, _ = sim.Capture(ctx, psp.CaptureRequest{IdempotencyKey: key, OrderID: id, Amount: eur(1299)})
		})
	}
	wg.Wait()
	captured, _, err := sim.Totals(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1299), captured)
}

// TestFailedCallsLeaveNoOpenTransaction: a call runs its transaction in two pipelines
// (BEGIN, lock, read; INSERT, COMMIT). Whichever way it fails (a refused decision, a
// provider that never answers, a failing INSERT), nothing is recorded and no connection
// goes back to the pool inside a transaction or holding the order's lock.
func TestFailedCallsLeaveNoOpenTransaction(t *testing.T) {
	t.Parallel()
	pool := testenv.PostgresSchema(t, pspsim.Migrations())
	sim := pspsim.New(pool, pspsim.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// A refused decision: capture before any authorization.
	id := newOrder()
	_, err := sim.Capture(ctx, psp.CaptureRequest{IdempotencyKey: psp.Key(id, "capture"), OrderID: id, Amount: eur(100)})
	require.ErrorIs(t, err, psp.ErrNotAuthorized)

	// A provider that never answers.
	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = sim.Authorize(short, psp.AuthorizeRequest{IdempotencyKey: psp.Key(id, "authorize"), OrderID: id, Token: pspsim.TokenTimeout, Amount: eur(100)})
	cancelShort()
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// An INSERT that fails on the server (a trigger refusing this order's rows).
	bad := newOrder()
	_, err = pool.Exec(ctx, `CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.order_id = '`+uuid.UUID(bad).String()+`' THEN RAISE EXCEPTION 'refused by test'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER refuse BEFORE INSERT ON pspsim_operations FOR EACH ROW EXECUTE FUNCTION refuse()`)
	require.NoError(t, err)
	_, err = authorize(t, sim, bad, pspsim.TokenVisa)
	require.ErrorContains(t, err, "refused by test")
	ledger, err := sim.Ledger(ctx, bad)
	require.NoError(t, err)
	require.Empty(t, ledger)

	for _, c := range pool.AcquireAllIdle(ctx) {
		require.Equal(t, byte('I'), c.Conn().PgConn().TxStatus(), "a pooled connection is inside a transaction")
		c.Release()
	}
	// The orders' locks are free: their next calls go through at once.
	a, err := authorize(t, sim, id, pspsim.TokenVisa)
	require.NoError(t, err)
	require.Equal(t, psp.Authorized, a.Outcome)
	_, err = pool.Exec(ctx, `DROP TRIGGER refuse ON pspsim_operations`)
	require.NoError(t, err)
	a, err = authorize(t, sim, bad, pspsim.TokenVisa)
	require.NoError(t, err)
	require.Equal(t, psp.Authorized, a.Outcome)
}
