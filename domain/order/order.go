package order

import (
	"fmt"
	"slices"
	"time"

	"github.com/ordo-platform/ordo/domain"
)

// Limits of an order.
const (
	MaxItems    = 100
	MaxQuantity = 1000
)

// Order is the order aggregate. The zero value is an order that does not
// exist yet.
type Order struct {
	id           domain.ID
	customerID   domain.ID
	items        []Item
	total        domain.Money
	paymentToken string
	placedAt     time.Time
	status       Status
	cancelReason CancelReason
	cancelDetail string
}

// Fold rebuilds an order from its stream's events, oldest first. It fails
// only on an event of another aggregate.
func Fold(events []domain.Event) (*Order, error) {
	o := &Order{}
	for _, e := range events {
		if err := o.Evolve(e); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// Evolve applies one event without checking invariants.
func (o *Order) Evolve(e domain.Event) error {
	switch e := e.(type) {
	case Placed:
		o.id = e.OrderID
		o.customerID = e.CustomerID
		o.items = slices.Clone(e.Items)
		o.total = domain.Money{Cents: e.TotalCents, Currency: e.Currency}
		o.paymentToken = e.PaymentToken
		o.placedAt = e.PlacedAt
		o.status = StatusPending
	case Confirmed:
		o.status = StatusConfirmed
	case Cancelled:
		o.status = StatusCancelled
		o.cancelReason = e.Reason
		o.cancelDetail = e.Detail
	default:
		return fmt.Errorf("order: apply %T: %w", e, domain.ErrUnknownEvent)
	}
	return nil
}

// Exists reports whether the order was placed.
func (o *Order) Exists() bool { return o.status != "" }

// ID returns the order id.
func (o *Order) ID() domain.ID { return o.id }

// CustomerID returns the id of the user who placed the order.
func (o *Order) CustomerID() domain.ID { return o.customerID }

// Items returns a copy of the order lines.
func (o *Order) Items() []Item { return slices.Clone(o.items) }

// Total returns the order total.
func (o *Order) Total() domain.Money { return o.total }

// PaymentToken returns the payment provider token given at placement.
func (o *Order) PaymentToken() string { return o.paymentToken }

// PlacedAt returns when the order was placed.
func (o *Order) PlacedAt() time.Time { return o.placedAt }

// Status returns the order's status ("" when it does not exist).
func (o *Order) Status() Status { return o.status }

// CancelReason returns why the order was cancelled ("" unless cancelled).
func (o *Order) CancelReason() CancelReason { return o.cancelReason }

// CancelDetail returns the free-text detail of the cancellation.
func (o *Order) CancelDetail() string { return o.cancelDetail }

// VisibleTo reports whether a user may see (and cancel) the order: its
// customer or an admin. Handlers answer 404 otherwise, so that order ids do
// not leak.
func (o *Order) VisibleTo(user domain.ID, admin bool) bool {
	return o.Exists() && (admin || (!user.IsZero() && user == o.customerID))
}

// PricedItem is a line of an order to place, priced from the catalogue by
// the caller at the moment of placing.
type PricedItem struct {
	ProductID domain.ID
	SKU       string
	Name      string
	UnitPrice domain.Money
	Quantity  int64
}

// Place places an order. See the package comment for the rules.
type Place struct {
	OrderID      domain.ID
	CustomerID   domain.ID
	Items        []PricedItem
	PaymentToken string
	At           time.Time
}

// DecidePlace validates the order, computes line totals and the total, and
// returns Placed. Validation problems of all fields and lines are reported
// together.
func (o *Order) DecidePlace(cmd Place) ([]domain.Event, error) {
	if o.Exists() {
		return nil, domain.Conflict(CodeOrderAlreadyExists, fmt.Sprintf("order %s already exists", o.id))
	}
	at, errAt := domain.Time("placed_at", cmd.At)
	errs := []error{
		domain.RequireID("order_id", cmd.OrderID),
		domain.RequireID("customer_id", cmd.CustomerID),
		validatePaymentToken(cmd.PaymentToken),
		errAt,
	}
	items, total, itemErrs := priceItems(cmd.Items)
	if err := domain.JoinValidation(append(errs, itemErrs...)...); err != nil {
		return nil, err
	}
	return []domain.Event{Placed{
		OrderID:      cmd.OrderID,
		CustomerID:   cmd.CustomerID,
		Items:        items,
		TotalCents:   total.Cents,
		Currency:     total.Currency,
		PaymentToken: cmd.PaymentToken,
		PlacedAt:     at,
	}}, nil
}

func priceItems(in []PricedItem) ([]Item, domain.Money, []error) {
	switch {
	case len(in) == 0:
		return nil, domain.Money{}, []error{domain.Invalid(CodeNoItems, "items", "an order needs at least one item")}
	case len(in) > MaxItems:
		return nil, domain.Money{}, []error{domain.Invalid(CodeTooManyItems, "items",
			fmt.Sprintf("an order may have at most %d items (it has %d)", MaxItems, len(in)))}
	}
	var errs []error
	items := make([]Item, 0, len(in))
	seen := make(map[domain.ID]int, len(in))
	var currency string
	total := domain.Money{}
	for i, it := range in {
		field := func(name string) string { return fmt.Sprintf("items[%d].%s", i, name) }
		lineErrs := []error{domain.RequireID(field("product_id"), it.ProductID)}
		if first, dup := seen[it.ProductID]; dup && !it.ProductID.IsZero() {
			lineErrs = append(lineErrs, domain.Invalid(CodeDuplicateProduct, field("product_id"),
				fmt.Sprintf("items[%d] and items[%d] are the same product; order it once with the total quantity", first, i)))
		}
		seen[it.ProductID] = i
		sku, err := domain.Text(CodeInvalidSKU, field("sku"), it.SKU, 1, 64, false)
		lineErrs = append(lineErrs, err)
		name, err := domain.Text(CodeInvalidName, field("name"), it.Name, 1, 200, false)
		lineErrs = append(lineErrs, err)
		if it.Quantity < 1 || it.Quantity > MaxQuantity {
			lineErrs = append(lineErrs, domain.Invalid(CodeInvalidQuantity, field("quantity"),
				fmt.Sprintf("quantity must be between 1 and %d (got %d)", MaxQuantity, it.Quantity)))
		}
		price, err := domain.NewMoney(it.UnitPrice.Cents, it.UnitPrice.Currency)
		switch {
		case err != nil:
			lineErrs = append(lineErrs, domain.Invalid(domain.CodeInvalidCurrency, field("currency"),
				fmt.Sprintf("currency %q must be an ISO 4217 code of three letters", it.UnitPrice.Currency)))
		case currency != "" && price.Currency != currency:
			lineErrs = append(lineErrs, domain.Invalid(CodeMixedCurrencies, field("currency"),
				fmt.Sprintf("all items must be in one currency: %s, not %s", currency, price.Currency)))
		case price.Cents <= 0:
			lineErrs = append(lineErrs, domain.Invalid(CodeInvalidPrice, field("unit_price_cents"), "unit price must be greater than zero"))
		}
		if err == nil && currency == "" {
			currency = price.Currency
		}
		if slices.ContainsFunc(lineErrs, func(e error) bool { return e != nil }) {
			errs = append(errs, lineErrs...)
			continue
		}
		total.Currency = currency
		line, err := price.Mul(it.Quantity)
		sum := total
		if err == nil {
			sum, err = total.Add(line)
		}
		if err != nil {
			errs = append(errs, domain.Invalid(domain.CodeAmountOverflow, field("quantity"), "the order total is too large"))
			continue
		}
		total = sum
		items = append(items, Item{
			ProductID:      it.ProductID,
			SKU:            sku,
			Name:           name,
			UnitPriceCents: price.Cents,
			Quantity:       it.Quantity,
			LineTotalCents: line.Cents,
		})
	}
	return items, total, errs
}

func validatePaymentToken(t string) error {
	ok := len(t) >= 1 && len(t) <= 255
	for i := 0; ok && i < len(t); i++ {
		c := t[i]
		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'
	}
	if !ok {
		return domain.Invalid(CodeInvalidPaymentToken, "payment_token",
			"payment_token must be a payment provider token of 1 to 255 letters, digits, '_' or '-'")
	}
	return nil
}

// DecideConfirm returns Confirmed for a pending order and nothing for a
// confirmed one; a cancelled order cannot be confirmed.
func (o *Order) DecideConfirm() ([]domain.Event, error) {
	switch o.status {
	case "":
		return nil, domain.NotFound(CodeOrderNotFound, "order not found")
	case StatusConfirmed:
		return nil, nil
	case StatusCancelled:
		return nil, domain.Conflict(CodeOrderAlreadyCancelled,
			fmt.Sprintf("order %s was cancelled (%s) and cannot be confirmed", o.id, o.cancelReason))
	}
	return []domain.Event{Confirmed{OrderID: o.id}}, nil
}

// Cancel cancels an order.
type Cancel struct {
	Reason CancelReason
	// Detail is optional free text, at most 500 characters.
	Detail string
}

// DecideCancel returns Cancelled, or nothing when the order is already
// cancelled. See the package comment for which reasons may cancel a
// confirmed order.
func (o *Order) DecideCancel(cmd Cancel) ([]domain.Event, error) {
	if !o.Exists() {
		return nil, domain.NotFound(CodeOrderNotFound, "order not found")
	}
	reason, errReason := ParseCancelReason(string(cmd.Reason))
	detail, errDetail := domain.Text(CodeInvalidDetail, "detail", cmd.Detail, 0, 500, false)
	if err := domain.JoinValidation(errReason, errDetail); err != nil {
		return nil, err
	}
	switch o.status {
	case StatusCancelled:
		return nil, nil
	case StatusConfirmed:
		if reason != ReasonCancelledByUser {
			return nil, domain.Conflict(CodeOrderAlreadyConfirmed,
				fmt.Sprintf("order %s is confirmed; only its customer can cancel it now, not %s", o.id, reason))
		}
	}
	return []domain.Event{Cancelled{OrderID: o.id, Reason: reason, Detail: detail}}, nil
}
