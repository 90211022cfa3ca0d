package app

import (
	"context"
	"fmt"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/product"
)

// GetProductQuery asks for one catalogue entry.
type GetProductQuery struct {
	ProductID domain.ID
}

// GetProduct folds a product's stream and its inventory's. (The projections replace it
// with the catalogue read model.)
type GetProduct struct{ env *Env }

// NewGetProduct returns the handler.
func NewGetProduct(env *Env) *GetProduct { return &GetProduct{env: env} }

// Handle returns the product with its available stock, or a NotFound error.
func (h *GetProduct) Handle(ctx context.Context, q GetProductQuery) (ProductView, error) {
	p, version, err := Load(ctx, h.env, product.StreamID(q.ProductID), func() *product.Product { return &product.Product{} })
	if err != nil {
		return ProductView{}, fmt.Errorf("load product %s: %w", q.ProductID, err)
	}
	if !p.Exists() {
		return ProductView{}, domain.NotFound(product.CodeProductNotFound, "product not found")
	}
	inv, invVersion, err := Load(ctx, h.env, product.InventoryStreamID(q.ProductID), func() *product.Inventory { return &product.Inventory{} })
	if err != nil {
		return ProductView{}, fmt.Errorf("load inventory %s: %w", q.ProductID, err)
	}
	v := productView(p, version)
	v.StockAvailable, v.StockVersion = max(inv.Available(), 0), invVersion
	return v, nil
}
