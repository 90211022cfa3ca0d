package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/product"
	"github.com/ordo-platform/ordo/eventstore"
)

// AdjustStockCommand changes a product's stock on hand by Delta.
type AdjustStockCommand struct {
	ProductID domain.ID
	Delta     int64
	Reason    string
	Actor     Actor
}

// AdjustStock records deliveries and write-offs (admins only). Stock never goes below
// what is reserved, so never below zero.
type AdjustStock struct{ env *Env }

// NewAdjustStock returns the handler.
func NewAdjustStock(env *Env) *AdjustStock { return &AdjustStock{env: env} }

// Handle appends inventory.stock_adjusted and returns the new level.
func (h *AdjustStock) Handle(ctx context.Context, cmd AdjustStockCommand) (StockLevel, Result, error) {
	if err := requireAdmin(cmd.Actor); err != nil {
		return StockLevel{}, Result{}, err
	}
	p, _, err := Load(ctx, h.env, product.StreamID(cmd.ProductID), func() *product.Product { return &product.Product{} })
	if err != nil {
		return StockLevel{}, Result{}, fmt.Errorf("load product %s: %w", cmd.ProductID, err)
	}
	if !p.Exists() {
		return StockLevel{}, Result{}, domain.NotFound(product.CodeProductNotFound, "product not found")
	}
	var level StockLevel
	_, res, err := Execute(ctx, h.env, Command[*product.Inventory]{
		Stream: eventstore.Stream{Type: product.InventoryStreamType, ID: product.InventoryStreamID(cmd.ProductID)},
		New:    func() *product.Inventory { return &product.Inventory{} },
		Decide: func(inv *product.Inventory) ([]domain.Event, error) {
			return inv.DecideAdjustStock(product.AdjustStock{ProductID: cmd.ProductID, Delta: cmd.Delta, Reason: cmd.Reason})
		},
		Meta:   metadata(ctx, cmd.Actor),
		Cached: true, // inventories grow with every order
		After: func(inv *product.Inventory) {
			level = StockLevel{ProductID: cmd.ProductID, OnHand: inv.OnHand(), Reserved: inv.Reserved(), Available: inv.Available()}
		},
	})
	if err != nil {
		var derr *domain.Error
		if !errors.As(err, &derr) {
			err = fmt.Errorf("adjust stock of %s: %w", cmd.ProductID, err)
		}
		return StockLevel{}, Result{}, err
	}
	level.Version = res.Version
	return level, res, nil
}
