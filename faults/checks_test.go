//go:build faults

package faults

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/domain/product"
	"github.com/ordo-platform/ordo/schemas"
)

// The checks hold the system to the store and the store to the acknowledgements:
//
//   - lost: an acknowledged order that is not in the store, an acknowledged cancel
//     whose order did not end cancelled, an acknowledged restock whose event is missing;
//   - duplicates: an order in the store that no request explains (one Idempotency-Key,
//     two orders), a second capture of an order, an event counted twice by ClickHouse
//     with FINAL, a notification recorded twice;
//   - terminal: every order of the phase confirmed or cancelled, its saga finished;
//   - read models, ClickHouse and notifications equal to the store;
//   - money: per order, captured - refunded = its total if it ended confirmed, else 0;
//   - stock: per product, on hand = its restocks - the quantities of the orders that
//     ended confirmed, nothing left reserved; the read model says the same.

// orderFold is one order stream folded with the domain's own Evolve.
type orderFold struct {
	o       order.Order
	version int64
	events  []uuid.UUID // placed, confirmed, cancelled: what notify records
}

// invFold is one inventory stream folded, with its admin adjustments by reason.
type invFold struct {
	inv      product.Inventory
	version  int64
	restocks map[string]int64 // reason -> delta (admin adjustments; the saga's restocks excluded)
}

// storeView is what the event store says about every order and the given products.
type storeView struct {
	orders   map[domain.ID]*orderFold
	stock    map[domain.ID]*invFold
	products map[domain.ID]int64 // product stream versions
	events   int64               // every event of the schema
}

func (c *cluster) readStore(ctx context.Context, products []domain.ID) (*storeView, error) {
	v := &storeView{orders: map[domain.ID]*orderFold{}, stock: map[domain.ID]*invFold{}, products: map[domain.ID]int64{}}
	codec := schemas.Default()
	var invStreams, productStreams []string
	for _, p := range products {
		invStreams = append(invStreams, product.InventoryStreamID(p))
		productStreams = append(productStreams, product.StreamID(p))
	}
	rows, err := c.pool.Query(ctx, `SELECT id, stream_id, stream_type, version, type, schema_version, payload FROM events
		WHERE stream_type = 'order' OR stream_id = ANY($1) ORDER BY stream_id, version`, invStreams)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id                       uuid.UUID
			streamID, streamType, tp string
			version                  int64
			schemaVersion            int
			payload                  []byte
		)
		if err := rows.Scan(&id, &streamID, &streamType, &version, &tp, &schemaVersion, &payload); err != nil {
			return nil, err
		}
		_, key, err := domain.ParseStreamID(streamID)
		if err != nil {
			return nil, err
		}
		e, err := codec.Decode(tp, schemaVersion, payload)
		if err != nil {
			return nil, fmt.Errorf("decode %s v%d: %w", streamID, version, err)
		}
		switch streamType {
		case order.StreamType:
			f := v.orders[key]
			if f == nil {
				f = &orderFold{}
				v.orders[key] = f
			}
			if version != f.version+1 {
				return nil, fmt.Errorf("%s: v%d after v%d", streamID, version, f.version)
			}
			if err := f.o.Evolve(e); err != nil {
				return nil, fmt.Errorf("%s v%d: %w", streamID, version, err)
			}
			f.version = version
			switch tp {
			case order.TypePlaced, order.TypeConfirmed, order.TypeCancelled:
				f.events = append(f.events, id)
			}
		case product.InventoryStreamType:
			f := v.stock[key]
			if f == nil {
				f = &invFold{restocks: map[string]int64{}}
				v.stock[key] = f
			}
			if err := f.inv.Evolve(e); err != nil {
				return nil, fmt.Errorf("%s v%d: %w", streamID, version, err)
			}
			f.version = version
			if adj, ok := e.(product.StockAdjusted); ok && strings.HasPrefix(adj.Reason, "faults restock ") {
				f.restocks[adj.Reason] += adj.Delta
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = c.pool.Query(ctx, `SELECT stream_id, max(version) FROM events WHERE stream_id = ANY($1) GROUP BY stream_id`, productStreams)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			s string
			n int64
		)
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		_, key, _ := domain.ParseStreamID(s)
		v.products[key] = n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return v, c.pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&v.events)
}

func terminal(s order.Status) bool { return s == order.StatusConfirmed || s == order.StatusCancelled }

// phaseOrders are the store's orders of the phase's customers.
func (v *storeView) phaseOrders(p *phase) map[domain.ID]*orderFold {
	mine := map[domain.ID]bool{}
	for _, c := range p.customers {
		mine[c.id] = true
	}
	out := map[domain.ID]*orderFold{}
	for id, f := range v.orders {
		if mine[f.o.CustomerID()] {
			out[id] = f
		}
	}
	return out
}

func ids(m map[domain.ID]*orderFold) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(m))
	for id := range m {
		out = append(out, uuid.UUID(id))
	}
	return out
}

func productIDs(p *phase) []domain.ID {
	out := make([]domain.ID, len(p.products))
	for i, pr := range p.products {
		out[i] = pr.id
	}
	return out
}

// settled reports how many of the phase's orders (in the store) are not yet over:
// the order is not terminal, or its saga has not finished (a cancelled confirmed order
// is terminal at once, its refund and restock come after).
func (c *cluster) unsettled(ctx context.Context, p *phase) (int, error) {
	v, err := c.readStore(ctx, nil)
	if err != nil {
		return -1, err
	}
	mine := v.phaseOrders(p)
	open := 0
	for _, f := range mine {
		if !terminal(f.o.Status()) {
			open++
		}
	}
	var sagasOpen, sagas int
	if err := c.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE NOT (state IN ('cancelled', 'compensation_failed') OR (state = 'confirmed' AND NOT cancel_requested))), count(*)
		FROM order_sagas WHERE order_id = ANY($1)`, ids(mine)).Scan(&sagasOpen, &sagas); err != nil {
		return -1, err
	}
	return open + sagasOpen + (len(mine) - sagas), nil
}

// result is what the checks of one phase found.
type result struct {
	orders     int // acknowledged orders
	lost       int
	duplicates int
	unresolved int // commands never answered (given up): neither lost nor acknowledged
	problems   []string
}

func (r *result) problem(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// check compares everything with the store; see the comment at the top of this file.
func (c *cluster) check(ctx context.Context, p *phase) (*result, error) {
	r := &result{}
	v, err := c.readStore(ctx, productIDs(p))
	if err != nil {
		return nil, err
	}
	mine := v.phaseOrders(p)
	p.mu.Lock()
	orders, cancels, restocks := append([]*orderReq(nil), p.orders...), append([]*cancelReq(nil), p.cancels...), append([]*restockReq(nil), p.restocks...)
	p.mu.Unlock()

	// Acknowledgements against the store.
	acked := map[domain.ID]bool{}
	for _, o := range orders {
		switch {
		case o.acked:
			r.orders++
			acked[o.id] = true
			if _, ok := mine[o.id]; !ok {
				r.lost++
				r.problem("lost: order %s was acknowledged (202) and is not in the store", o.id)
			}
		default:
			r.unresolved++
		}
	}
	for id := range mine {
		if !acked[id] {
			// An order no acknowledged request names: a request that was never answered
			// may explain it (counted as unresolved), anything beyond is a duplicate.
			r.duplicates++
		}
	}
	if r.duplicates > 0 && r.unresolved > 0 {
		explained := min(r.duplicates, r.unresolved)
		r.duplicates -= explained
		r.unresolved -= explained
	}
	if r.duplicates > 0 {
		r.problem("duplicates: %d orders in the store that no acknowledged request accounts for", r.duplicates)
	}
	for _, x := range cancels {
		if !x.acked {
			continue
		}
		if f, ok := mine[x.order.id]; ok && f.o.Status() != order.StatusCancelled {
			r.lost++
			r.problem("lost: the cancel of order %s was acknowledged and the order ended %s", x.order.id, f.o.Status())
		}
	}
	for _, x := range restocks {
		if s := v.stock[x.product.id]; x.acked && (s == nil || s.restocks[x.reason] != x.delta) {
			r.lost++
			r.problem("lost: restock %q of product %s was acknowledged and is not in its stream", x.reason, x.product.id)
		}
	}

	// Every order over, every saga finished.
	for id, f := range mine {
		if !terminal(f.o.Status()) {
			r.problem("order %s is still %s", id, f.o.Status())
		}
	}
	rows, err := c.pool.Query(ctx, `SELECT order_id, state, cancel_requested FROM order_sagas WHERE order_id = ANY($1)`, ids(mine))
	if err != nil {
		return nil, err
	}
	sagas := map[domain.ID]string{}
	for rows.Next() {
		var (
			id     uuid.UUID
			state  string
			cancel bool
		)
		if err := rows.Scan(&id, &state, &cancel); err != nil {
			return nil, err
		}
		if cancel && state == "confirmed" {
			state = "confirmed+cancel_requested"
		}
		sagas[domain.ID(id)] = state
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for id, f := range mine {
		st, ok := sagas[id]
		switch {
		case !ok:
			r.problem("order %s has no saga", id)
		case st != string(f.o.Status()):
			r.problem("order %s is %s and its saga %s", id, f.o.Status(), st)
		}
	}

	// Money: the provider's ledger.
	rows, err = c.pool.Query(ctx, `SELECT order_id, operation, amount_cents FROM pspsim_operations
		WHERE order_id = ANY($1) AND operation IN ('capture', 'refund')`, ids(mine))
	if err != nil {
		return nil, err
	}
	net := map[domain.ID]int64{}
	captures := map[domain.ID]int{}
	var captured, refunded, confirmedTotal int64
	for rows.Next() {
		var (
			id     uuid.UUID
			op     string
			amount int64
		)
		if err := rows.Scan(&id, &op, &amount); err != nil {
			return nil, err
		}
		if op == "capture" {
			net[domain.ID(id)] += amount
			captures[domain.ID(id)]++
			captured += amount
		} else {
			net[domain.ID(id)] -= amount
			refunded += amount
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for id, n := range captures {
		if n > 1 {
			r.duplicates += n - 1
			r.problem("double charge: order %s captured %d times", id, n)
		}
	}
	for id, f := range mine {
		want := int64(0)
		if f.o.Status() == order.StatusConfirmed {
			want = f.o.Total().Cents
			confirmedTotal += want
		}
		if net[id] != want {
			r.problem("money: order %s ended %s; captured - refunded = %d, want %d", id, f.o.Status(), net[id], want)
		}
	}
	if captured-refunded != confirmedTotal {
		r.problem("money: captured %d - refunded %d != confirmed totals %d", captured, refunded, confirmedTotal)
	}

	// Stock: restocks minus what confirmed orders took.
	sold := map[domain.ID]int64{}
	for _, f := range mine {
		if f.o.Status() == order.StatusConfirmed {
			for _, it := range f.o.Items() {
				sold[it.ProductID] += it.Quantity
			}
		}
	}
	type productRow struct {
		onHand, reserved, version, stockVersion int64
	}
	views := map[domain.ID]productRow{}
	rows, err = c.pool.Query(ctx, `SELECT id, on_hand, reserved, product_version, inventory_version FROM read_products WHERE id = ANY($1)`, productIDs(p))
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var (
			id uuid.UUID
			x  productRow
		)
		if err := rows.Scan(&id, &x.onHand, &x.reserved, &x.version, &x.stockVersion); err != nil {
			return nil, err
		}
		views[domain.ID(id)] = x
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, pr := range p.products {
		s := v.stock[pr.id]
		if s == nil {
			r.problem("stock: product %s has no inventory stream", pr.id)
			continue
		}
		var restocked int64
		for _, d := range s.restocks {
			restocked += d
		}
		if want := restocked - sold[pr.id]; s.inv.OnHand() != want || s.inv.Reserved() != 0 {
			r.problem("stock: product %s has %d on hand and %d reserved; restocked %d, confirmed orders took %d, so want %d and 0",
				pr.id, s.inv.OnHand(), s.inv.Reserved(), restocked, sold[pr.id], want)
		}
		got, ok := views[pr.id]
		want := productRow{s.inv.OnHand(), s.inv.Reserved(), v.products[pr.id], s.version}
		if !ok || got != want {
			r.problem("read model: product %s is %+v, the store says %+v", pr.id, got, want)
		}
	}

	// The orders read model.
	rows, err = c.pool.Query(ctx, `SELECT id, status, status_reason, total_cents, version FROM read_orders WHERE id = ANY($1)`, ids(mine))
	if err != nil {
		return nil, err
	}
	seen := 0
	for rows.Next() {
		var (
			id             uuid.UUID
			status, reason string
			total, version int64
		)
		if err := rows.Scan(&id, &status, &reason, &total, &version); err != nil {
			return nil, err
		}
		seen++
		f := mine[domain.ID(id)]
		got := fmt.Sprintf("%s %s %d v%d", status, reason, total, version)
		want := fmt.Sprintf("%s %s %d v%d", f.o.Status(), f.o.CancelReason(), f.o.Total().Cents, f.version)
		if got != want {
			r.problem("read model: order %s is %q, the store says %q", id, got, want)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if seen != len(mine) {
		r.problem("read model: %d of the phase's %d orders", seen, len(mine))
	}
	var readOrders, storeOrders int
	if err := c.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM read_orders), (SELECT count(DISTINCT stream_id) FROM events WHERE stream_type = 'order')`).Scan(&readOrders, &storeOrders); err != nil {
		return nil, err
	}
	if readOrders != storeOrders {
		r.problem("read model: %d orders, the store %d", readOrders, storeOrders)
	}

	// Notifications: one per order status event, none twice.
	rows, err = c.pool.Query(ctx, `SELECT event_id, count(*) OVER (PARTITION BY event_id) FROM order_notifications WHERE order_id = ANY($1)`, ids(mine))
	if err != nil {
		return nil, err
	}
	notified := map[uuid.UUID]bool{}
	for rows.Next() {
		var (
			id uuid.UUID
			n  int
		)
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		if n > 1 && !notified[id] {
			r.duplicates += n - 1
			r.problem("notifications: event %s recorded %d times", id, n)
		}
		notified[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	want := 0
	for _, f := range mine {
		for _, id := range f.events {
			want++
			if !notified[id] {
				r.problem("notifications: event %s of order %s not recorded", id, f.o.ID())
			}
		}
	}
	if len(notified) != want {
		r.problem("notifications: %d recorded, %d order status events in the store", len(notified), want)
	}

	// ClickHouse: every event once (FINAL), and the same final order statuses.
	var chRows, chFinal, chDistinct uint64
	if err := c.ch.QueryRow(ctx, `SELECT count() FROM events`).Scan(&chRows); err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	if err := c.ch.QueryRow(ctx, `SELECT count() FROM events FINAL`).Scan(&chFinal); err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	if err := c.ch.QueryRow(ctx, `SELECT uniqExact(event_id) FROM events`).Scan(&chDistinct); err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	if chFinal != chDistinct {
		r.duplicates += int(chFinal) - int(chDistinct)
		r.problem("clickhouse: %d events with FINAL, %d distinct event ids", chFinal, chDistinct)
	}
	if int64(chDistinct) != v.events {
		r.problem("clickhouse: %d distinct events, the store %d", chDistinct, v.events)
	}
	storeStatus := map[string]uint64{}
	for _, f := range v.orders {
		storeStatus[string(f.o.Status())]++
	}
	chStatus := map[string]uint64{}
	rs, err := c.ch.Query(ctx, `SELECT st, count() AS n FROM (SELECT argMax(status, version) AS st FROM order_events FINAL GROUP BY order_id) GROUP BY st`)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	for rs.Next() {
		var (
			st string
			n  uint64
		)
		if err := rs.Scan(&st, &n); err != nil {
			rs.Close()
			return nil, fmt.Errorf("clickhouse: %w", err)
		}
		chStatus[st] = n
	}
	rs.Close()
	if a, b := fmt.Sprint(sortedMap(chStatus)), fmt.Sprint(sortedMap(storeStatus)); a != b {
		r.problem("clickhouse: order statuses %s, the store %s", a, b)
	}
	return r, nil
}

func sortedMap(m map[string]uint64) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(out)
	return out
}

// caughtUp is the cheap test that the derived views have everything of the store:
// the phase's orders in the read model at their store versions, ClickHouse with every
// event. Used to wait before the full check.
func (c *cluster) caughtUp(ctx context.Context, p *phase) (bool, string) {
	v, err := c.readStore(ctx, nil)
	if err != nil {
		return false, err.Error()
	}
	mine := v.phaseOrders(p)
	var behind int
	rows, err := c.pool.Query(ctx, `SELECT id, version FROM read_orders WHERE id = ANY($1)`, ids(mine))
	if err != nil {
		return false, err.Error()
	}
	got := map[domain.ID]int64{}
	for rows.Next() {
		var (
			id uuid.UUID
			n  int64
		)
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return false, err.Error()
		}
		got[domain.ID(id)] = n
	}
	rows.Close()
	for id, f := range mine {
		if got[id] != f.version {
			behind++
		}
	}
	var ch uint64
	if err := c.ch.QueryRow(ctx, `SELECT uniqExact(event_id) FROM events`).Scan(&ch); err != nil {
		return false, "clickhouse: " + err.Error()
	}
	if behind > 0 || int64(ch) != v.events {
		return false, fmt.Sprintf("read model: %d orders behind; clickhouse: %d of %d events", behind, ch, v.events)
	}
	return true, ""
}

// recovered reports whether everything acknowledged before the fault ended is through
// the whole pipeline: those orders terminal in the read model (tok_timeout orders,
// which wait out their own payment timeout, aside), an order acknowledged after the
// fault as well, and ClickHouse holding every event stored before the fault ended.
func (c *cluster) recovered(ctx context.Context, p *phase, faultEnd time.Time, head int64) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var before []uuid.UUID
	var after *orderReq
	for _, o := range p.ackedOrders() {
		if o.token == "tok_timeout" {
			continue
		}
		if o.ackedAt.Before(faultEnd) {
			before = append(before, uuid.UUID(o.id))
		} else if after == nil || o.ackedAt.Before(after.ackedAt) {
			after = o
		}
	}
	if after == nil {
		return false
	}
	before = append(before, uuid.UUID(after.id))
	var done int
	if err := c.pool.QueryRow(ctx, `SELECT count(*) FROM read_orders WHERE id = ANY($1) AND status IN ('confirmed', 'cancelled')`, before).Scan(&done); err != nil || done != len(before) {
		return false
	}
	var stored int64
	if err := c.pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE position <= $1`, head).Scan(&stored); err != nil {
		return false
	}
	var ch uint64
	if err := c.ch.QueryRow(ctx, `SELECT uniqExact(event_id) FROM events WHERE position <= `+fmt.Sprint(head)).Scan(&ch); err != nil {
		return false
	}
	return int64(ch) == stored
}

// head is the store's highest position now.
func (c *cluster) head(ctx context.Context) (int64, error) {
	var h int64
	err := c.pool.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM events`).Scan(&h)
	return h, err
}
