package analytics

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"github.com/google/uuid"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/domain/payment"
	"github.com/ordo-platform/ordo/domain/product"
	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/schemas"
)

// The sink buffers rows column by column, as the native protocol sends them: one typed
// slice per column, appended to the batch in one call each. A column's name and its data
// sit side by side in each table's columns(), which also gives the INSERT its explicit
// column list (ClickHouse 18.16 needs one; it also keeps an added column harmless).

type column interface {
	values() any
	truncate(n int)
	size() int
	reserve(n int)
}

type col[T any] []T

func (c *col[T]) add(v T)        { *c = append(*c, v) }
func (c *col[T]) values() any    { return []T(*c) }
func (c *col[T]) truncate(n int) { clear((*c)[n:]); *c = (*c)[:n] }
func (c *col[T]) size() int      { return len(*c) }

// reserve makes room for n values in an empty column.
func (c *col[T]) reserve(n int) {
	if len(*c) == 0 && cap(*c) < n {
		*c = make([]T, 0, n)
	}
}

type namedColumn struct {
	name string
	data column
}

// table is one ClickHouse table's buffered rows.
type table interface {
	name() string
	columns() []namedColumn
	len() int
}

func reset(t table) {
	for _, c := range t.columns() {
		c.data.truncate(0)
	}
}

func insertSQL(t table) string {
	cols := t.columns()
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	return "INSERT INTO " + t.name() + " (" + strings.Join(names, ", ") + ")"
}

type eventRows struct {
	eventID, correlationID, causationID                        col[uuid.UUID]
	streamType, streamID, eventType, fingerprint, actor, trace col[string]
	payload                                                    col[string]
	version, position                                          col[uint64]
	schemaVersion                                              col[uint16]
	occurredAt, recordedAt, ingestedAt                         col[time.Time]
	occurredUS, recordedUS                                     col[int64]
}

func (r *eventRows) name() string { return "events" }
func (r *eventRows) len() int     { return len(r.eventID) }
func (r *eventRows) columns() []namedColumn {
	return []namedColumn{
		{"event_id", &r.eventID}, {"stream_type", &r.streamType}, {"stream_id", &r.streamID},
		{"version", &r.version}, {"position", &r.position}, {"event_type", &r.eventType},
		{"schema_version", &r.schemaVersion}, {"schema_fingerprint", &r.fingerprint},
		{"occurred_at", &r.occurredAt}, {"occurred_at_us", &r.occurredUS},
		{"recorded_at", &r.recordedAt}, {"recorded_at_us", &r.recordedUS},
		{"correlation_id", &r.correlationID}, {"causation_id", &r.causationID},
		{"actor", &r.actor}, {"traceparent", &r.trace}, {"payload", &r.payload}, {"ingested_at", &r.ingestedAt},
	}
}

type orderEventRows struct {
	orderID, eventID, customerID                            col[uuid.UUID]
	version, position                                       col[uint64]
	eventType, status, currency, cancelReason, cancelDetail col[string]
	totalCents, unitCount, occurredUS                       col[int64]
	itemCount                                               col[uint32]
	occurredAt                                              col[time.Time]
}

func (r *orderEventRows) name() string { return "order_events" }
func (r *orderEventRows) len() int     { return len(r.orderID) }
func (r *orderEventRows) columns() []namedColumn {
	return []namedColumn{
		{"order_id", &r.orderID}, {"version", &r.version}, {"event_id", &r.eventID}, {"event_type", &r.eventType},
		{"status", &r.status}, {"customer_id", &r.customerID}, {"currency", &r.currency},
		{"total_cents", &r.totalCents}, {"item_count", &r.itemCount}, {"unit_count", &r.unitCount},
		{"cancel_reason", &r.cancelReason}, {"cancel_detail", &r.cancelDetail},
		{"occurred_at", &r.occurredAt}, {"occurred_at_us", &r.occurredUS}, {"position", &r.position},
	}
}

type orderItemRows struct {
	orderID, productID, customerID           col[uuid.UUID]
	lineNo                                   col[uint16]
	sku, productName, currency               col[string]
	unitPrice, quantity, lineTotal, placedUS col[int64]
	placedAt                                 col[time.Time]
}

func (r *orderItemRows) name() string { return "order_items" }
func (r *orderItemRows) len() int     { return len(r.orderID) }
func (r *orderItemRows) columns() []namedColumn {
	return []namedColumn{
		{"order_id", &r.orderID}, {"line_no", &r.lineNo}, {"product_id", &r.productID}, {"sku", &r.sku},
		{"name", &r.productName}, {"unit_price_cents", &r.unitPrice}, {"quantity", &r.quantity},
		{"line_total_cents", &r.lineTotal}, {"currency", &r.currency}, {"customer_id", &r.customerID},
		{"placed_at", &r.placedAt}, {"placed_at_us", &r.placedUS},
	}
}

type paymentEventRows struct {
	orderID, eventID                                                         col[uuid.UUID]
	version, position                                                        col[uint64]
	eventType, status, currency, provider, providerRef, declineReason, pcode col[string]
	amount, occurredUS                                                       col[int64]
	fraudScore                                                               col[int32]
	fraudReasons                                                             col[[]string]
	occurredAt                                                               col[time.Time]
}

func (r *paymentEventRows) name() string { return "payment_events" }
func (r *paymentEventRows) len() int     { return len(r.orderID) }
func (r *paymentEventRows) columns() []namedColumn {
	return []namedColumn{
		{"order_id", &r.orderID}, {"version", &r.version}, {"event_id", &r.eventID}, {"event_type", &r.eventType},
		{"status", &r.status}, {"amount_cents", &r.amount}, {"currency", &r.currency}, {"provider", &r.provider},
		{"provider_reference", &r.providerRef}, {"decline_reason", &r.declineReason}, {"provider_code", &r.pcode},
		{"fraud_score", &r.fraudScore}, {"fraud_reasons", &r.fraudReasons},
		{"occurred_at", &r.occurredAt}, {"occurred_at_us", &r.occurredUS}, {"position", &r.position},
	}
}

type movementRows struct {
	productID, eventID, orderID                                      col[uuid.UUID]
	version, position                                                col[uint64]
	eventType, movement, reason                                      col[string]
	quantity, onHandDelta, reservedDelta, availableDelta, occurredUS col[int64]
	occurredAt                                                       col[time.Time]
}

func (r *movementRows) name() string { return "inventory_movements" }
func (r *movementRows) len() int     { return len(r.productID) }
func (r *movementRows) columns() []namedColumn {
	return []namedColumn{
		{"product_id", &r.productID}, {"version", &r.version}, {"event_id", &r.eventID}, {"event_type", &r.eventType},
		{"movement", &r.movement}, {"order_id", &r.orderID}, {"quantity", &r.quantity},
		{"on_hand_delta", &r.onHandDelta}, {"reserved_delta", &r.reservedDelta}, {"available_delta", &r.availableDelta},
		{"reason", &r.reason}, {"occurred_at", &r.occurredAt}, {"occurred_at_us", &r.occurredUS}, {"position", &r.position},
	}
}

// Decoded is a stored event made ready for ClickHouse: its payload as JSON and as the
// domain event. Decoding is the only step that can fail; adding a Decoded to the buffer
// cannot.
type Decoded struct {
	Event eventstore.Event
	JSON  []byte
	Value domain.Event
}

// Decode decodes e's payload with codec, both as JSON (for the events table) and as the
// domain event (for the typed tables).
func Decode(codec *schemas.Codec, e eventstore.Event) (Decoded, error) {
	v, js, err := codec.DecodeWithJSON(e.Type, e.SchemaVersion, e.Payload)
	if err != nil {
		return Decoded{}, fmt.Errorf("event %s (%s@%d): %w", e.ID, e.StreamID, e.Version, err)
	}
	return Decoded{Event: e, JSON: js, Value: v}, nil
}

// rowSet is the buffer of every table's rows.
type rowSet struct {
	events    eventRows
	orders    orderEventRows
	items     orderItemRows
	payments  paymentEventRows
	movements movementRows
	// newest is the latest recorded-at time buffered, for the visibility-delay metric.
	newest time.Time
	// pending counts the events added since the last reset.
	pending int
	// fingerprints holds the hex text of the schema fingerprints seen: a few dozen
	// schemas cover every event, and encoding each event's afresh was a seventh of
	// adding its rows.
	fingerprints map[string]string
}

// maxFingerprints bounds rowSet.fingerprints: a writer sending a new fingerprint with
// every record must not grow it without end.
const maxFingerprints = 1024

func (s *rowSet) fingerprintHex(b []byte) string {
	if h, ok := s.fingerprints[string(b)]; ok {
		return h
	}
	h := hex.EncodeToString(b)
	if len(s.fingerprints) < maxFingerprints {
		if s.fingerprints == nil {
			s.fingerprints = map[string]string{}
		}
		s.fingerprints[string(b)] = h
	}
	return h
}

func (s *rowSet) tables() []table {
	return []table{&s.events, &s.orders, &s.items, &s.payments, &s.movements}
}

// len is the number of events buffered.
func (s *rowSet) len() int { return s.events.len() }

// reserveLike makes room in the empty set s for as many rows per column as o holds: a
// buffer that takes over from a full one fills to about the same size, and growing it
// row by row copied each column several times over (and left the copies to the
// collector), in every flush until a flushed buffer came back for reuse.
func (s *rowSet) reserveLike(o *rowSet) {
	mine, theirs := s.tables(), o.tables()
	for i := range mine {
		a, b := mine[i].columns(), theirs[i].columns()
		for j := range a {
			a[j].data.reserve(b[j].data.size())
		}
	}
}

func (s *rowSet) reset() {
	for _, t := range s.tables() {
		reset(t)
	}
	s.newest = time.Time{}
	s.pending = 0
}

func us(t time.Time) int64 { return t.UnixMicro() }

func utc(t time.Time) time.Time { return t.UTC() }

// add appends d's rows: one to events, and to the typed table of its kind.
func (s *rowSet) add(d Decoded, ingested time.Time) {
	e := d.Event
	ev := &s.events
	ev.eventID.add(e.ID)
	ev.streamType.add(e.StreamType)
	ev.streamID.add(e.StreamID)
	ev.version.add(uint64(e.Version))
	ev.position.add(uint64(e.Position))
	ev.eventType.add(e.Type)
	ev.schemaVersion.add(uint16(e.SchemaVersion))
	ev.fingerprint.add(s.fingerprintHex(e.SchemaFingerprint))
	ev.occurredAt.add(utc(e.OccurredAt))
	ev.occurredUS.add(us(e.OccurredAt))
	ev.recordedAt.add(utc(e.RecordedAt))
	ev.recordedUS.add(us(e.RecordedAt))
	ev.correlationID.add(e.Metadata.CorrelationID)
	ev.causationID.add(e.Metadata.CausationID)
	ev.actor.add(e.Metadata.Actor)
	ev.trace.add(e.Metadata.TraceParent)
	// The JSON is never modified after decoding: share its bytes instead of copying them.
	ev.payload.add(unsafe.String(unsafe.SliceData(d.JSON), len(d.JSON)))
	ev.ingestedAt.add(ingested)
	if e.RecordedAt.After(s.newest) {
		s.newest = e.RecordedAt
	}

	switch v := d.Value.(type) {
	case order.Placed:
		var units int64
		for i, it := range v.Items {
			units += it.Quantity
			s.items.orderID.add(uuid.UUID(v.OrderID))
			s.items.lineNo.add(uint16(i + 1))
			s.items.productID.add(uuid.UUID(it.ProductID))
			s.items.sku.add(it.SKU)
			s.items.productName.add(it.Name)
			s.items.unitPrice.add(it.UnitPriceCents)
			s.items.quantity.add(it.Quantity)
			s.items.lineTotal.add(it.LineTotalCents)
			s.items.currency.add(v.Currency)
			s.items.customerID.add(uuid.UUID(v.CustomerID))
			s.items.placedAt.add(utc(e.OccurredAt))
			s.items.placedUS.add(us(e.OccurredAt))
		}
		s.orderEvent(e, v.OrderID, order.StatusPending, func(r *orderEventRows) {
			r.customerID.add(uuid.UUID(v.CustomerID))
			r.currency.add(v.Currency)
			r.totalCents.add(v.TotalCents)
			r.itemCount.add(uint32(len(v.Items)))
			r.unitCount.add(units)
			r.cancelReason.add("")
			r.cancelDetail.add("")
		})
	case order.Confirmed:
		s.orderEvent(e, v.OrderID, order.StatusConfirmed, func(r *orderEventRows) { r.outcome("", "") })
	case order.Cancelled:
		s.orderEvent(e, v.OrderID, order.StatusCancelled, func(r *orderEventRows) { r.outcome(string(v.Reason), v.Detail) })

	case payment.Authorized:
		s.paymentEvent(e, v.OrderID, payment.StatusAuthorized, paymentFields{amount: v.Amount, provider: v.Provider, ref: v.ProviderReference})
	case payment.Captured:
		s.paymentEvent(e, v.OrderID, payment.StatusCaptured, paymentFields{amount: v.Amount, ref: v.ProviderReference})
	case payment.Declined:
		s.paymentEvent(e, v.OrderID, payment.StatusDeclined, paymentFields{declineReason: v.Reason, providerCode: v.ProviderCode})
	case payment.Voided:
		s.paymentEvent(e, v.OrderID, payment.StatusVoided, paymentFields{})
	case payment.Refunded:
		s.paymentEvent(e, v.OrderID, payment.StatusRefunded, paymentFields{amount: v.Amount})
	case payment.FraudSuspected:
		s.paymentEvent(e, v.OrderID, payment.StatusFraudSuspected, paymentFields{fraudScore: v.Score, fraudReasons: v.Reasons})

	case product.StockAdjusted:
		s.movement(e, v.ProductID, "adjusted", domain.ID{}, v.Delta, v.Delta, 0, v.Reason)
	case product.Reserved:
		s.movement(e, v.ProductID, "reserved", v.OrderID, v.Quantity, 0, v.Quantity, "")
	case product.Released:
		s.movement(e, v.ProductID, "released", v.OrderID, v.Quantity, 0, -v.Quantity, v.Reason)
	case product.Committed:
		s.movement(e, v.ProductID, "committed", v.OrderID, v.Quantity, -v.Quantity, -v.Quantity, "")
	}
}

func (r *orderEventRows) outcome(reason, detail string) {
	r.customerID.add(uuid.Nil)
	r.currency.add("")
	r.totalCents.add(0)
	r.itemCount.add(0)
	r.unitCount.add(0)
	r.cancelReason.add(reason)
	r.cancelDetail.add(detail)
}

func (s *rowSet) orderEvent(e eventstore.Event, id domain.ID, status order.Status, rest func(r *orderEventRows)) {
	r := &s.orders
	r.orderID.add(uuid.UUID(id))
	r.version.add(uint64(e.Version))
	r.eventID.add(e.ID)
	r.eventType.add(e.Type)
	r.status.add(string(status))
	r.occurredAt.add(utc(e.OccurredAt))
	r.occurredUS.add(us(e.OccurredAt))
	r.position.add(uint64(e.Position))
	rest(r)
}

type paymentFields struct {
	amount        domain.Money
	provider, ref string
	declineReason string
	providerCode  string
	fraudScore    int
	fraudReasons  []string
}

func (s *rowSet) paymentEvent(e eventstore.Event, id domain.ID, status payment.Status, f paymentFields) {
	r := &s.payments
	r.orderID.add(uuid.UUID(id))
	r.version.add(uint64(e.Version))
	r.eventID.add(e.ID)
	r.eventType.add(e.Type)
	r.status.add(string(status))
	r.amount.add(f.amount.Cents)
	r.currency.add(f.amount.Currency)
	r.provider.add(f.provider)
	r.providerRef.add(f.ref)
	r.declineReason.add(f.declineReason)
	r.pcode.add(f.providerCode)
	r.fraudScore.add(int32(f.fraudScore))
	if f.fraudReasons == nil {
		f.fraudReasons = []string{}
	}
	r.fraudReasons.add(f.fraudReasons)
	r.occurredAt.add(utc(e.OccurredAt))
	r.occurredUS.add(us(e.OccurredAt))
	r.position.add(uint64(e.Position))
}

// movement adds an inventory movement: quantity is the units the event moves (the
// signed delta of an adjustment); on hand and reserved change by the given deltas and
// available (on hand minus reserved) by their difference.
func (s *rowSet) movement(e eventstore.Event, productID domain.ID, kind string, orderID domain.ID, quantity, onHand, reserved int64, reason string) {
	r := &s.movements
	r.productID.add(uuid.UUID(productID))
	r.version.add(uint64(e.Version))
	r.eventID.add(e.ID)
	r.eventType.add(e.Type)
	r.movement.add(kind)
	r.orderID.add(uuid.UUID(orderID))
	r.quantity.add(quantity)
	r.onHandDelta.add(onHand)
	r.reservedDelta.add(reserved)
	r.availableDelta.add(onHand - reserved)
	r.reason.add(reason)
	r.occurredAt.add(utc(e.OccurredAt))
	r.occurredUS.add(us(e.OccurredAt))
	r.position.add(uint64(e.Position))
}
