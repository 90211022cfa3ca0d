package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/product"
	"github.com/ordo-platform/ordo/eventstore"
)

// CodeSKUTaken: another product has the SKU.
const CodeSKUTaken = "sku_taken"

// CreateProductCommand adds a product to the catalogue.
type CreateProductCommand struct {
	SKU         string
	Name        string
	Description string
	PriceCents  int64
	Currency    string
	Actor       Actor
}

// CreateProduct creates products (admins only). SKUs are unique: the SKU is reserved in
// product_skus in the transaction that appends product.created.
type CreateProduct struct{ env *Env }

// NewCreateProduct returns the handler.
func NewCreateProduct(env *Env) *CreateProduct { return &CreateProduct{env: env} }

// Handle creates the product with a new UUIDv7 id; it starts with no stock.
func (h *CreateProduct) Handle(ctx context.Context, cmd CreateProductCommand) (ProductView, Result, error) {
	if err := requireAdmin(cmd.Actor); err != nil {
		return ProductView{}, Result{}, err
	}
	id := newID()
	create := product.Create{
		ProductID: id, SKU: cmd.SKU, Name: cmd.Name, Description: cmd.Description,
		Price: domain.Money{Cents: cmd.PriceCents, Currency: cmd.Currency},
	}
	p, res, err := Execute(ctx, h.env, Command[*product.Product]{
		Stream:    eventstore.Stream{Type: product.StreamType, ID: product.StreamID(id)},
		New:       func() *product.Product { return &product.Product{} },
		Decide:    func(p *product.Product) ([]domain.Event, error) { return p.DecideCreate(create) },
		Meta:      metadata(ctx, cmd.Actor),
		NewStream: true, // id is new: nothing to read
		InTx: func(ctx context.Context, tx pgx.Tx, _ *product.Product, events []domain.Event) error {
			created, ok := events[0].(product.Created) // InTx sees the state before the events
			if !ok {
				return fmt.Errorf("create product: decided %T, want product.Created", events[0])
			}
			tag, err := tx.Exec(ctx, `INSERT INTO product_skus (sku, product_id) VALUES ($1, $2) ON CONFLICT (sku) DO NOTHING`, created.SKU, id)
			if err != nil {
				return fmt.Errorf("reserve sku: %w", err)
			}
			if tag.RowsAffected() == 0 {
				return domain.Conflict(CodeSKUTaken, fmt.Sprintf("another product has the SKU %s", created.SKU))
			}
			return nil
		},
	})
	if err != nil {
		var derr *domain.Error
		if !errors.As(err, &derr) {
			err = fmt.Errorf("create product: %w", err)
		}
		return ProductView{}, Result{}, err
	}
	return productView(p, res.Version), res, nil
}
