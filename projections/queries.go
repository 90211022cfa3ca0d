package projections

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/domain/product"
)

// Page sizes of the list queries.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// OrderItem is a line of an order as placed.
type OrderItem struct {
	ProductID      domain.ID `json:"product_id"`
	SKU            string    `json:"sku"`
	Name           string    `json:"name"`
	UnitPriceCents int64     `json:"unit_price_cents"`
	Quantity       int64     `json:"quantity"`
	LineTotalCents int64     `json:"line_total_cents"`
}

// OrderView is an order as the read model has it.
type OrderView struct {
	ID           domain.ID
	CustomerID   domain.ID
	Status       order.Status
	StatusReason order.CancelReason // set when cancelled
	StatusDetail string
	Items        []OrderItem
	TotalCents   int64
	Currency     string
	// Version is the order stream's version this view reflects.
	Version     int64
	PlacedAt    time.Time
	UpdatedAt   time.Time
	ConfirmedAt *time.Time
	CancelledAt *time.Time
}

// ETag is the strong entity tag of the view: it changes exactly when the version does.
func (o OrderView) ETag() string { return `"` + strconv.FormatInt(o.Version, 10) + `"` }

// OrderPage is one page of a customer's orders, newest first.
type OrderPage struct {
	Orders []OrderView
	// Next is the cursor of the next page ("" on the last page).
	Next string
}

// ProductView is a catalogue entry with its stock.
type ProductView struct {
	ID           domain.ID
	SKU          string
	Name         string
	Description  string
	PriceCents   int64
	Currency     string
	Discontinued bool
	OnHand       int64
	Reserved     int64
	// StockAvailable = OnHand - Reserved.
	StockAvailable int64
	// Version is the product stream's version, StockVersion the inventory stream's.
	Version      int64
	StockVersion int64
	UpdatedAt    time.Time
}

// ETag is the strong entity tag of the view: both stream versions.
func (p ProductView) ETag() string {
	return `"` + strconv.FormatInt(p.Version, 10) + "." + strconv.FormatInt(p.StockVersion, 10) + `"`
}

// ProductPage is one page of the catalogue, by SKU.
type ProductPage struct {
	Products []ProductView
	Next     string
}

// NotCaughtUpError is returned (wrapping ErrNotCaughtUp) by WaitForVersion when the
// read model did not reach the version in time.
type NotCaughtUpError struct {
	StreamID string
	Want     int64
	// Have is the version the read model reflects now (0: it has nothing of the stream).
	Have int64
}

func (e *NotCaughtUpError) Error() string {
	return fmt.Sprintf("projections: %s is at version %d in the read model, %d asked for", e.StreamID, e.Have, e.Want)
}

// Unwrap makes errors.Is(err, ErrNotCaughtUp) true.
func (e *NotCaughtUpError) Unwrap() error { return ErrNotCaughtUp }

// Queries reads the active version of every read model (through the read_<name> views,
// which a rebuild's switch-over repoints atomically). It is safe for concurrent use.
type Queries struct {
	pool *pgxpool.Pool
	wake *listener
}

// NewQueries returns the query side over pool. Close it to stop its LISTEN connection.
func NewQueries(pool *pgxpool.Pool) *Queries {
	return &Queries{pool: pool, wake: newListener(pool)}
}

// Close stops the notification listener (started by the first WaitForVersion).
func (q *Queries) Close() { q.wake.close() }

func undefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P01"
}

const orderSelect = `SELECT id, customer_id, status, status_reason, status_detail, items, total_cents, currency, version,
	placed_at, updated_at, confirmed_at, cancelled_at FROM read_orders `

func scanOrder(row pgx.CollectableRow) (OrderView, error) {
	var (
		o        OrderView
		id, cust uuid.UUID
		status   string
		reason   string
		items    []byte
		placed   *time.Time
	)
	if err := row.Scan(&id, &cust, &status, &reason, &o.StatusDetail, &items, &o.TotalCents, &o.Currency, &o.Version,
		&placed, &o.UpdatedAt, &o.ConfirmedAt, &o.CancelledAt); err != nil {
		return o, err
	}
	o.ID, o.CustomerID, o.Status, o.StatusReason = domain.ID(id), domain.ID(cust), order.Status(status), order.CancelReason(reason)
	if placed != nil {
		o.PlacedAt = *placed
	}
	if err := json.Unmarshal(items, &o.Items); err != nil {
		return o, fmt.Errorf("order %s items: %w", o.ID, err)
	}
	return o, nil
}

// GetOrder returns an order (ErrNotFound when the read model does not have it).
// Authorisation (owner or admin) is the caller's: compare CustomerID.
func (q *Queries) GetOrder(ctx context.Context, id domain.ID) (OrderView, error) {
	rows, err := q.pool.Query(ctx, orderSelect+`WHERE id = $1 AND status <> ''`, uuid.UUID(id))
	if err != nil {
		if undefinedTable(err) {
			return OrderView{}, ErrNotFound
		}
		return OrderView{}, fmt.Errorf("get order %s: %w", id, err)
	}
	o, err := pgx.CollectExactlyOneRow(rows, scanOrder)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return OrderView{}, ErrNotFound
	case undefinedTable(err):
		return OrderView{}, ErrNotFound
	case err != nil:
		return OrderView{}, fmt.Errorf("get order %s: %w", id, err)
	}
	return o, nil
}

type orderCursor struct {
	PlacedAt int64     `json:"p"` // unix microseconds
	ID       uuid.UUID `json:"i"`
}

type productCursor struct {
	SKU string    `json:"s"`
	ID  uuid.UUID `json:"i"`
}

func encodeCursor(v any) string {
	b, _ := json.Marshal(v) // plain structs: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, v) != nil {
		return ErrBadCursor
	}
	return nil
}

func clampLimit(limit int) int {
	switch {
	case limit <= 0:
		return DefaultLimit
	case limit > MaxLimit:
		return MaxLimit
	}
	return limit
}

// ListOrders returns a customer's orders, newest first (placed_at, then id), a page at
// a time: pass "" for the first page and the returned Next for the following ones
// (keyset pagination: pages stay consistent while new orders arrive). limit is clamped
// to 1..MaxLimit (DefaultLimit when <= 0).
func (q *Queries) ListOrders(ctx context.Context, customer domain.ID, cursor string, limit int) (OrderPage, error) {
	limit = clampLimit(limit)
	var (
		rows pgx.Rows
		err  error
	)
	if cursor == "" {
		rows, err = q.pool.Query(ctx, orderSelect+`WHERE customer_id = $1 AND status <> ''
			ORDER BY placed_at DESC, id DESC LIMIT $2`, uuid.UUID(customer), limit+1)
	} else {
		var c orderCursor
		if err := decodeCursor(cursor, &c); err != nil {
			return OrderPage{}, err
		}
		// Cursors carry real placement times; one outside years 1-9999 (inside Postgres's
		// timestamptz range) was not made here.
		if y := time.UnixMicro(c.PlacedAt).UTC().Year(); y < 1 || y > 9999 {
			return OrderPage{}, ErrBadCursor
		}
		rows, err = q.pool.Query(ctx, orderSelect+`WHERE customer_id = $1 AND status <> ''
			AND (placed_at, id) < ($2, $3) ORDER BY placed_at DESC, id DESC LIMIT $4`,
			uuid.UUID(customer), time.UnixMicro(c.PlacedAt).UTC(), c.ID, limit+1)
	}
	if err != nil {
		if undefinedTable(err) {
			return OrderPage{}, nil
		}
		return OrderPage{}, fmt.Errorf("list orders of %s: %w", customer, err)
	}
	orders, err := pgx.CollectRows(rows, scanOrder)
	if err != nil {
		if undefinedTable(err) {
			return OrderPage{}, nil
		}
		return OrderPage{}, fmt.Errorf("list orders of %s: %w", customer, err)
	}
	page := OrderPage{Orders: orders}
	if len(orders) > limit {
		page.Orders = orders[:limit]
		last := page.Orders[limit-1]
		page.Next = encodeCursor(orderCursor{PlacedAt: last.PlacedAt.UnixMicro(), ID: uuid.UUID(last.ID)})
	}
	return page, nil
}

const productSelect = `SELECT id, sku, name, description, price_cents, currency, discontinued, on_hand, reserved,
	stock_available, product_version, inventory_version, updated_at FROM read_products `

func scanProduct(row pgx.CollectableRow) (ProductView, error) {
	var (
		p  ProductView
		id uuid.UUID
	)
	err := row.Scan(&id, &p.SKU, &p.Name, &p.Description, &p.PriceCents, &p.Currency, &p.Discontinued, &p.OnHand,
		&p.Reserved, &p.StockAvailable, &p.Version, &p.StockVersion, &p.UpdatedAt)
	p.ID = domain.ID(id)
	return p, err
}

// GetProduct returns a catalogue entry (ErrNotFound until its product.created event is
// in the read model).
func (q *Queries) GetProduct(ctx context.Context, id domain.ID) (ProductView, error) {
	rows, err := q.pool.Query(ctx, productSelect+`WHERE id = $1 AND product_version > 0`, uuid.UUID(id))
	if err != nil {
		if undefinedTable(err) {
			return ProductView{}, ErrNotFound
		}
		return ProductView{}, fmt.Errorf("get product %s: %w", id, err)
	}
	p, err := pgx.CollectExactlyOneRow(rows, scanProduct)
	switch {
	case errors.Is(err, pgx.ErrNoRows), undefinedTable(err):
		return ProductView{}, ErrNotFound
	case err != nil:
		return ProductView{}, fmt.Errorf("get product %s: %w", id, err)
	}
	return p, nil
}

// ListProducts returns the catalogue by SKU, a page at a time (see ListOrders for the
// cursor and limit). Discontinued products are included (flagged).
func (q *Queries) ListProducts(ctx context.Context, cursor string, limit int) (ProductPage, error) {
	limit = clampLimit(limit)
	var c productCursor
	if cursor != "" {
		if err := decodeCursor(cursor, &c); err != nil {
			return ProductPage{}, err
		}
		// A SKU never holds NUL, and Postgres text cannot: sent as a parameter it fails
		// the query (a 500) instead of being a bad cursor (a 400).
		if strings.IndexByte(c.SKU, 0) >= 0 {
			return ProductPage{}, ErrBadCursor
		}
	}
	rows, err := q.pool.Query(ctx, productSelect+`WHERE product_version > 0 AND (sku, id) > ($1, $2)
		ORDER BY sku, id LIMIT $3`, c.SKU, c.ID, limit+1)
	if err != nil {
		if undefinedTable(err) {
			return ProductPage{}, nil
		}
		return ProductPage{}, fmt.Errorf("list products: %w", err)
	}
	products, err := pgx.CollectRows(rows, scanProduct)
	if err != nil {
		if undefinedTable(err) {
			return ProductPage{}, nil
		}
		return ProductPage{}, fmt.Errorf("list products: %w", err)
	}
	page := ProductPage{Products: products}
	if len(products) > limit {
		page.Products = products[:limit]
		last := page.Products[limit-1]
		page.Next = encodeCursor(productCursor{SKU: last.SKU, ID: uuid.UUID(last.ID)})
	}
	return page, nil
}

// StreamVersion returns the version of a stream that the read models reflect now: an
// order stream ("order-<id>") in the order view, a product or inventory stream in the
// catalogue. 0 means the read model has nothing of it yet.
func (q *Queries) StreamVersion(ctx context.Context, streamID string) (int64, error) {
	id, typ, ok := streamKey(streamID)
	if !ok {
		return 0, fmt.Errorf("%w: %q is not a stream id", ErrNotFollowed, streamID)
	}
	var sql string
	switch typ {
	case order.StreamType:
		sql = `SELECT version FROM read_orders WHERE id = $1`
	case product.StreamType:
		sql = `SELECT product_version FROM read_products WHERE id = $1`
	case product.InventoryStreamType:
		sql = `SELECT inventory_version FROM read_products WHERE id = $1`
	default:
		return 0, fmt.Errorf("%w: %s streams", ErrNotFollowed, typ)
	}
	var v int64
	err := q.pool.QueryRow(ctx, sql, uuid.UUID(id)).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) || undefinedTable(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("version of %s: %w", streamID, err)
	}
	return v, nil
}

// WaitForVersion waits until the read models reflect at least minVersion of a stream
// (read-your-writes: a client passes the version its command returned), for at most
// timeout. It returns the version reached, or a *NotCaughtUpError (errors.Is
// ErrNotCaughtUp) when the bound passes first; ctx ending returns ctx's error. It wakes
// on the projectors' notifications after each commit and also looks every 250 ms, so a
// lost notification costs latency, never correctness.
func (q *Queries) WaitForVersion(ctx context.Context, streamID string, minVersion int64, timeout time.Duration) (int64, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		wake := q.wake.next()
		v, err := q.StreamVersion(ctx, streamID)
		if err != nil {
			return 0, err
		}
		if v >= minVersion {
			return v, nil
		}
		poll := time.NewTimer(250 * time.Millisecond)
		select {
		case <-ctx.Done():
			poll.Stop()
			return v, ctx.Err()
		case <-deadline.C:
			poll.Stop()
			// One last look: the version may have arrived with the deadline.
			if v2, err := q.StreamVersion(ctx, streamID); err == nil && v2 >= minVersion {
				return v2, nil
			} else if err == nil {
				v = v2
			}
			return v, &NotCaughtUpError{StreamID: streamID, Want: minVersion, Have: v}
		case <-wake:
		case <-poll.C:
		}
		poll.Stop()
	}
}
