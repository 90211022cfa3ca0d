package sagas

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ordo-platform/ordo/app"
	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/domain/payment"
	"github.com/ordo-platform/ordo/domain/product"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/schemas"
)

// Error codes of the saga queries (domain.Error.Code), mapped to HTTP by the edge.
const (
	CodeSagaNotFound   = "saga_not_found"
	CodeInvalidState   = "invalid_state"
	CodeInvalidCursor  = "invalid_cursor"
	CodeSagaNotFailed  = "saga_not_failed"
	CodeInvalidOrderID = "invalid_order_id"
)

// Queries are the saga's read side for the HTTP edge (the lead wires the routes):
//
//	GET  /v1/admin/sagas?state=compensation_failed&limit=50&cursor=...  → ListSagas
//	GET  /v1/admin/sagas/{id}                                           → Saga
//	POST /v1/admin/sagas/{id}/retry                                     → RetryCompensation
//	GET  /v1/orders/{id}/timeline                                       → Timeline
//
// Errors are *domain.Error (validation → 422, not found → 404, conflict → 409).
type Queries struct {
	store *postgres.Store
	codec *schemas.Codec
	env   *app.Env
}

// NewQueries returns the queries over the event store (whose pool holds the saga tables).
func NewQueries(store *postgres.Store) *Queries {
	return &Queries{store: store, codec: schemas.Default(), env: app.NewEnv(store)}
}

// SagaView is a saga as the admin API shows it.
type SagaView struct {
	OrderID              domain.ID    `json:"order_id"`
	CustomerID           domain.ID    `json:"customer_id"`
	State                State        `json:"state"`
	Step                 Step         `json:"step,omitempty"`
	Attempt              int          `json:"attempt"`
	Deadline             *time.Time   `json:"deadline,omitempty"`
	Reason               string       `json:"reason,omitempty"`
	Detail               string       `json:"detail,omitempty"`
	CancelRequested      bool         `json:"cancel_requested"`
	TotalCents           int64        `json:"total_cents"`
	Currency             string       `json:"currency"`
	Stock                StockState   `json:"stock"`
	ReservationExpiresAt *time.Time   `json:"reservation_expires_at,omitempty"`
	Payment              PaymentState `json:"payment"`
	AuthorizationRef     string       `json:"authorization_ref,omitempty"`
	CaptureRef           string       `json:"capture_ref,omitempty"`
	OrderStatus          string       `json:"order_status"`
	LastError            string       `json:"last_error,omitempty"`
	Owner                string       `json:"owner,omitempty"`
	WakeAt               *time.Time   `json:"wake_at,omitempty"`
	Version              int64        `json:"version"`
	CreatedAt            time.Time    `json:"created_at"`
	UpdatedAt            time.Time    `json:"updated_at"`
	FinishedAt           *time.Time   `json:"finished_at,omitempty"`
}

func view(s *Saga) SagaView {
	return SagaView{
		OrderID: s.OrderID, CustomerID: s.CustomerID, State: s.State, Step: s.Step, Attempt: s.Attempt,
		Deadline: nullTime(s.Deadline), Reason: string(s.Reason), Detail: s.Detail, CancelRequested: s.CancelRequested,
		TotalCents: s.Total.Cents, Currency: s.Total.Currency, Stock: s.Stock, ReservationExpiresAt: nullTime(s.ReservationExpiresAt),
		Payment: s.Payment, AuthorizationRef: s.AuthorizationRef, CaptureRef: s.CaptureRef, OrderStatus: string(s.OrderStatus),
		LastError: s.LastError, Owner: s.Owner, WakeAt: nullTime(s.WakeAt), Version: s.Version,
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, FinishedAt: nullTime(s.FinishedAt),
	}
}

// ListFilter selects sagas for ListSagas.
type ListFilter struct {
	// State, when set, keeps only sagas in that state.
	State State
	// Limit is the page size: 1..200, default 50.
	Limit int
	// Cursor is the NextCursor of the previous page.
	Cursor string
}

// SagaPage is one page of sagas, newest first.
type SagaPage struct {
	Items []SagaView `json:"items"`
	// NextCursor fetches the next page; empty on the last one.
	NextCursor string `json:"next_cursor,omitempty"`
}

// ListSagas lists sagas, newest first, optionally in one state: the operators' view
// of GET /v1/admin/sagas?state=compensation_failed.
func (q *Queries) ListSagas(ctx context.Context, f ListFilter) (SagaPage, error) {
	var errs []error
	if f.State != "" && !f.State.Valid() {
		names := make([]string, 0, len(States()))
		for _, s := range States() {
			names = append(names, string(s))
		}
		errs = append(errs, domain.Invalid(CodeInvalidState, "state", fmt.Sprintf("state %q must be one of %s", f.State, strings.Join(names, ", "))))
	}
	if f.Limit == 0 {
		f.Limit = 50
	}
	if f.Limit < 1 || f.Limit > 200 {
		errs = append(errs, domain.Invalid(domain.CodeInvalidInput, "limit", "limit must be between 1 and 200"))
	}
	afterTime, afterID, errCursor := decodeCursor(f.Cursor)
	errs = append(errs, errCursor)
	if err := domain.JoinValidation(errs...); err != nil {
		return SagaPage{}, err
	}
	// Two statements rather than "$1 = '' OR state = $1", so that each uses its index.
	where := `WHERE ($1::timestamptz IS NULL OR (created_at, order_id) < ($1, $2))`
	args := []any{afterTime, afterID, f.Limit + 1}
	if f.State != "" {
		where += ` AND state = $4`
		args = append(args, string(f.State))
	}
	rows, err := q.store.Pool().Query(ctx, `SELECT `+sagaColumns+` FROM order_sagas `+where+`
		ORDER BY created_at DESC, order_id DESC LIMIT $3`, args...)
	if err != nil {
		return SagaPage{}, fmt.Errorf("list sagas: %w", err)
	}
	sagas, err := pgx.CollectRows(rows, scanSaga)
	if err != nil {
		return SagaPage{}, fmt.Errorf("list sagas: %w", err)
	}
	page := SagaPage{Items: make([]SagaView, 0, min(len(sagas), f.Limit))}
	for i, s := range sagas {
		if i == f.Limit {
			last := sagas[i-1]
			page.NextCursor = encodeCursor(last.CreatedAt, last.OrderID)
			break
		}
		page.Items = append(page.Items, view(s))
	}
	return page, nil
}

func encodeCursor(t time.Time, id domain.ID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t.UnixMicro(), 10) + "/" + id.String()))
}

func decodeCursor(c string) (*time.Time, uuid.UUID, error) {
	if c == "" {
		return nil, uuid.Nil, nil
	}
	bad := domain.Invalid(CodeInvalidCursor, "cursor", "cursor is not one this API returned")
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, uuid.Nil, bad
	}
	micros, idText, ok := strings.Cut(string(raw), "/")
	if !ok {
		return nil, uuid.Nil, bad
	}
	n, err := strconv.ParseInt(micros, 10, 64)
	if err != nil {
		return nil, uuid.Nil, bad
	}
	id, err := domain.ParseID(idText)
	if err != nil {
		return nil, uuid.Nil, bad
	}
	t := time.UnixMicro(n).UTC()
	return &t, uuid.UUID(id), nil
}

// Saga returns one order's saga.
func (q *Queries) Saga(ctx context.Context, orderID domain.ID) (SagaView, error) {
	s, err := (&store{pool: q.store.Pool()}).load(ctx, q.store.Pool(), orderID)
	if errors.Is(err, ErrNotFound) {
		return SagaView{}, domain.NotFound(CodeSagaNotFound, fmt.Sprintf("order %s has no saga", orderID))
	}
	if err != nil {
		return SagaView{}, err
	}
	return view(s), nil
}

// RetryCompensation sends a saga parked in compensation_failed back to compensating,
// for after an operator has fixed the cause (docs/saga.md). Compensations already
// done are not repeated: the saga resumes from what it has not undone yet.
func (q *Queries) RetryCompensation(ctx context.Context, orderID domain.ID) (SagaView, error) {
	rows, err := q.store.Pool().Query(ctx, `UPDATE order_sagas SET state = 'compensating', attempt = 0, last_error = '',
			owner = NULL, wake_at = now(), finished_at = NULL, version = version + 1, updated_at = now()
		WHERE order_id = $1 AND state = 'compensation_failed' RETURNING `+sagaColumns, uuid.UUID(orderID))
	if err != nil {
		return SagaView{}, fmt.Errorf("retry saga %s: %w", orderID, err)
	}
	s, err := pgx.CollectExactlyOneRow(rows, scanSaga)
	if errors.Is(err, pgx.ErrNoRows) {
		v, err := q.Saga(ctx, orderID)
		if err != nil {
			return SagaView{}, err
		}
		return SagaView{}, domain.Conflict(CodeSagaNotFailed, fmt.Sprintf("the saga of order %s is %s, not compensation_failed", orderID, v.State))
	}
	if err != nil {
		return SagaView{}, fmt.Errorf("retry saga %s: %w", orderID, err)
	}
	return view(s), nil
}

// Timeline is everything that happened to one order, in time order: the events of
// its order and payment streams, the events of the inventory streams that concern it,
// and the saga's steps.
type Timeline struct {
	OrderID domain.ID `json:"order_id"`
	// CustomerID lets the handler answer 404 to anyone but the owner or an admin.
	CustomerID   domain.ID       `json:"-"`
	Status       string          `json:"status"`
	StatusReason string          `json:"status_reason,omitempty"`
	Saga         *SagaView       `json:"saga,omitempty"`
	Entries      []TimelineEntry `json:"entries"`
}

// TimelineEntry is one event or one step attempt.
type TimelineEntry struct {
	At time.Time `json:"at"`
	// Kind is "event" or "step".
	Kind string `json:"kind"`

	// Events.
	Type     string          `json:"type,omitempty"`
	Stream   string          `json:"stream,omitempty"`
	Version  int64           `json:"version,omitempty"`
	EventID  string          `json:"event_id,omitempty"`
	Actor    string          `json:"actor,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
	position int64

	// Steps.
	Step       string     `json:"step,omitempty"`
	Attempt    int        `json:"attempt,omitempty"`
	Outcome    string     `json:"outcome,omitempty"`
	Detail     string     `json:"detail,omitempty"`
	Worker     string     `json:"worker,omitempty"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	DurationMS *float64   `json:"duration_ms,omitempty"`
	stepID     int64
}

// Timeline returns an order's timeline (GET /v1/orders/{id}/timeline). The caller
// checks that the user may see the order (Timeline.CustomerID).
func (q *Queries) Timeline(ctx context.Context, orderID domain.ID) (Timeline, error) {
	if orderID.IsZero() {
		return Timeline{}, domain.Invalid(CodeInvalidOrderID, "id", "order id must be a non-nil UUID")
	}
	tl := Timeline{OrderID: orderID, Entries: []TimelineEntry{}}
	o := &order.Order{}
	for _, streamID := range []string{order.StreamID(orderID), payment.StreamID(orderID)} {
		evs, err := q.store.ReadStream(ctx, streamID, 1, 10_000)
		if err != nil {
			return Timeline{}, err
		}
		for _, e := range evs {
			entry, ev, err := q.eventEntry(e.Type, e.SchemaVersion, e.Payload)
			if err != nil {
				return Timeline{}, err
			}
			if streamID == order.StreamID(orderID) {
				if err := o.Evolve(ev); err != nil {
					return Timeline{}, err
				}
			}
			entry.At, entry.Stream, entry.Version, entry.EventID, entry.Actor, entry.position =
				e.RecordedAt.UTC(), e.StreamID, e.Version, e.ID.String(), e.Metadata.Actor, e.Position
			tl.Entries = append(tl.Entries, entry)
		}
	}
	if !o.Exists() {
		return Timeline{}, domain.NotFound(order.CodeOrderNotFound, "order not found")
	}
	tl.CustomerID, tl.Status, tl.StatusReason = o.CustomerID(), string(o.Status()), string(o.CancelReason())

	st := &store{pool: q.store.Pool()}
	s, err := st.load(ctx, q.store.Pool(), orderID)
	switch {
	case errors.Is(err, ErrNotFound):
		sortTimeline(tl.Entries)
		return tl, nil // the saga has not taken the order in yet
	case err != nil:
		return Timeline{}, err
	}
	v := view(s)
	tl.Saga = &v

	// The inventory events of this order: the saga puts the order's correlation id on
	// everything it appends; keep those about this order.
	rows, err := q.store.Pool().Query(ctx, `SELECT position, id, stream_id, version, type, schema_version, recorded_at,
		actor, payload FROM events WHERE correlation_id = $1 AND stream_type = $2 ORDER BY position`,
		s.CorrelationID, product.InventoryStreamType)
	if err != nil {
		return Timeline{}, fmt.Errorf("timeline of %s: inventory events: %w", orderID, err)
	}
	var (
		pos, version       int64
		id                 uuid.UUID
		stream, typ, actor string
		schemaVersion      int32
		recorded           time.Time
		payload            []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&pos, &id, &stream, &version, &typ, &schemaVersion, &recorded, &actor, &payload}, func() error {
		entry, ev, err := q.eventEntry(typ, int(schemaVersion), payload)
		if err != nil {
			return err
		}
		if !concerns(ev, orderID, actor) {
			return nil
		}
		entry.At, entry.Stream, entry.Version, entry.EventID, entry.Actor, entry.position = recorded.UTC(), stream, version, id.String(), actor, pos
		tl.Entries = append(tl.Entries, entry)
		return nil
	})
	if err != nil {
		return Timeline{}, fmt.Errorf("timeline of %s: inventory events: %w", orderID, err)
	}

	rows, err = q.store.Pool().Query(ctx, `SELECT id, step, attempt, outcome, detail, worker, started_at, finished_at
		FROM saga_steps WHERE order_id = $1 ORDER BY id`, uuid.UUID(orderID))
	if err != nil {
		return Timeline{}, fmt.Errorf("timeline of %s: steps: %w", orderID, err)
	}
	var (
		stepID             int64
		step, outcome, det string
		worker             string
		attempt            int32
		started, finished  time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&stepID, &step, &attempt, &outcome, &det, &worker, &started, &finished}, func() error {
		st, ms := started.UTC(), float64(finished.Sub(started).Microseconds())/1000
		tl.Entries = append(tl.Entries, TimelineEntry{At: finished.UTC(), Kind: "step", Step: step, Attempt: int(attempt),
			Outcome: outcome, Detail: det, Worker: worker, StartedAt: &st, DurationMS: &ms, stepID: stepID})
		return nil
	})
	if err != nil {
		return Timeline{}, fmt.Errorf("timeline of %s: steps: %w", orderID, err)
	}
	sortTimeline(tl.Entries)
	return tl, nil
}

func (q *Queries) eventEntry(typ string, version int, payload []byte) (TimelineEntry, domain.Event, error) {
	ev, err := q.codec.Decode(typ, version, payload)
	if err != nil {
		return TimelineEntry{}, nil, fmt.Errorf("timeline: decode %s: %w", typ, err)
	}
	data, err := q.codec.DecodeJSON(typ, version, payload)
	if err != nil {
		return TimelineEntry{}, nil, fmt.Errorf("timeline: decode %s: %w", typ, err)
	}
	return TimelineEntry{Kind: "event", Type: typ, Data: data}, ev, nil
}

// concerns reports whether an inventory event is about the order: a reservation's
// event names it; a stock adjustment is the saga's restock of it.
func concerns(ev domain.Event, orderID domain.ID, actor string) bool {
	switch e := ev.(type) {
	case product.Reserved:
		return e.OrderID == orderID
	case product.Released:
		return e.OrderID == orderID
	case product.Committed:
		return e.OrderID == orderID
	case product.StockAdjusted:
		return actor == Actor && strings.Contains(e.Reason, orderID.String())
	}
	return false
}

// sortTimeline orders entries by time; events keep their global order, and steps
// their log order.
func sortTimeline(es []TimelineEntry) {
	slices.SortStableFunc(es, func(a, b TimelineEntry) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		if a.Kind != b.Kind {
			return strings.Compare(a.Kind, b.Kind) // "event" before "step"
		}
		if c := cmp.Compare(a.position, b.position); c != 0 {
			return c
		}
		return cmp.Compare(a.stepID, b.stepID)
	})
}
