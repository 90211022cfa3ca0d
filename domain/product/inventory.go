package product

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/ordo-platform/ordo/domain"
)

// Release reasons the system itself uses. Other snake_case reasons are
// accepted (the saga may pass the order's cancellation reason).
const (
	// ReleaseReasonExpired: the reservation outlived its ExpiresAt.
	ReleaseReasonExpired = "expired"
	// ReleaseReasonOrderCancelled: the order was cancelled.
	ReleaseReasonOrderCancelled = "order_cancelled"
)

// Reservation is stock held for one order.
type Reservation struct {
	OrderID   domain.ID
	Quantity  int64
	ExpiresAt time.Time
}

// settlement is how a reservation ended.
type settlement struct {
	committed bool
	quantity  int64
}

// Inventory is the stock of one product. The zero value is an inventory with
// no history: nothing on hand, nothing reserved.
//
// Besides the open reservations it remembers, per order, how each past
// reservation ended (released or committed). That makes the saga's retries
// safe: releasing or committing twice is a no-op, and a late duplicate
// "reserve" for an order that is already settled is refused instead of
// silently taking stock again. The memory grows with the number of orders of
// the product, as the stream does; snapshots bound both if it ever matters.
type Inventory struct {
	productID    domain.ID
	onHand       int64
	reserved     int64
	reservations map[domain.ID]Reservation
	settled      map[domain.ID]settlement
}

// FoldInventory rebuilds an inventory from its stream's events, oldest first.
// It fails only on an event of another aggregate.
func FoldInventory(events []domain.Event) (*Inventory, error) {
	inv := &Inventory{}
	for _, e := range events {
		if err := inv.Evolve(e); err != nil {
			return nil, err
		}
	}
	return inv, nil
}

// Evolve applies one event without checking invariants.
func (inv *Inventory) Evolve(e domain.Event) error {
	switch e := e.(type) {
	case StockAdjusted:
		inv.productID = e.ProductID
		inv.onHand = e.OnHand
	case Reserved:
		inv.productID = e.ProductID
		if inv.reservations == nil {
			inv.reservations = make(map[domain.ID]Reservation)
		}
		inv.reservations[e.OrderID] = Reservation{OrderID: e.OrderID, Quantity: e.Quantity, ExpiresAt: e.ExpiresAt}
		inv.reserved += e.Quantity
	case Released:
		delete(inv.reservations, e.OrderID)
		inv.reserved -= e.Quantity
		inv.settle(e.OrderID, settlement{quantity: e.Quantity})
	case Committed:
		delete(inv.reservations, e.OrderID)
		inv.reserved -= e.Quantity
		inv.onHand -= e.Quantity
		inv.settle(e.OrderID, settlement{committed: true, quantity: e.Quantity})
	default:
		return fmt.Errorf("inventory: apply %T: %w", e, domain.ErrUnknownEvent)
	}
	return nil
}

func (inv *Inventory) settle(order domain.ID, s settlement) {
	if inv.settled == nil {
		inv.settled = make(map[domain.ID]settlement)
	}
	inv.settled[order] = s
}

// ProductID returns the product id, or the zero ID for an empty stream.
func (inv *Inventory) ProductID() domain.ID { return inv.productID }

// OnHand returns the units in the warehouse, reserved or not.
func (inv *Inventory) OnHand() int64 { return inv.onHand }

// Reserved returns the units held for orders.
func (inv *Inventory) Reserved() int64 { return inv.reserved }

// Available returns the units that can still be reserved: on hand − reserved.
func (inv *Inventory) Available() int64 { return inv.onHand - inv.reserved }

// Reservation returns the open reservation of an order.
func (inv *Inventory) Reservation(order domain.ID) (Reservation, bool) {
	r, ok := inv.reservations[order]
	return r, ok
}

// Reservations returns the open reservations, oldest expiry first.
func (inv *Inventory) Reservations() []Reservation {
	rs := slices.Collect(maps.Values(inv.reservations))
	slices.SortFunc(rs, func(a, b Reservation) int {
		if c := a.ExpiresAt.Compare(b.ExpiresAt); c != 0 {
			return c
		}
		return cmp.Compare(a.OrderID.String(), b.OrderID.String())
	})
	return rs
}

// AdjustStock changes the stock on hand: a delivery (Delta > 0) or a
// write-off or count correction (Delta < 0). The handler checks that the
// product exists; adjusting a discontinued product's stock is allowed (to
// write off what is left).
type AdjustStock struct {
	ProductID domain.ID
	Delta     int64
	Reason    string
}

// DecideAdjustStock returns StockAdjusted with the new on-hand level. It
// refuses to take on hand below what is reserved.
func (inv *Inventory) DecideAdjustStock(cmd AdjustStock) ([]domain.Event, error) {
	reason, errReason := domain.Text(CodeInvalidReason, "reason", cmd.Reason, 1, 200, false)
	var errDelta error
	if cmd.Delta == 0 {
		errDelta = domain.Invalid(CodeInvalidDelta, "delta", "delta must not be zero")
	}
	if err := domain.JoinValidation(domain.RequireID("product_id", cmd.ProductID), errDelta, errReason); err != nil {
		return nil, err
	}
	if err := inv.checkProduct(cmd.ProductID); err != nil {
		return nil, err
	}
	onHand, ok := domain.AddInt64(inv.onHand, cmd.Delta)
	if !ok {
		return nil, domain.Invalid(CodeStockOverflow, "delta", "delta takes the stock level out of range")
	}
	if onHand < inv.reserved {
		if inv.reserved == 0 {
			return nil, domain.Conflict(CodeInsufficientStock,
				fmt.Sprintf("cannot remove %d units: only %d on hand", -cmd.Delta, inv.onHand))
		}
		return nil, domain.Conflict(CodeInsufficientStock,
			fmt.Sprintf("cannot remove %d units: %d on hand, %d of them reserved for orders", -cmd.Delta, inv.onHand, inv.reserved))
	}
	return []domain.Event{StockAdjusted{ProductID: cmd.ProductID, Delta: cmd.Delta, Reason: reason, OnHand: onHand}}, nil
}

// Reserve holds stock for an order until ExpiresAt. Discontinued is the
// product's catalogue status as the caller read it (see the package
// comment).
type Reserve struct {
	ProductID    domain.ID
	OrderID      domain.ID
	Quantity     int64
	ExpiresAt    time.Time
	Discontinued bool
}

// DecideReserve returns Reserved. Reserving again for an order that holds a
// reservation of the same quantity returns nothing (a retry; the first
// expiry stands); with another quantity it is a conflict, as is reserving
// for an order whose reservation was already released or committed.
func (inv *Inventory) DecideReserve(cmd Reserve) ([]domain.Event, error) {
	var errQty error
	if cmd.Quantity <= 0 {
		errQty = domain.Invalid(CodeInvalidQuantity, "quantity", "quantity must be at least 1")
	}
	expires, errExpires := domain.Time("expires_at", cmd.ExpiresAt)
	if err := domain.JoinValidation(
		domain.RequireID("product_id", cmd.ProductID), domain.RequireID("order_id", cmd.OrderID), errQty, errExpires,
	); err != nil {
		return nil, err
	}
	if err := inv.checkProduct(cmd.ProductID); err != nil {
		return nil, err
	}
	if r, ok := inv.reservations[cmd.OrderID]; ok {
		if r.Quantity == cmd.Quantity {
			return nil, nil
		}
		return nil, domain.Conflict(CodeReservationConflict,
			fmt.Sprintf("order %s already holds a reservation of %d units, not %d", cmd.OrderID, r.Quantity, cmd.Quantity))
	}
	if s, ok := inv.settled[cmd.OrderID]; ok {
		return nil, domain.Conflict(CodeReservationSettled,
			fmt.Sprintf("the reservation of order %s was already %s", cmd.OrderID, s.verb()))
	}
	if cmd.Discontinued {
		return nil, domain.Conflict(CodeProductDiscontinued, "the product is discontinued and cannot be ordered")
	}
	if avail := inv.Available(); cmd.Quantity > avail {
		return nil, domain.Conflict(CodeInsufficientStock,
			fmt.Sprintf("cannot reserve %d units: only %d available", cmd.Quantity, max(avail, 0)))
	}
	return []domain.Event{Reserved{ProductID: cmd.ProductID, OrderID: cmd.OrderID, Quantity: cmd.Quantity, ExpiresAt: expires}}, nil
}

// Release gives an order's whole reservation back to available stock.
type Release struct {
	OrderID domain.ID
	// Reason is a snake_case code: ReleaseReasonExpired,
	// ReleaseReasonOrderCancelled or the order's cancellation reason.
	Reason string
}

// DecideRelease returns Released. Releasing an already released reservation
// returns nothing (a retry); releasing one that was committed, or that never
// existed, is a conflict.
func (inv *Inventory) DecideRelease(cmd Release) ([]domain.Event, error) {
	if err := domain.JoinValidation(
		domain.RequireID("order_id", cmd.OrderID), domain.Token(CodeInvalidReason, "reason", cmd.Reason),
	); err != nil {
		return nil, err
	}
	r, ok := inv.reservations[cmd.OrderID]
	if !ok {
		return nil, inv.noReservation(cmd.OrderID, false)
	}
	return []domain.Event{Released{ProductID: inv.productID, OrderID: cmd.OrderID, Quantity: r.Quantity, Reason: cmd.Reason}}, nil
}

// Commit takes an order's reservation out of stock for good.
type Commit struct {
	OrderID domain.ID
}

// DecideCommit returns Committed. Committing an already committed
// reservation returns nothing (a retry); committing one that was released,
// or that never existed, is a conflict.
func (inv *Inventory) DecideCommit(cmd Commit) ([]domain.Event, error) {
	if err := domain.RequireID("order_id", cmd.OrderID); err != nil {
		return nil, err
	}
	r, ok := inv.reservations[cmd.OrderID]
	if !ok {
		return nil, inv.noReservation(cmd.OrderID, true)
	}
	return []domain.Event{Committed{ProductID: inv.productID, OrderID: cmd.OrderID, Quantity: r.Quantity}}, nil
}

// DecideReleaseExpired returns one Released (reason "expired") for every open
// reservation whose ExpiresAt is not after now, oldest first.
func (inv *Inventory) DecideReleaseExpired(now time.Time) ([]domain.Event, error) {
	if now.IsZero() {
		return nil, domain.Invalid(domain.CodeInvalidTime, "now", "now is required")
	}
	var events []domain.Event
	for _, r := range inv.Reservations() {
		if r.ExpiresAt.After(now) {
			break
		}
		events = append(events, Released{ProductID: inv.productID, OrderID: r.OrderID, Quantity: r.Quantity, Reason: ReleaseReasonExpired})
	}
	return events, nil
}

// noReservation is the outcome of releasing (committing) an order without an
// open reservation: nil for a retry of the same settlement, else a conflict.
func (inv *Inventory) noReservation(order domain.ID, commit bool) error {
	s, ok := inv.settled[order]
	switch {
	case !ok:
		return domain.Conflict(CodeReservationNotFound, fmt.Sprintf("order %s holds no reservation of this product", order))
	case s.committed == commit:
		return nil
	default:
		return domain.Conflict(CodeReservationSettled, fmt.Sprintf("the reservation of order %s was already %s", order, s.verb()))
	}
}

func (s settlement) verb() string {
	if s.committed {
		return "committed"
	}
	return "released"
}

func (inv *Inventory) checkProduct(id domain.ID) error {
	if !inv.productID.IsZero() && inv.productID != id {
		return domain.Invalid(CodeProductMismatch, "product_id",
			fmt.Sprintf("command for product %s sent to the inventory of product %s", id, inv.productID))
	}
	return nil
}
