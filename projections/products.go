package projections

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ordo-platform/ordo/domain/product"
)

// productsModel is the catalogue: one row per product, made of two streams, the
// product's ("product-<id>": sku, name, description, price, discontinued) and its
// inventory's ("inventory-<id>": on hand, reserved). Each part carries its own stream
// version, and every write only replaces a part whose version moves forward, so the two
// topics may be applied in any interleaving (they are different Kafka topics, with no
// order between them) and still give the fold of both streams.
//
// A row can exist before its product does (stock adjusted before the Created event is
// applied); queries show only rows whose product_version > 0.
type productsModel struct{}

func (productsModel) name() string  { return Products }
func (productsModel) group() string { return GroupProducts }
func (productsModel) streamTypes() []string {
	return []string{product.StreamType, product.InventoryStreamType}
}
func (productsModel) tables(v int) []string { return []string{tableName(Products, v, "")} }

func (productsModel) create(ctx context.Context, tx pgx.Tx, v int) error {
	_, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
		id                uuid        PRIMARY KEY,
		sku               text        NOT NULL,
		name              text        NOT NULL,
		description       text        NOT NULL,
		price_cents       bigint      NOT NULL,
		currency          text        NOT NULL,
		discontinued      boolean     NOT NULL,
		on_hand           bigint      NOT NULL,
		reserved          bigint      NOT NULL,
		stock_available   bigint      GENERATED ALWAYS AS (on_hand - reserved) STORED,
		product_version   bigint      NOT NULL,
		inventory_version bigint      NOT NULL,
		position          bigint      NOT NULL,
		created_at        timestamptz,
		updated_at        timestamptz NOT NULL
	) WITH (fillfactor = 80)`, tableName(Products, v, "")))
	return err
}

func (productsModel) indexes(ctx context.Context, tx pgx.Tx, v int) error {
	t := tableName(Products, v, "")
	_, err := tx.Exec(ctx, fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s_sku ON %s (sku, id)`, t, t))
	return err
}

type productRow struct {
	id                         uuid.UUID
	sku, name, description     string
	price                      int64
	currency                   string
	discontinued               bool
	onHand, reserved           int64
	productVersion, invVersion int64
	position                   int64
	createdAt                  *time.Time
	updatedAt                  time.Time
	stored, dirty              bool
}

const productColumns = `id, sku, name, description, price_cents, currency, discontinued, on_hand, reserved,
	product_version, inventory_version, position, created_at, updated_at`

func (r *productRow) touch(e event) {
	r.dirty = true
	r.position = max(r.position, e.Position)
	if at := e.OccurredAt.UTC(); at.After(r.updatedAt) {
		r.updatedAt = at
	}
}

func (r *productRow) evolveProduct(e event) {
	r.touch(e)
	switch d := e.data.(type) {
	case product.Created:
		r.sku, r.name, r.description = d.SKU, d.Name, d.Description
		r.price, r.currency = d.Price.Cents, d.Price.Currency
		at := e.OccurredAt.UTC()
		r.createdAt = &at
	case product.Renamed:
		r.name = d.Name
	case product.Repriced:
		r.price, r.currency = d.Price.Cents, d.Price.Currency
	case product.Discontinued:
		r.discontinued = true
	}
}

func (r *productRow) evolveInventory(e event) {
	r.touch(e)
	switch d := e.data.(type) {
	case product.StockAdjusted:
		r.onHand = d.OnHand
	case product.Reserved:
		r.reserved += d.Quantity
	case product.Released:
		r.reserved -= d.Quantity
	case product.Committed:
		r.reserved -= d.Quantity
		r.onHand -= d.Quantity
	}
}

func (m productsModel) apply(ctx context.Context, tx pgx.Tx, v int, events []event, mode applyMode, heal healFunc) (applyStats, error) {
	var st applyStats
	table := tableName(Products, v, "")
	rows := map[uuid.UUID]*productRow{}
	var load [][16]byte // not []uuid.UUID: pgx encodes each of those through its text form
	for _, e := range events {
		id, typ, ok := streamKey(e.StreamID)
		if !ok || !wants(m, typ) {
			st.ignored++
			continue
		}
		key := uuid.UUID(id)
		if _, seen := rows[key]; !seen {
			rows[key] = &productRow{id: key}
			load = append(load, key)
		}
	}
	if len(load) > 0 {
		slices.SortFunc(load, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
		q := `SELECT ` + productColumns + ` FROM ` + table + ` WHERE id = ANY($1) ORDER BY id`
		if mode == live {
			q += ` FOR UPDATE`
		}
		res, err := tx.Query(ctx, q, load)
		if err != nil {
			return st, fmt.Errorf("load products: %w", err)
		}
		for res.Next() {
			r := &productRow{stored: true}
			if err := res.Scan(&r.id, &r.sku, &r.name, &r.description, &r.price, &r.currency, &r.discontinued,
				&r.onHand, &r.reserved, &r.productVersion, &r.invVersion, &r.position, &r.createdAt, &r.updatedAt); err != nil {
				res.Close()
				return st, fmt.Errorf("load products: %w", err)
			}
			rows[r.id] = r
		}
		res.Close()
		if err := res.Err(); err != nil {
			return st, fmt.Errorf("load products: %w", err)
		}
	}
	for _, e := range events {
		id, typ, ok := streamKey(e.StreamID)
		if !ok || !wants(m, typ) {
			continue
		}
		r := rows[uuid.UUID(id)]
		var err error
		if typ == product.StreamType {
			r.productVersion, err = advance(ctx, heal, r.productVersion, e, &st, r.evolveProduct)
		} else {
			r.invVersion, err = advance(ctx, heal, r.invVersion, e, &st, r.evolveInventory)
		}
		if err != nil {
			return st, err
		}
	}

	var fresh, changed []*productRow
	for _, r := range rows {
		switch {
		case !r.dirty:
		case mode == bulk && !r.stored:
			fresh = append(fresh, r)
		default:
			changed = append(changed, r)
		}
	}
	if len(fresh) > 0 {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{table},
			[]string{"id", "sku", "name", "description", "price_cents", "currency", "discontinued", "on_hand", "reserved",
				"product_version", "inventory_version", "position", "created_at", "updated_at"},
			pgx.CopyFromSlice(len(fresh), func(i int) ([]any, error) {
				r := fresh[i]
				return []any{copyUUID(r.id), r.sku, r.name, r.description, r.price, r.currency, r.discontinued, r.onHand, r.reserved,
					r.productVersion, r.invVersion, r.position, r.createdAt, r.updatedAt}, nil
			}))
		if err != nil {
			return st, fmt.Errorf("copy products: %w", err)
		}
	}
	if len(changed) == 0 {
		return st, nil
	}
	slices.SortFunc(changed, func(a, b *productRow) int { return bytes.Compare(a.id[:], b.id[:]) })
	n := len(changed)
	var (
		ids                                 = make([][16]byte, n) // see load
		skus, names, descriptions, currency = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		prices, onHand, reserved            = make([]int64, n), make([]int64, n), make([]int64, n)
		pversions, iversions, positions     = make([]int64, n), make([]int64, n), make([]int64, n)
		discontinued                        = make([]bool, n)
		created                             = make([]*time.Time, n)
		updated                             = make([]time.Time, n)
	)
	for i, r := range changed {
		ids[i], skus[i], names[i], descriptions[i], prices[i], currency[i] = r.id, r.sku, r.name, r.description, r.price, r.currency
		discontinued[i], onHand[i], reserved[i] = r.discontinued, r.onHand, r.reserved
		pversions[i], iversions[i], positions[i], created[i], updated[i] = r.productVersion, r.invVersion, r.position, r.createdAt, r.updatedAt
	}
	// Each part moves only forward; two writers of different parts of the same new row
	// (the product and the inventory topic, applied concurrently) both keep their part.
	_, err := tx.Exec(ctx, `INSERT INTO `+table+` AS t (`+productColumns+`)
		SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::boolean[],
			$8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::timestamptz[], $14::timestamptz[])
		ON CONFLICT (id) DO UPDATE SET
			sku          = CASE WHEN excluded.product_version > t.product_version THEN excluded.sku ELSE t.sku END,
			name         = CASE WHEN excluded.product_version > t.product_version THEN excluded.name ELSE t.name END,
			description  = CASE WHEN excluded.product_version > t.product_version THEN excluded.description ELSE t.description END,
			price_cents  = CASE WHEN excluded.product_version > t.product_version THEN excluded.price_cents ELSE t.price_cents END,
			currency     = CASE WHEN excluded.product_version > t.product_version THEN excluded.currency ELSE t.currency END,
			discontinued = CASE WHEN excluded.product_version > t.product_version THEN excluded.discontinued ELSE t.discontinued END,
			created_at   = CASE WHEN excluded.product_version > t.product_version THEN excluded.created_at ELSE t.created_at END,
			product_version = greatest(t.product_version, excluded.product_version),
			on_hand      = CASE WHEN excluded.inventory_version > t.inventory_version THEN excluded.on_hand ELSE t.on_hand END,
			reserved     = CASE WHEN excluded.inventory_version > t.inventory_version THEN excluded.reserved ELSE t.reserved END,
			inventory_version = greatest(t.inventory_version, excluded.inventory_version),
			position     = greatest(t.position, excluded.position),
			updated_at   = greatest(t.updated_at, excluded.updated_at)
		WHERE excluded.product_version > t.product_version OR excluded.inventory_version > t.inventory_version`,
		ids, skus, names, descriptions, prices, currency, discontinued, onHand, reserved, pversions, iversions, positions, created, updated)
	if err != nil {
		return st, fmt.Errorf("upsert products: %w", err)
	}
	return st, nil
}
