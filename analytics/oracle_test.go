package analytics_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/domain/payment"
	"github.com/ordo-platform/ordo/domain/product"
	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/schemas"
)

// oracle is what the analytics tables must say, computed in Go from the events of the
// store by folding them, independently of ClickHouse.
type oracle struct {
	events    []eventstore.Event
	byType    map[string]int64
	orders    map[uuid.UUID]*oOrder
	payments  map[uuid.UUID]*oPayment
	stock     map[uuid.UUID]*oStock
	movements map[string]*oMovement
	// paymentOutcomes are the payment events that decide an outcome or move money.
	paymentEvents []oPaymentEvent
	newest        time.Time
}

type oOrder struct {
	id, customer                       uuid.UUID
	currency                           string
	total                              int64
	items                              []order.Item
	placedUS, confirmedUS, cancelledUS int64
	status                             order.Status
	reason                             order.CancelReason
}

type oPayment struct {
	status                      payment.Status
	currency                    string
	captured, refunded          int64
	declineReason               string
	authorizedCents, fraudScore int64
}

type oPaymentEvent struct {
	orderID uuid.UUID
	typ     string
	day     time.Time
	amount  int64
	cur     string
}

type oStock struct{ onHand, reserved int64 }

type oMovement struct{ count, units int64 }

func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func usTime(us int64) time.Time { return time.UnixMicro(us).UTC() }

// readStore reads every event of the store in position order, waiting until all want
// events are readable: readers see an event only once every older transaction of the
// database has ended (see eventstore/postgres), and other sessions may hold one open.
func readStore(t *testing.T, store eventstore.Store, want int) []eventstore.Event {
	t.Helper()
	var out []eventstore.Event
	var after int64
	deadline := time.Now().Add(3 * time.Minute)
	for len(out) < want {
		page, err := store.ReadAll(context.Background(), after, 10_000)
		require.NoError(t, err)
		out = append(out, page...)
		if len(page) > 0 {
			after = page[len(page)-1].Position
		}
		if len(page) < 10_000 && len(out) < want {
			if time.Now().After(deadline) {
				t.Fatalf("only %d of %d events readable after 3 minutes: a transaction of another session holds the horizon back", len(out), want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	require.Len(t, out, want)
	return out
}

func newOracle(t *testing.T, events []eventstore.Event) *oracle {
	t.Helper()
	o := &oracle{events: events, byType: map[string]int64{}, orders: map[uuid.UUID]*oOrder{},
		payments: map[uuid.UUID]*oPayment{}, stock: map[uuid.UUID]*oStock{}, movements: map[string]*oMovement{}}
	codec := schemas.Default()
	for _, e := range events {
		o.byType[e.Type]++
		if e.RecordedAt.After(o.newest) {
			o.newest = e.RecordedAt
		}
		v, err := codec.Decode(e.Type, e.SchemaVersion, e.Payload)
		require.NoError(t, err)
		us := e.OccurredAt.UnixMicro()
		switch v := v.(type) {
		case order.Placed:
			o.orders[uuid.UUID(v.OrderID)] = &oOrder{id: uuid.UUID(v.OrderID), customer: uuid.UUID(v.CustomerID), currency: v.Currency,
				total: v.TotalCents, items: v.Items, placedUS: us, status: order.StatusPending}
		case order.Confirmed:
			ord := o.orders[uuid.UUID(v.OrderID)]
			ord.status, ord.confirmedUS = order.StatusConfirmed, us
		case order.Cancelled:
			ord := o.orders[uuid.UUID(v.OrderID)]
			ord.status, ord.cancelledUS, ord.reason = order.StatusCancelled, us, v.Reason
		case payment.Authorized:
			o.payment(v.OrderID).status, o.payment(v.OrderID).currency = payment.StatusAuthorized, v.Amount.Currency
			o.payment(v.OrderID).authorizedCents = v.Amount.Cents
			o.paymentEvents = append(o.paymentEvents, oPaymentEvent{uuid.UUID(v.OrderID), e.Type, day(e.OccurredAt), v.Amount.Cents, v.Amount.Currency})
		case payment.Captured:
			o.payment(v.OrderID).status, o.payment(v.OrderID).captured = payment.StatusCaptured, v.Amount.Cents
			o.paymentEvents = append(o.paymentEvents, oPaymentEvent{uuid.UUID(v.OrderID), e.Type, day(e.OccurredAt), v.Amount.Cents, v.Amount.Currency})
		case payment.Refunded:
			o.payment(v.OrderID).status, o.payment(v.OrderID).refunded = payment.StatusRefunded, v.Amount.Cents
			o.paymentEvents = append(o.paymentEvents, oPaymentEvent{uuid.UUID(v.OrderID), e.Type, day(e.OccurredAt), v.Amount.Cents, v.Amount.Currency})
		case payment.Declined:
			o.payment(v.OrderID).status, o.payment(v.OrderID).declineReason = payment.StatusDeclined, v.Reason
			o.paymentEvents = append(o.paymentEvents, oPaymentEvent{uuid.UUID(v.OrderID), e.Type, day(e.OccurredAt), 0, ""})
		case payment.FraudSuspected:
			o.payment(v.OrderID).status, o.payment(v.OrderID).fraudScore = payment.StatusFraudSuspected, int64(v.Score)
			o.paymentEvents = append(o.paymentEvents, oPaymentEvent{uuid.UUID(v.OrderID), e.Type, day(e.OccurredAt), 0, ""})
		case payment.Voided:
			o.payment(v.OrderID).status = payment.StatusVoided
		case product.StockAdjusted:
			o.stockOf(v.ProductID).onHand += v.Delta
			o.move("adjusted", v.Delta)
		case product.Reserved:
			o.stockOf(v.ProductID).reserved += v.Quantity
			o.move("reserved", v.Quantity)
		case product.Released:
			o.stockOf(v.ProductID).reserved -= v.Quantity
			o.move("released", v.Quantity)
		case product.Committed:
			s := o.stockOf(v.ProductID)
			s.reserved -= v.Quantity
			s.onHand -= v.Quantity
			o.move("committed", v.Quantity)
		}
	}
	return o
}

func (o *oracle) payment(id [16]byte) *oPayment {
	p := o.payments[uuid.UUID(id)]
	if p == nil {
		p = &oPayment{}
		o.payments[uuid.UUID(id)] = p
	}
	return p
}

func (o *oracle) stockOf(id [16]byte) *oStock {
	s := o.stock[uuid.UUID(id)]
	if s == nil {
		s = &oStock{}
		o.stock[uuid.UUID(id)] = s
	}
	return s
}

func (o *oracle) move(kind string, units int64) {
	m := o.movements[kind]
	if m == nil {
		m = &oMovement{}
		o.movements[kind] = m
	}
	m.count++
	m.units += units
}

// typedCounts are the distinct rows each typed table must hold.
func (o *oracle) typedCounts() map[string]uint64 {
	var orderEvents, paymentEvents, movements, items uint64
	for typ, n := range o.byType {
		switch {
		case len(typ) > 6 && typ[:6] == "order.":
			orderEvents += uint64(n)
		case len(typ) > 8 && typ[:8] == "payment.":
			paymentEvents += uint64(n)
		case len(typ) > 10 && typ[:10] == "inventory.":
			movements += uint64(n)
		}
	}
	for _, ord := range o.orders {
		items += uint64(len(ord.items))
	}
	return map[string]uint64{
		"SELECT uniqExact(stream_id, version) FROM events":               uint64(len(o.events)),
		"SELECT uniqExact(order_id, version) FROM order_events":          orderEvents,
		"SELECT uniqExact(order_id, line_no) FROM order_items":           items,
		"SELECT uniqExact(order_id, version) FROM payment_events":        paymentEvents,
		"SELECT uniqExact(product_id, version) FROM inventory_movements": movements,
	}
}
