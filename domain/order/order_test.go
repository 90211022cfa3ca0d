package order_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
)

var (
	orderID    = domain.MustParseID("0193a1c2-0000-7000-8000-0000000000c1")
	customerID = domain.MustParseID("0193a1c2-0000-7000-8000-000000000001")
	strangerID = domain.MustParseID("0193a1c2-0000-7000-8000-000000000002")
	mugID      = domain.MustParseID("0193a1c2-0000-7000-8000-0000000000f1")
	teaID      = domain.MustParseID("0193a1c2-0000-7000-8000-0000000000f2")
	placedAt   = time.Date(2025, 3, 4, 12, 0, 0, 0, time.UTC)
)

func eur(c int64) domain.Money { return domain.Money{Cents: c, Currency: "EUR"} }

func mug(q int64) order.PricedItem {
	return order.PricedItem{ProductID: mugID, SKU: "MUG-BLUE-01", Name: "Blue mug", UnitPrice: eur(1299), Quantity: q}
}

func tea(q int64) order.PricedItem {
	return order.PricedItem{ProductID: teaID, SKU: "TEA-EARL-GREY", Name: "Earl Grey", UnitPrice: eur(450), Quantity: q}
}

func place(items ...order.PricedItem) order.Place {
	return order.Place{OrderID: orderID, CustomerID: customerID, Items: items, PaymentToken: "tok_visa", At: placedAt}
}

func placed() order.Placed {
	return order.Placed{
		OrderID: orderID, CustomerID: customerID,
		Items: []order.Item{
			{ProductID: mugID, SKU: "MUG-BLUE-01", Name: "Blue mug", UnitPriceCents: 1299, Quantity: 2, LineTotalCents: 2598},
			{ProductID: teaID, SKU: "TEA-EARL-GREY", Name: "Earl Grey", UnitPriceCents: 450, Quantity: 3, LineTotalCents: 1350},
		},
		TotalCents: 3948, Currency: "EUR", PaymentToken: "tok_visa", PlacedAt: placedAt,
	}
}

func requireOutcome(t *testing.T, got []domain.Event, err error, want []domain.Event, wantKind domain.ErrorKind, wantCode string) {
	t.Helper()
	if wantCode != "" {
		require.Error(t, err)
		e, ok := domain.AsError(err)
		require.True(t, ok, "want a *domain.Error, got %v", err)
		require.Equal(t, wantKind, e.Kind, "kind of %v", err)
		require.Equal(t, wantCode, e.Code, "code of %v", err)
		require.Empty(t, got)
		return
	}
	require.NoError(t, err)
	require.Equal(t, want, got)
}

func TestDecidePlace(t *testing.T) {
	t.Parallel()
	with := func(cmd order.Place, f func(*order.Place)) order.Place { f(&cmd); return cmd }
	many := make([]order.PricedItem, order.MaxItems+1)
	for i := range many {
		many[i] = order.PricedItem{ProductID: domain.ID{0: 1, 15: byte(i)}, SKU: "SKU", Name: "n", UnitPrice: eur(1), Quantity: 1}
	}
	hundred := many[:order.MaxItems]
	tests := []struct {
		name     string
		history  []domain.Event
		cmd      order.Place
		want     []domain.Event
		wantKind domain.ErrorKind
		wantCode string
		wantMsg  string
	}{
		{name: "totals are computed from the items", cmd: place(mug(2), tea(3)), want: []domain.Event{placed()}},
		{
			name: "caller's lower-case currency and padded text are normalised",
			cmd: place(
				order.PricedItem{ProductID: mugID, SKU: " MUG-BLUE-01 ", Name: "Blue mug ", UnitPrice: domain.Money{Cents: 1299, Currency: "eur"}, Quantity: 2},
				tea(3)),
			want: []domain.Event{placed()},
		},
		{name: "100 items are fine", cmd: place(hundred...), want: func() []domain.Event {
			cmd := place(hundred...)
			items := make([]order.Item, len(cmd.Items))
			for i, it := range cmd.Items {
				items[i] = order.Item{ProductID: it.ProductID, SKU: "SKU", Name: "n", UnitPriceCents: 1, Quantity: 1, LineTotalCents: 1}
			}
			return []domain.Event{order.Placed{OrderID: orderID, CustomerID: customerID, Items: items, TotalCents: 100, Currency: "EUR", PaymentToken: "tok_visa", PlacedAt: placedAt}}
		}()},
		{name: "quantity 1000 is fine", cmd: place(order.PricedItem{ProductID: mugID, SKU: "M", Name: "m", UnitPrice: eur(7), Quantity: 1000}),
			want: []domain.Event{order.Placed{OrderID: orderID, CustomerID: customerID, Items: []order.Item{
				{ProductID: mugID, SKU: "M", Name: "m", UnitPriceCents: 7, Quantity: 1000, LineTotalCents: 7000},
			}, TotalCents: 7000, Currency: "EUR", PaymentToken: "tok_visa", PlacedAt: placedAt}}},
		{name: "already placed", history: []domain.Event{placed()}, cmd: place(mug(1)), wantKind: domain.KindConflict, wantCode: order.CodeOrderAlreadyExists},
		{name: "no items", cmd: place(), wantKind: domain.KindValidation, wantCode: order.CodeNoItems},
		{name: "101 items", cmd: place(many...), wantKind: domain.KindValidation, wantCode: order.CodeTooManyItems},
		{name: "quantity 0", cmd: place(mug(0)), wantKind: domain.KindValidation, wantCode: order.CodeInvalidQuantity, wantMsg: "items[0].quantity"},
		{name: "quantity 1001", cmd: place(mug(1), tea(1001)), wantKind: domain.KindValidation, wantCode: order.CodeInvalidQuantity, wantMsg: "items[1].quantity"},
		{name: "zero price", cmd: place(order.PricedItem{ProductID: mugID, SKU: "M", Name: "m", UnitPrice: eur(0), Quantity: 1}),
			wantKind: domain.KindValidation, wantCode: order.CodeInvalidPrice},
		{name: "two currencies", cmd: place(mug(1), order.PricedItem{ProductID: teaID, SKU: "T", Name: "t", UnitPrice: domain.Money{Cents: 1, Currency: "USD"}, Quantity: 1}),
			wantKind: domain.KindValidation, wantCode: order.CodeMixedCurrencies, wantMsg: "items[1].currency"},
		{name: "bad currency", cmd: place(order.PricedItem{ProductID: mugID, SKU: "M", Name: "m", UnitPrice: domain.Money{Cents: 1, Currency: "€"}, Quantity: 1}),
			wantKind: domain.KindValidation, wantCode: domain.CodeInvalidCurrency},
		{name: "duplicate product is rejected, not merged", cmd: place(mug(1), tea(1), mug(2)),
			wantKind: domain.KindValidation, wantCode: order.CodeDuplicateProduct, wantMsg: "items[2].product_id"},
		{name: "line total overflow", cmd: place(order.PricedItem{ProductID: mugID, SKU: "M", Name: "m", UnitPrice: eur(math.MaxInt64 / 10), Quantity: 11}),
			wantKind: domain.KindValidation, wantCode: domain.CodeAmountOverflow},
		{name: "order total overflow", cmd: place(
			order.PricedItem{ProductID: mugID, SKU: "M", Name: "m", UnitPrice: eur(math.MaxInt64 / 2), Quantity: 1},
			order.PricedItem{ProductID: teaID, SKU: "T", Name: "t", UnitPrice: eur(math.MaxInt64/2 + 2), Quantity: 1}),
			wantKind: domain.KindValidation, wantCode: domain.CodeAmountOverflow, wantMsg: "items[1].quantity"},
		{name: "missing sku", cmd: place(order.PricedItem{ProductID: mugID, Name: "m", UnitPrice: eur(1), Quantity: 1}),
			wantKind: domain.KindValidation, wantCode: order.CodeInvalidSKU},
		{name: "missing name", cmd: place(order.PricedItem{ProductID: mugID, SKU: "M", UnitPrice: eur(1), Quantity: 1}),
			wantKind: domain.KindValidation, wantCode: order.CodeInvalidName},
		{name: "nil product id", cmd: place(order.PricedItem{SKU: "M", Name: "m", UnitPrice: eur(1), Quantity: 1}),
			wantKind: domain.KindValidation, wantCode: domain.CodeInvalidID},
		{name: "no payment token", cmd: with(place(mug(1)), func(c *order.Place) { c.PaymentToken = "" }),
			wantKind: domain.KindValidation, wantCode: order.CodeInvalidPaymentToken},
		{name: "payment token with card number characters", cmd: with(place(mug(1)), func(c *order.Place) { c.PaymentToken = "4242 4242 4242 4242" }),
			wantKind: domain.KindValidation, wantCode: order.CodeInvalidPaymentToken},
		{name: "nil customer", cmd: with(place(mug(1)), func(c *order.Place) { c.CustomerID = domain.ID{} }),
			wantKind: domain.KindValidation, wantCode: domain.CodeInvalidID},
		{name: "no time", cmd: with(place(mug(1)), func(c *order.Place) { c.At = time.Time{} }),
			wantKind: domain.KindValidation, wantCode: domain.CodeInvalidTime},
		{name: "problems on several lines are reported together", cmd: place(mug(0), tea(0)),
			wantKind: domain.KindValidation, wantCode: domain.CodeInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := order.Fold(tt.history)
			require.NoError(t, err)
			got, err := o.DecidePlace(tt.cmd)
			requireOutcome(t, got, err, tt.want, tt.wantKind, tt.wantCode)
			if tt.wantMsg != "" {
				e, _ := domain.AsError(err)
				require.Contains(t, e.Fields, tt.wantMsg)
			}
		})
	}
}

func TestPlaceTotalsProperty(t *testing.T) {
	t.Parallel()
	// Whatever the lines, the total is the sum of unit price × quantity.
	for n := 1; n <= 30; n++ {
		items := make([]order.PricedItem, n)
		var want int64
		for i := range items {
			price, qty := int64(1+i*37%997), int64(1+i*13%1000)
			items[i] = order.PricedItem{ProductID: domain.ID{0: 9, 14: byte(n), 15: byte(i)}, SKU: fmt.Sprintf("SKU-%d", i), Name: "x", UnitPrice: eur(price), Quantity: qty}
			want += price * qty
		}
		events, err := (&order.Order{}).DecidePlace(place(items...))
		require.NoError(t, err)
		p := events[0].(order.Placed)
		require.Equal(t, want, p.TotalCents)
		var sum int64
		for i, it := range p.Items {
			require.Equal(t, it.UnitPriceCents*it.Quantity, it.LineTotalCents)
			require.Equal(t, items[i].ProductID, it.ProductID, "items keep their order")
			sum += it.LineTotalCents
		}
		require.Equal(t, sum, p.TotalCents)
	}
}

func TestDecideConfirm(t *testing.T) {
	t.Parallel()
	cancelled := order.Cancelled{OrderID: orderID, Reason: order.ReasonPaymentDeclined}
	tests := []struct {
		name     string
		history  []domain.Event
		want     []domain.Event
		wantKind domain.ErrorKind
		wantCode string
	}{
		{name: "confirms a pending order", history: []domain.Event{placed()}, want: []domain.Event{order.Confirmed{OrderID: orderID}}},
		{name: "confirming twice is a no-op", history: []domain.Event{placed(), order.Confirmed{OrderID: orderID}}},
		{name: "no confirm after cancel", history: []domain.Event{placed(), cancelled}, wantKind: domain.KindConflict, wantCode: order.CodeOrderAlreadyCancelled},
		{name: "no confirm after a confirmed order's cancellation",
			history:  []domain.Event{placed(), order.Confirmed{OrderID: orderID}, order.Cancelled{OrderID: orderID, Reason: order.ReasonCancelledByUser}},
			wantKind: domain.KindConflict, wantCode: order.CodeOrderAlreadyCancelled},
		{name: "unknown order", wantKind: domain.KindNotFound, wantCode: order.CodeOrderNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := order.Fold(tt.history)
			require.NoError(t, err)
			got, err := o.DecideConfirm()
			requireOutcome(t, got, err, tt.want, tt.wantKind, tt.wantCode)
		})
	}
}

func TestDecideCancel(t *testing.T) {
	t.Parallel()
	pending := []domain.Event{placed()}
	confirmed := []domain.Event{placed(), order.Confirmed{OrderID: orderID}}
	cancelled := []domain.Event{placed(), order.Cancelled{OrderID: orderID, Reason: order.ReasonTimeout}}
	tests := []struct {
		name     string
		history  []domain.Event
		cmd      order.Cancel
		want     []domain.Event
		wantKind domain.ErrorKind
		wantCode string
	}{
		{name: "customer cancels a pending order", history: pending, cmd: order.Cancel{Reason: order.ReasonCancelledByUser, Detail: " changed my mind "},
			want: []domain.Event{order.Cancelled{OrderID: orderID, Reason: order.ReasonCancelledByUser, Detail: "changed my mind"}}},
		{name: "customer cancels a confirmed order", history: confirmed, cmd: order.Cancel{Reason: order.ReasonCancelledByUser},
			want: []domain.Event{order.Cancelled{OrderID: orderID, Reason: order.ReasonCancelledByUser}}},
		{name: "saga cancels a pending order out of stock", history: pending, cmd: order.Cancel{Reason: order.ReasonOutOfStock, Detail: "MUG-BLUE-01"},
			want: []domain.Event{order.Cancelled{OrderID: orderID, Reason: order.ReasonOutOfStock, Detail: "MUG-BLUE-01"}}},
		{name: "stale saga reason after confirmation", history: confirmed, cmd: order.Cancel{Reason: order.ReasonTimeout},
			wantKind: domain.KindConflict, wantCode: order.CodeOrderAlreadyConfirmed},
		{name: "cancelling a cancelled order is a no-op", history: cancelled, cmd: order.Cancel{Reason: order.ReasonTimeout}},
		{name: "even with another reason", history: cancelled, cmd: order.Cancel{Reason: order.ReasonCancelledByUser}},
		{name: "unknown reason", history: pending, cmd: order.Cancel{Reason: "bored"}, wantKind: domain.KindValidation, wantCode: order.CodeInvalidCancelReason},
		{name: "detail too long", history: pending, cmd: order.Cancel{Reason: order.ReasonCancelledByUser, Detail: strings.Repeat("x", 501)},
			wantKind: domain.KindValidation, wantCode: order.CodeInvalidDetail},
		{name: "unknown order", cmd: order.Cancel{Reason: order.ReasonCancelledByUser}, wantKind: domain.KindNotFound, wantCode: order.CodeOrderNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := order.Fold(tt.history)
			require.NoError(t, err)
			got, err := o.DecideCancel(tt.cmd)
			requireOutcome(t, got, err, tt.want, tt.wantKind, tt.wantCode)
		})
	}
}

func TestCancelReasons(t *testing.T) {
	t.Parallel()
	want := []string{"out_of_stock", "payment_declined", "fraud_suspected", "cancelled_by_user", "timeout"}
	var got []string
	for _, r := range order.CancelReasons() {
		parsed, err := order.ParseCancelReason(string(r))
		require.NoError(t, err)
		require.Equal(t, r, parsed)
		got = append(got, string(r))
	}
	require.Equal(t, want, got)
}

func TestFold(t *testing.T) {
	t.Parallel()
	o, err := order.Fold([]domain.Event{placed()})
	require.NoError(t, err)
	require.True(t, o.Exists())
	require.Equal(t, orderID, o.ID())
	require.Equal(t, customerID, o.CustomerID())
	require.Equal(t, order.StatusPending, o.Status())
	require.Equal(t, eur(3948), o.Total())
	require.Equal(t, "tok_visa", o.PaymentToken())
	require.Equal(t, placedAt, o.PlacedAt())
	require.Equal(t, placed().Items, o.Items())
	items := o.Items()
	items[0].Quantity = 99
	require.Equal(t, int64(2), o.Items()[0].Quantity, "Items returns a copy")

	require.NoError(t, o.Evolve(order.Confirmed{OrderID: orderID}))
	require.Equal(t, order.StatusConfirmed, o.Status())
	require.NoError(t, o.Evolve(order.Cancelled{OrderID: orderID, Reason: order.ReasonCancelledByUser, Detail: "d"}))
	require.Equal(t, order.StatusCancelled, o.Status())
	require.Equal(t, order.ReasonCancelledByUser, o.CancelReason())
	require.Equal(t, "d", o.CancelDetail())

	empty, err := order.Fold(nil)
	require.NoError(t, err)
	require.False(t, empty.Exists())
	require.Equal(t, order.Status(""), empty.Status())

	_, err = order.Fold([]domain.Event{placed(), other{}})
	require.ErrorIs(t, err, domain.ErrUnknownEvent)
}

type other struct{}

func (other) EventType() string { return "payment.captured" }

func TestVisibleTo(t *testing.T) {
	t.Parallel()
	o, err := order.Fold([]domain.Event{placed()})
	require.NoError(t, err)
	require.True(t, o.VisibleTo(customerID, false))
	require.False(t, o.VisibleTo(strangerID, false))
	require.True(t, o.VisibleTo(strangerID, true))
	require.False(t, o.VisibleTo(domain.ID{}, false))
	require.False(t, (&order.Order{}).VisibleTo(customerID, true))
}

func TestEventsAndStreams(t *testing.T) {
	t.Parallel()
	var types []string
	for _, e := range order.Events() {
		types = append(types, e.EventType())
	}
	require.Equal(t, []string{"order.placed", "order.confirmed", "order.cancelled"}, types)
	require.Equal(t, "order-0193a1c2-0000-7000-8000-0000000000c1", order.StreamID(orderID))
}
