package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ordo-platform/ordo/domain/order"
)

// ordersModel is the order view: one row per order, with its items, totals, status and
// reason, the stream version it reflects, and the timestamps of its lifecycle (all taken
// from the events, so a rebuild produces the same rows). The index on
// (customer_id, placed_at DESC, id DESC) serves each customer's order list.
type ordersModel struct{}

func (ordersModel) name() string          { return Orders }
func (ordersModel) group() string         { return GroupOrders }
func (ordersModel) streamTypes() []string { return []string{order.StreamType} }
func (ordersModel) tables(v int) []string { return []string{tableName(Orders, v, "")} }

func (m ordersModel) create(ctx context.Context, tx pgx.Tx, v int) error {
	_, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
		id            uuid        PRIMARY KEY,
		customer_id   uuid        NOT NULL,
		status        text        NOT NULL,
		status_reason text        NOT NULL,
		status_detail text        NOT NULL,
		items         jsonb       NOT NULL,
		total_cents   bigint      NOT NULL,
		currency      text        NOT NULL,
		version       bigint      NOT NULL,
		position      bigint      NOT NULL,
		placed_at     timestamptz,
		updated_at    timestamptz NOT NULL,
		confirmed_at  timestamptz,
		cancelled_at  timestamptz
	) WITH (fillfactor = 80)`, tableName(Orders, v, "")))
	return err
}

func (m ordersModel) indexes(ctx context.Context, tx pgx.Tx, v int) error {
	t := tableName(Orders, v, "")
	_, err := tx.Exec(ctx, fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s_customer ON %s (customer_id, placed_at DESC, id DESC)`, t, t))
	return err
}

// orderItem is an order line as the view stores it (JSON in the items column).
type orderItem struct {
	ProductID      uuid.UUID `json:"product_id"`
	SKU            string    `json:"sku"`
	Name           string    `json:"name"`
	UnitPriceCents int64     `json:"unit_price_cents"`
	Quantity       int64     `json:"quantity"`
	LineTotalCents int64     `json:"line_total_cents"`
}

type orderRow struct {
	id, customer             uuid.UUID
	status, reason, detail   string
	items                    []byte
	total                    int64
	currency                 string
	version, position        int64
	placedAt                 *time.Time
	updatedAt                time.Time
	confirmedAt, cancelledAt *time.Time
	stored, dirty            bool
	// partial: a bulk load did not read the row; base is the version it must be at, and
	// only what the events here set is written (see patchOrders).
	partial   bool
	base      int64
	cancelled bool
}

const orderColumns = `id, customer_id, status, status_reason, status_detail, items, total_cents, currency,
	version, position, placed_at, updated_at, confirmed_at, cancelled_at`

func (r *orderRow) evolve(e event) {
	r.version, r.position, r.dirty = e.Version, e.Position, true
	r.updatedAt = e.OccurredAt.UTC()
	at := e.OccurredAt.UTC()
	switch d := e.data.(type) {
	case order.Placed:
		items := make([]orderItem, len(d.Items))
		for i, it := range d.Items {
			items[i] = orderItem{ProductID: uuid.UUID(it.ProductID), SKU: it.SKU, Name: it.Name,
				UnitPriceCents: it.UnitPriceCents, Quantity: it.Quantity, LineTotalCents: it.LineTotalCents}
		}
		r.items, _ = json.Marshal(items) // plain structs: cannot fail
		r.customer = uuid.UUID(d.CustomerID)
		r.status = string(order.StatusPending)
		r.total, r.currency = d.TotalCents, d.Currency
		placed := d.PlacedAt.UTC()
		r.placedAt = &placed
	case order.Confirmed:
		r.status = string(order.StatusConfirmed)
		r.confirmedAt = &at
	case order.Cancelled:
		r.cancelled = true
		r.status = string(order.StatusCancelled)
		r.reason, r.detail = string(d.Reason), d.Detail
		r.cancelledAt = &at
	}
}

func (m ordersModel) apply(ctx context.Context, tx pgx.Tx, v int, events []event, mode applyMode, heal healFunc) (applyStats, error) {
	var st applyStats
	table := tableName(Orders, v, "")
	rows := map[uuid.UUID]*orderRow{}
	var load [][16]byte // not []uuid.UUID: pgx encodes each of those through its text form
	for _, e := range events {
		id, typ, ok := streamKey(e.StreamID)
		if !ok || typ != order.StreamType {
			st.ignored++
			continue
		}
		key := uuid.UUID(id)
		if _, seen := rows[key]; seen {
			continue
		}
		r := &orderRow{id: key, items: []byte("[]")}
		rows[key] = r
		switch {
		case mode == live:
			load = append(load, key)
		case e.Version > 1:
			// A bulk load does not read rows back: after Placed (version 1, always in an
			// earlier page) events only change the status, which an UPDATE guarded by the
			// expected version can write blind.
			r.partial, r.base, r.version = true, e.Version-1, e.Version-1
		}
		// Otherwise a bulk load's stream starts here at version 1: its row cannot exist
		// (checkpoints commit with the rows), it is COPYed.
	}
	if len(load) > 0 {
		slices.SortFunc(load, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
		q := `SELECT ` + orderColumns + ` FROM ` + table + ` WHERE id = ANY($1) ORDER BY id`
		if mode == live {
			q += ` FOR UPDATE`
		}
		res, err := tx.Query(ctx, q, load)
		if err != nil {
			return st, fmt.Errorf("load orders: %w", err)
		}
		for res.Next() {
			r := &orderRow{stored: true}
			if err := res.Scan(&r.id, &r.customer, &r.status, &r.reason, &r.detail, &r.items, &r.total, &r.currency,
				&r.version, &r.position, &r.placedAt, &r.updatedAt, &r.confirmedAt, &r.cancelledAt); err != nil {
				res.Close()
				return st, fmt.Errorf("load orders: %w", err)
			}
			rows[r.id] = r
		}
		res.Close()
		if err := res.Err(); err != nil {
			return st, fmt.Errorf("load orders: %w", err)
		}
	}
	for _, e := range events {
		id, typ, ok := streamKey(e.StreamID)
		if !ok || typ != order.StreamType {
			continue
		}
		r := rows[uuid.UUID(id)]
		var err error
		if r.version, err = advance(ctx, heal, r.version, e, &st, r.evolve); err != nil {
			return st, err
		}
	}

	// Rows that are not in the table yet are COPYed, live too: an order's events are all
	// on one partition, whose batches run one at a time under the lock on its offset row,
	// so no other transaction can insert the same order meanwhile. (If one did, the COPY
	// would fail on the primary key and the batch be retried, finding the row stored.)
	// COPY costs about half of the upsert for a new row.
	var fresh, changed, patches []*orderRow
	for _, r := range rows {
		switch {
		case !r.dirty:
		case r.partial:
			patches = append(patches, r)
		case !r.stored:
			fresh = append(fresh, r)
		default:
			changed = append(changed, r)
		}
	}
	if len(fresh) > 0 {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{table},
			[]string{"id", "customer_id", "status", "status_reason", "status_detail", "items", "total_cents", "currency",
				"version", "position", "placed_at", "updated_at", "confirmed_at", "cancelled_at"},
			pgx.CopyFromSlice(len(fresh), func(i int) ([]any, error) {
				r := fresh[i]
				return []any{copyUUID(r.id), copyUUID(r.customer), r.status, r.reason, r.detail, r.items, r.total, r.currency,
					r.version, r.position, r.placedAt, r.updatedAt, r.confirmedAt, r.cancelledAt}, nil
			}))
		if err != nil {
			return st, fmt.Errorf("copy orders: %w", err)
		}
	}
	if err := patchOrders(ctx, tx, table, patches); err != nil {
		return st, err
	}
	if len(changed) > 0 {
		slices.SortFunc(changed, func(a, b *orderRow) int { return bytes.Compare(a.id[:], b.id[:]) })
		n := len(changed)
		var (
			ids, customers                       = make([][16]byte, n), make([][16]byte, n) // see load
			statuses, reasons, details, currency = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			items                                = make([]string, n)
			totals, versions, positions          = make([]int64, n), make([]int64, n), make([]int64, n)
			placed, confirmed, cancelled         = make([]*time.Time, n), make([]*time.Time, n), make([]*time.Time, n)
			updated                              = make([]time.Time, n)
		)
		for i, r := range changed {
			ids[i], customers[i], statuses[i], reasons[i], details[i] = r.id, r.customer, r.status, r.reason, r.detail
			items[i], totals[i], currency[i], versions[i], positions[i] = string(r.items), r.total, r.currency, r.version, r.position
			placed[i], updated[i], confirmed[i], cancelled[i] = r.placedAt, r.updatedAt, r.confirmedAt, r.cancelledAt
		}
		// The version guard makes the write idempotent whatever happened before: a row never
		// moves backwards.
		_, err := tx.Exec(ctx, `INSERT INTO `+table+` AS t (`+orderColumns+`)
			SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[]::jsonb[],
				$7::bigint[], $8::text[], $9::bigint[], $10::bigint[], $11::timestamptz[], $12::timestamptz[],
				$13::timestamptz[], $14::timestamptz[])
			ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id, status = excluded.status,
				status_reason = excluded.status_reason, status_detail = excluded.status_detail, items = excluded.items,
				total_cents = excluded.total_cents, currency = excluded.currency, version = excluded.version,
				position = excluded.position, placed_at = excluded.placed_at, updated_at = excluded.updated_at,
				confirmed_at = excluded.confirmed_at, cancelled_at = excluded.cancelled_at
			WHERE t.version < excluded.version`,
			ids, customers, statuses, reasons, details, items, totals, currency, versions, positions, placed, updated, confirmed, cancelled)
		if err != nil {
			return st, fmt.Errorf("upsert orders: %w", err)
		}
	}
	return st, nil
}

// patchOrders writes the status changes of rows a bulk load did not read: each row must
// be at its base version (it is, unless events are missing, which fails the page).
func patchOrders(ctx context.Context, tx pgx.Tx, table string, patches []*orderRow) error {
	if len(patches) == 0 {
		return nil
	}
	slices.SortFunc(patches, func(a, b *orderRow) int { return bytes.Compare(a.id[:], b.id[:]) })
	n := len(patches)
	var (
		ids                        = make([][16]byte, n) // see apply's load
		statuses, reasons, details = make([]string, n), make([]string, n), make([]string, n)
		cancelled                  = make([]bool, n)
		bases, versions, positions = make([]int64, n), make([]int64, n), make([]int64, n)
		confirmedAt, cancelledAt   = make([]*time.Time, n), make([]*time.Time, n)
		updated                    = make([]time.Time, n)
	)
	for i, r := range patches {
		ids[i], statuses[i], reasons[i], details[i], cancelled[i] = r.id, r.status, r.reason, r.detail, r.cancelled
		bases[i], versions[i], positions[i] = r.base, r.version, r.position
		confirmedAt[i], cancelledAt[i], updated[i] = r.confirmedAt, r.cancelledAt, r.updatedAt
	}
	tag, err := tx.Exec(ctx, `UPDATE `+table+` AS t SET
			status = CASE WHEN u.status <> '' THEN u.status ELSE t.status END,
			status_reason = CASE WHEN u.cancelled THEN u.reason ELSE t.status_reason END,
			status_detail = CASE WHEN u.cancelled THEN u.detail ELSE t.status_detail END,
			confirmed_at = coalesce(u.confirmed_at, t.confirmed_at),
			cancelled_at = coalesce(u.cancelled_at, t.cancelled_at),
			updated_at = u.updated_at, version = u.version, position = u.position
		FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::boolean[], $6::bigint[], $7::bigint[], $8::bigint[],
			$9::timestamptz[], $10::timestamptz[], $11::timestamptz[])
			AS u(id, status, reason, detail, cancelled, base, version, position, confirmed_at, cancelled_at, updated_at)
		WHERE t.id = u.id AND t.version = u.base`,
		ids, statuses, reasons, details, cancelled, bases, versions, positions, confirmedAt, cancelledAt, updated)
	if err != nil {
		return fmt.Errorf("patch orders: %w", err)
	}
	if tag.RowsAffected() != int64(n) {
		return fmt.Errorf("patch orders: %d of %d rows were at the version their events follow: events are missing", tag.RowsAffected(), n)
	}
	return nil
}
