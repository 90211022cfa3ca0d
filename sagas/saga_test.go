package sagas_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/app"
	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/domain/payment"
	"github.com/ordo-platform/ordo/domain/product"
	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/sagas"
	"github.com/ordo-platform/ordo/sagas/psp"
	"github.com/ordo-platform/ordo/sagas/psp/pspsim"
)

// TestTokenPaths places one order per payment path and checks where each ends: the
// order's status and reason, the provider's ledger, the payment stream and the stock.
func TestTokenPaths(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true, func(c *sagas.Config) { c.PaymentTimeout = 3 * time.Second }) // for tok_timeout
	h.worker(t, nil, "w1")
	stocked := h.product(t, 100, 1299)
	empty := h.product(t, 0, 500)

	tests := []struct {
		name    string
		token   string
		lines   []line
		status  order.Status
		reason  order.CancelReason
		ledger  []string
		payment []string
	}{
		{name: "visa", token: pspsim.TokenVisa, lines: []line{{stocked, 1, 1299}}, status: order.StatusConfirmed,
			ledger: []string{"authorize:authorized", "capture:captured"}, payment: []string{"payment.authorized", "payment.captured"}},
		{name: "mastercard", token: pspsim.TokenMastercard, lines: []line{{stocked, 2, 1299}}, status: order.StatusConfirmed,
			ledger: []string{"authorize:authorized", "capture:captured"}, payment: []string{"payment.authorized", "payment.captured"}},
		{name: "declined", token: pspsim.TokenChargeDeclined, lines: []line{{stocked, 1, 1299}}, status: order.StatusCancelled,
			reason: order.ReasonPaymentDeclined, ledger: []string{"authorize:declined"}, payment: []string{"payment.declined"}},
		{name: "provider fraud", token: pspsim.TokenRiskHighest, lines: []line{{stocked, 1, 1299}}, status: order.StatusCancelled,
			reason: order.ReasonFraudSuspected, ledger: []string{"authorize:fraud"}, payment: []string{"payment.fraud_suspected"}},
		{name: "timeout", token: pspsim.TokenTimeout, lines: []line{{stocked, 1, 1299}}, status: order.StatusCancelled,
			reason: order.ReasonTimeout, ledger: []string{"void:nothing_to_void"}},
		{name: "our fraud rule, before the provider", token: pspsim.TokenVisa, lines: []line{{stocked, 1, 2_000_000}},
			status: order.StatusCancelled, reason: order.ReasonFraudSuspected, payment: []string{"payment.fraud_suspected"}},
		{name: "out of stock", token: pspsim.TokenVisa, lines: []line{{empty, 1, 500}}, status: order.StatusCancelled,
			reason: order.ReasonOutOfStock},
		{name: "all or nothing", token: pspsim.TokenVisa, lines: []line{{stocked, 3, 1299}, {empty, 1, 500}}, status: order.StatusCancelled,
			reason: order.ReasonOutOfStock},
	}
	ids := make([]domain.ID, len(tests))
	for i, tt := range tests {
		ids[i] = h.place(t, newID(), tt.token, tt.lines...)
	}
	final := h.waitSettled(t, ids...)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := ids[i]
			o := h.order(t, id)
			require.Equal(t, tt.status, o.Status())
			require.Equal(t, tt.reason, o.CancelReason())
			require.Equal(t, tt.ledger, h.ledger(t, id))
			require.Equal(t, tt.payment, h.payment(t, id))
			v := final[id]
			if tt.status == order.StatusConfirmed {
				require.Equal(t, sagas.StateConfirmed, v.State)
				require.Equal(t, sagas.StockCommitted, v.Stock)
			} else {
				require.Equal(t, sagas.StateCancelled, v.State)
				require.Equal(t, string(tt.reason), v.Reason)
				require.NotEqual(t, sagas.StockReserved, v.Stock, "stock given back")
			}
		})
	}

	// Stock: 3 units sold (visa 1, mastercard 2), nothing left reserved, and the
	// all-or-nothing order never reserved its 3 units of the stocked product.
	inv := h.inventory(t, stocked)
	require.Equal(t, int64(97), inv.OnHand())
	require.Zero(t, inv.Reserved())
	evs, err := h.store.ReadStream(context.Background(), product.InventoryStreamID(stocked), 1, 1000)
	require.NoError(t, err)
	allOrNothing := ids[len(ids)-1]
	for _, e := range evs {
		ev, err := h.env.Codec.Decode(e.Type, e.SchemaVersion, e.Payload)
		require.NoError(t, err)
		if r, ok := ev.(product.Reserved); ok {
			require.NotEqual(t, allOrNothing, r.OrderID, "a failed order must not hold any item")
		}
	}
	captured, _, err := h.sim.Totals(context.Background())
	require.NoError(t, err)
	require.Equal(t, int64(1299*3), captured)

	// The timeline of the confirmed order tells the whole story.
	tl, err := h.q.Timeline(context.Background(), ids[0])
	require.NoError(t, err)
	var kinds []string
	for _, e := range tl.Entries {
		if e.Kind == "event" {
			kinds = append(kinds, e.Type)
		} else {
			kinds = append(kinds, "step:"+e.Step)
		}
	}
	for _, want := range []string{"order.placed", "inventory.reserved", "step:reserve", "step:fraud_check", "payment.authorized",
		"step:authorize", "payment.captured", "step:capture", "order.confirmed", "inventory.committed", "step:confirm"} {
		require.Contains(t, kinds, want)
	}
	// The provider captured right after authorizing: the authorization, the capture and
	// the confirmation were recorded in one transaction.
	var txs int
	require.NoError(t, h.pool.QueryRow(context.Background(), `SELECT count(DISTINCT xmin::text) FROM events
		WHERE stream_id = ANY($1) AND type IN ('payment.authorized', 'payment.captured', 'order.confirmed')`,
		[]string{payment.StreamID(ids[0]), order.StreamID(ids[0])}).Scan(&txs))
	require.Equal(t, 1, txs)
	require.Less(t, slices.Index(kinds, "order.placed"), slices.Index(kinds, "payment.authorized"))
	require.Less(t, slices.Index(kinds, "payment.captured"), slices.Index(kinds, "order.confirmed"))
	require.Equal(t, "confirmed", tl.Status)
	_, err = json.Marshal(tl)
	require.NoError(t, err)
	_, err = h.q.Timeline(context.Background(), newID())
	require.True(t, domain.HasCode(err, order.CodeOrderNotFound))
}

// TestTimeoutSurvivesAWorkerStop: the worker waiting on a provider that never answers
// stops; the next worker resumes the step under the deadline stored with the saga and
// cancels the order with reason timeout, voiding by order id.
func TestTimeoutSurvivesAWorkerStop(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true, func(c *sagas.Config) { c.PaymentTimeout = 3 * time.Second })
	g := &gate{Provider: h.sim, authCalled: make(chan struct{}, 1)}
	_, stop1 := h.worker(t, g, "w1")
	p := h.product(t, 5, 100)
	timeoutsBefore := counter(t, "ordo_saga_timeouts_total")

	id := h.place(t, newID(), pspsim.TokenTimeout, line{p, 1, 100})
	select {
	case <-g.authCalled:
	case <-time.After(60 * time.Second):
		t.Fatal("the saga never asked for an authorization")
	}
	before, _ := h.saga(t, id)
	stop1()
	h.worker(t, nil, "w2")
	v := h.waitSettled(t, id)[id]
	require.Equal(t, sagas.StateCancelled, v.State)
	require.Equal(t, order.ReasonTimeout, h.order(t, id).CancelReason())
	require.Equal(t, []string{"void:nothing_to_void"}, h.ledger(t, id))
	require.Zero(t, h.inventory(t, p).Reserved())
	require.GreaterOrEqual(t, counter(t, "ordo_saga_timeouts_total"), timeoutsBefore+1)

	tl, err := h.q.Timeline(context.Background(), id)
	require.NoError(t, err)
	byWorker := map[string]string{}
	for _, e := range tl.Entries {
		if e.Kind == "step" {
			byWorker[e.Step+":"+e.Outcome] = e.Worker
		}
	}
	require.Equal(t, "w1", byWorker["reserve:reserved"])
	require.Equal(t, "w2", byWorker["authorize:timeout"], "the second worker fired the stored deadline")
	require.NotNil(t, before.Deadline)
}

// TestCustomerCancelWhilePaying: the customer cancels after the stock is reserved,
// while the authorization is in flight; the saga voids it and releases the stock.
func TestCustomerCancelWhilePaying(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true)
	g := &gate{Provider: h.sim, holdAuth: make(chan struct{}), authCalled: make(chan struct{}, 1)}
	h.worker(t, g, "w1")
	p := h.product(t, 10, 700)

	id := h.place(t, newID(), pspsim.TokenVisa, line{p, 2, 700})
	select {
	case <-g.authCalled:
	case <-time.After(60 * time.Second):
		t.Fatal("the saga never asked for an authorization")
	}
	require.Equal(t, int64(2), h.inventory(t, p).Reserved(), "stock is reserved before payment")
	h.cancel(t, id)
	h.waitFor(t, func(v sagas.SagaView) bool { return v.CancelRequested }, id)
	close(g.holdAuth)

	v := h.waitSettled(t, id)[id]
	require.Equal(t, sagas.StateCancelled, v.State)
	require.Equal(t, string(order.ReasonCancelledByUser), v.Reason)
	require.Equal(t, order.ReasonCancelledByUser, h.order(t, id).CancelReason())
	require.Equal(t, []string{"authorize:authorized", "void:voided"}, h.ledger(t, id))
	require.Equal(t, []string{"payment.authorized", "payment.voided"}, h.payment(t, id))
	inv := h.inventory(t, p)
	require.Equal(t, int64(10), inv.OnHand())
	require.Zero(t, inv.Reserved())
}

// TestCustomerCancelWhileCapturing: the customer cancels while the capture (asked for
// right after the authorization) is with the provider. The capture's transaction
// cannot confirm the order any more; the authorization and the capture are recorded
// alone, the stock released and the money refunded.
func TestCustomerCancelWhileCapturing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true)
	g := &gate{Provider: h.sim, holdCapture: make(chan struct{}), captured: make(chan struct{}, 1), captureCalled: make(chan struct{}, 1)}
	h.worker(t, g, "w1")
	p := h.product(t, 10, 700)

	id := h.place(t, newID(), pspsim.TokenVisa, line{p, 2, 700})
	select {
	case <-g.captureCalled:
	case <-time.After(60 * time.Second):
		t.Fatal("the saga never asked for a capture")
	}
	h.cancel(t, id)
	h.waitFor(t, func(v sagas.SagaView) bool { return v.CancelRequested }, id)
	close(g.holdCapture)
	select {
	case <-g.captured:
	case <-time.After(60 * time.Second):
		t.Fatal("the saga never captured")
	}

	v := h.waitSettled(t, id)[id]
	require.Equal(t, sagas.StateCancelled, v.State)
	require.Equal(t, string(order.ReasonCancelledByUser), v.Reason)
	require.Equal(t, order.StatusCancelled, h.order(t, id).Status())
	require.Equal(t, []string{"authorize:authorized", "capture:captured", "refund:refunded"}, h.ledger(t, id))
	require.Equal(t, []string{"payment.authorized", "payment.captured", "payment.refunded"}, h.payment(t, id))
	inv := h.inventory(t, p)
	require.Equal(t, int64(10), inv.OnHand())
	require.Zero(t, inv.Reserved())
}

// TestCustomerCancelAfterConfirmation: a confirmed order cancelled by its customer is
// refunded and its stock put back on hand.
func TestCustomerCancelAfterConfirmation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true)
	h.worker(t, nil, "w1")
	p := h.product(t, 10, 700)
	id := h.place(t, newID(), pspsim.TokenMastercard, line{p, 3, 700})
	require.Equal(t, sagas.StateConfirmed, h.waitSettled(t, id)[id].State)
	require.Equal(t, int64(7), h.inventory(t, p).OnHand())

	h.cancel(t, id)
	v := h.waitFor(t, func(v sagas.SagaView) bool { return v.State == sagas.StateCancelled }, id)[id]
	require.Equal(t, sagas.StockRestocked, v.Stock)
	require.Equal(t, sagas.PaymentRefunded, v.Payment)
	require.Equal(t, []string{"authorize:authorized", "capture:captured", "refund:refunded"}, h.ledger(t, id))
	require.Equal(t, []string{"payment.authorized", "payment.captured", "payment.refunded"}, h.payment(t, id))
	inv := h.inventory(t, p)
	require.Equal(t, int64(10), inv.OnHand())
	require.Zero(t, inv.Reserved())
	captured, refunded, err := h.sim.Totals(context.Background())
	require.NoError(t, err)
	require.Equal(t, captured, refunded)
}

// TestCompensationFailure: the capture is refused and then the void fails for good; the
// saga parks in compensation_failed (order cancelled, stock released), is listed for
// operators, counted, and completes when an operator retries after the fix.
func TestCompensationFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true)
	g := &gate{Provider: h.sim,
		failCapture: psp.Permanent(errors.New("capture refused by the issuer")),
		failVoid:    psp.Permanent(errors.New("void endpoint gone"))}
	h.worker(t, g, "w1")
	p := h.product(t, 10, 900)
	failuresBefore := counter(t, "ordo_saga_compensation_failures_total")

	id := h.place(t, newID(), pspsim.TokenVisa, line{p, 1, 900})
	ok := h.place(t, newID(), pspsim.TokenChargeDeclined, line{p, 1, 900})
	v := h.waitSettled(t, id, ok)[id]
	require.Equal(t, sagas.StateCompensationFailed, v.State)
	require.Equal(t, sagas.StepVoid, v.Step)
	require.Contains(t, v.LastError, "void endpoint gone")
	require.Equal(t, sagas.PaymentAuthorized, v.Payment, "the authorization is still live: an operator's job")
	require.Equal(t, order.ReasonPaymentDeclined, h.order(t, id).CancelReason(), "the order is cancelled all the same")
	require.Zero(t, h.inventory(t, p).Reserved(), "the stock is released all the same")
	require.Equal(t, []string{"authorize:authorized"}, h.ledger(t, id))
	require.GreaterOrEqual(t, counter(t, "ordo_saga_compensation_failures_total"), failuresBefore+1)

	page, err := h.q.ListSagas(context.Background(), sagas.ListFilter{State: sagas.StateCompensationFailed})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)
	require.Equal(t, id, page.Items[0].OrderID)
	all, err := h.q.ListSagas(context.Background(), sagas.ListFilter{Limit: 1})
	require.NoError(t, err)
	require.Len(t, all.Items, 1)
	require.NotEmpty(t, all.NextCursor)
	rest, err := h.q.ListSagas(context.Background(), sagas.ListFilter{Limit: 1, Cursor: all.NextCursor})
	require.NoError(t, err)
	require.Len(t, rest.Items, 1)
	require.NotEqual(t, all.Items[0].OrderID, rest.Items[0].OrderID)
	_, err = h.q.ListSagas(context.Background(), sagas.ListFilter{State: "stuck"})
	require.True(t, domain.HasCode(err, sagas.CodeInvalidState))

	// The operator fixes the provider and retries.
	g.set(func(g *gate) { g.failVoid = nil })
	_, err = h.q.RetryCompensation(context.Background(), ok)
	require.True(t, domain.HasCode(err, sagas.CodeSagaNotFailed))
	_, err = h.q.RetryCompensation(context.Background(), id)
	require.NoError(t, err)
	v = h.waitSettled(t, id)[id]
	require.Equal(t, sagas.StateCancelled, v.State)
	require.Equal(t, []string{"authorize:authorized", "void:voided"}, h.ledger(t, id))
	require.Equal(t, []string{"payment.authorized", "payment.voided"}, h.payment(t, id))
}

func counter(t *testing.T, name string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	for _, c := range sagas.Collectors() {
		require.NoError(t, reg.Register(c))
	}
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			var sum float64
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			return sum
		}
	}
	return 0
}

// TestFiftyOrdersForTenUnits: 50 customers order the last 10 units at once. Exactly 10
// orders are confirmed and paid, 40 are cancelled out_of_stock, and the stock ends at
// zero with nothing reserved.
func TestFiftyOrdersForTenUnits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true)
	h.worker(t, nil, "w1")
	h.worker(t, nil, "w2")
	p := h.product(t, 10, 2500)

	ids := h.placeConcurrently(t, 50, line{p, 1, 2500})
	final := h.waitSettled(t, ids...)

	confirmed, outOfStock := 0, 0
	for _, id := range ids {
		o := h.order(t, id)
		switch {
		case o.Status() == order.StatusConfirmed:
			confirmed++
			require.Equal(t, []string{"authorize:authorized", "capture:captured"}, h.ledger(t, id))
			require.Equal(t, sagas.StateConfirmed, final[id].State)
		case o.CancelReason() == order.ReasonOutOfStock:
			outOfStock++
			require.Empty(t, h.ledger(t, id), "no payment without stock")
		default:
			t.Fatalf("order %s ended %s/%s", id, o.Status(), o.CancelReason())
		}
	}
	require.Equal(t, 10, confirmed)
	require.Equal(t, 40, outOfStock)
	inv := h.inventory(t, p)
	require.Zero(t, inv.OnHand())
	require.Zero(t, inv.Reserved())
	require.Zero(t, inv.Available())
	captured, _, err := h.sim.Totals(context.Background())
	require.NoError(t, err)
	require.Equal(t, int64(10*2500), captured)
}

// TestTwoWorkersAndARebalance: two workers share the orders through the group's
// partitions; one stops in the middle of the stream. Every order still ends where its
// token says, the other worker finishes what the first left half done, and no order
// was ever run by both at once.
func TestTwoWorkersAndARebalance(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true)
	slow := pspsim.New(h.pool, pspsim.Options{Latency: 200 * time.Millisecond})
	w1, stop1 := h.worker(t, slow, "w1")
	w2, _ := h.worker(t, slow, "w2")
	p := h.product(t, 1000, 100)
	// Wait for the group to give each worker some of the 3 partitions.
	deadline := time.Now().Add(60 * time.Second)
	for len(w1.Assigned()) == 0 || len(w2.Assigned()) == 0 || len(w1.Assigned())+len(w2.Assigned()) != 3 {
		require.True(t, time.Now().Before(deadline), "the group never shared the partitions: %v %v", w1.Assigned(), w2.Assigned())
		time.Sleep(20 * time.Millisecond)
	}

	tokens := []string{pspsim.TokenVisa, pspsim.TokenMastercard, pspsim.TokenChargeDeclined}
	var ids []domain.ID
	placeSome := func(n int) {
		for range n {
			ids = append(ids, h.place(t, newID(), tokens[len(ids)%len(tokens)], line{p, 1, 100}))
		}
	}
	placeSome(30)
	// Wait until both workers are busy, then stop the first one mid-stream.
	deadline = time.Now().Add(60 * time.Second)
	for len(workersSeen(t, h)) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	require.Len(t, workersSeen(t, h), 2, "both workers took orders")
	stop1()
	placeSome(30)

	h.waitSettled(t, ids...)
	for i, id := range ids {
		o := h.order(t, id)
		if tokens[i%len(tokens)] == pspsim.TokenChargeDeclined {
			require.Equal(t, order.ReasonPaymentDeclined, o.CancelReason(), "order %d", i)
		} else {
			if o.Status() != order.StatusConfirmed {
				tl, _ := h.q.Timeline(context.Background(), id)
				b, _ := json.MarshalIndent(tl, "", "  ")
				t.Logf("%s", b)
			}
			require.Equal(t, order.StatusConfirmed, o.Status(), "order %d", i)
			require.Equal(t, []string{"authorize:authorized", "capture:captured"}, h.ledger(t, id))
		}
	}
	require.Equal(t, int64(1000-40), h.inventory(t, p).OnHand())

	// No overlap: the step attempts of each order follow one another.
	rows, err := h.pool.Query(context.Background(), `SELECT order_id, worker, started_at, finished_at FROM saga_steps ORDER BY order_id, started_at, id`)
	require.NoError(t, err)
	type span struct {
		order         uuid.UUID
		worker        string
		start, finish time.Time
	}
	var spans []span
	for rows.Next() {
		var s span
		require.NoError(t, rows.Scan(&s.order, &s.worker, &s.start, &s.finish))
		spans = append(spans, s)
	}
	require.NoError(t, rows.Err())
	handedOver := 0
	for i := 1; i < len(spans); i++ {
		if spans[i].order != spans[i-1].order {
			continue
		}
		require.False(t, spans[i].start.Before(spans[i-1].start), "ordered")
		if spans[i].worker != spans[i-1].worker {
			handedOver++
			require.False(t, spans[i].start.Before(spans[i-1].finish),
				"order %s: %s started a step before %s had finished its own", spans[i].order, spans[i].worker, spans[i-1].worker)
		}
	}
	t.Logf("sagas handed over between workers: %d", handedOver)
}

func workersSeen(t *testing.T, h *harness) []string {
	t.Helper()
	rows, err := h.pool.Query(context.Background(), `SELECT DISTINCT worker FROM saga_steps ORDER BY worker`)
	require.NoError(t, err)
	var out []string
	for rows.Next() {
		var w string
		require.NoError(t, rows.Scan(&w))
		out = append(out, w)
	}
	require.NoError(t, rows.Err())
	return out
}

// TestSweeperReleasesOnlyOrdersNoLongerPending: two expired reservations are left
// behind by sagas parked in compensation_failed; the sweeper releases the one whose
// order is cancelled and leaves the one whose order is still pending alone.
func TestSweeperReleasesOnlyOrdersNoLongerPending(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false) // no relay: the sagas below are planted, not taken in from Kafka
	ctx := context.Background()
	p := h.product(t, 10, 100)
	expired := time.Now().Add(-time.Hour)
	plant := func(qty int64, cancel bool, expiresAt time.Time) domain.ID {
		id := h.place(t, newID(), pspsim.TokenVisa, line{p, qty, 100})
		_, _, err := app.Execute(ctx, h.env, app.Command[*product.Inventory]{
			Stream: eventstore.Stream{Type: product.InventoryStreamType, ID: product.InventoryStreamID(p)},
			New:    func() *product.Inventory { return &product.Inventory{} },
			Decide: func(inv *product.Inventory) ([]domain.Event, error) {
				return inv.DecideReserve(product.Reserve{ProductID: p, OrderID: id, Quantity: qty, ExpiresAt: expiresAt})
			},
		})
		require.NoError(t, err)
		status := "pending"
		if cancel {
			h.cancel(t, id)
			status = "cancelled"
		}
		items, _ := json.Marshal([]sagas.Item{{ProductID: p, Quantity: qty}})
		_, err = h.pool.Exec(ctx, `INSERT INTO order_sagas (order_id, customer_id, items, total_cents, currency, payment_token,
			placed_at, correlation_id, causation_id, state, step, stock, reservation_expires_at, payment, order_status, last_error)
			VALUES ($1, $2, $3, $4, 'EUR', 'tok_visa', now(), $1, $1, 'compensation_failed', 'compensate_stock_and_order',
			'reserved', $5, 'none', $6, 'planted')`, uuid.UUID(id), uuid.UUID(newID()), items, qty*100, expiresAt, status)
		require.NoError(t, err)
		return id
	}
	pending := plant(1, false, expired.Add(-time.Minute)) // older: every sweep looks at it first
	cancelled := plant(2, true, expired)
	require.Equal(t, int64(3), h.inventory(t, p).Reserved())

	h.worker(t, nil, "w1")
	v := h.waitFor(t, func(v sagas.SagaView) bool { return v.Stock == sagas.StockReleased }, cancelled)[cancelled]
	require.Equal(t, sagas.StateCompensationFailed, v.State, "the sweeper only gives the stock back")
	inv := h.inventory(t, p)
	_, held := inv.Reservation(pending)
	require.True(t, held, "a pending order's reservation is never swept")
	_, held = inv.Reservation(cancelled)
	require.False(t, held)
	require.Equal(t, int64(1), inv.Reserved())
	pv, _ := h.saga(t, pending)
	require.Equal(t, sagas.StockReserved, pv.Stock)
}

// TestOldestPendingGauge: ordo_saga_oldest_pending_seconds is the age of the oldest saga
// still on its way; a saga parked in compensation_failed (older still) is not counted,
// having a gauge and an alert of its own. Not parallel: the gauge is one per process,
// and the other tests' workers would set it from their own schemas.
func TestOldestPendingGauge(t *testing.T) {
	h := newHarness(t, false) // planted sagas, nothing from Kafka
	ctx := context.Background()
	plant := func(state, step string, age time.Duration) {
		_, err := h.pool.Exec(ctx, `INSERT INTO order_sagas (order_id, customer_id, items, total_cents, currency, payment_token,
			placed_at, correlation_id, causation_id, state, step, stock, payment, order_status, created_at)
			VALUES ($1, $2, '[]', 100, 'EUR', 'tok_visa', now() - $3::interval, $1, $1, $4, $5, 'none', 'none', 'pending',
			now() - $3::interval)`, uuid.UUID(newID()), uuid.UUID(newID()), age.String(), state, step)
		require.NoError(t, err)
	}
	plant("compensation_failed", "void", 3*time.Hour)
	plant("authorizing", "authorize", time.Hour)
	plant("capturing", "capture", time.Minute)
	h.worker(t, nil, "w1")
	require.Eventually(t, func() bool {
		age := gauge(t, "ordo_saga_oldest_pending_seconds")
		return age >= 3600 && age < 3*3600
	}, 30*time.Second, 50*time.Millisecond, "the hour-old authorizing saga, not the parked one: %v", gauge(t, "ordo_saga_oldest_pending_seconds"))
}

func gauge(t *testing.T, name string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	for _, c := range sagas.Collectors() {
		require.NoError(t, reg.Register(c))
	}
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}

// Sagas created due because the worker's slots were full are claimed as soon as slots
// free up, not at the timer loop's next tick (an hour away here).
func TestFreedSlotsTakeDueSagasBeforeTheTick(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true, func(c *sagas.Config) {
		c.MaxInFlight = 2
		c.PollInterval = time.Hour
	})
	h.worker(t, nil, "w1")
	p := h.product(t, 100, 1000)
	ids := h.placeConcurrently(t, 12, line{p, 1, 1000})
	for id, v := range h.waitSettled(t, ids...) {
		require.Equal(t, sagas.StateConfirmed, v.State, "order %s", id)
	}
}
