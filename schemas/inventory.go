package schemas

import "github.com/ordo-platform/ordo/domain/product"

// ordo.inventory.InventoryStockAdjusted
type inventoryStockAdjusted struct {
	ProductID string `avro:"product_id" json:"product_id"`
	Delta     int64  `avro:"delta" json:"delta"`
	Reason    string `avro:"reason" json:"reason"`
	OnHand    int64  `avro:"on_hand" json:"on_hand"`
}

func inventoryStockAdjustedRecord(e product.StockAdjusted) inventoryStockAdjusted {
	return inventoryStockAdjusted{ProductID: e.ProductID.String(), Delta: e.Delta, Reason: e.Reason, OnHand: e.OnHand}
}

func inventoryStockAdjustedEvent(r *inventoryStockAdjusted) (product.StockAdjusted, error) {
	var f fields
	e := product.StockAdjusted{ProductID: f.id("product_id", r.ProductID), Delta: r.Delta, Reason: r.Reason, OnHand: r.OnHand}
	return e, f.err
}

// ordo.inventory.InventoryReserved
type inventoryReserved struct {
	ProductID string    `avro:"product_id" json:"product_id"`
	OrderID   string    `avro:"order_id" json:"order_id"`
	Quantity  int64     `avro:"quantity" json:"quantity"`
	ExpiresAt timestamp `avro:"expires_at" json:"expires_at"`
}

func inventoryReservedRecord(e product.Reserved) inventoryReserved {
	return inventoryReserved{
		ProductID: e.ProductID.String(), OrderID: e.OrderID.String(), Quantity: e.Quantity, ExpiresAt: timestamp(e.ExpiresAt),
	}
}

func inventoryReservedEvent(r *inventoryReserved) (product.Reserved, error) {
	var f fields
	e := product.Reserved{
		ProductID: f.id("product_id", r.ProductID), OrderID: f.id("order_id", r.OrderID),
		Quantity: r.Quantity, ExpiresAt: f.time("expires_at", r.ExpiresAt),
	}
	return e, f.err
}

// ordo.inventory.InventoryReleased
type inventoryReleased struct {
	ProductID string `avro:"product_id" json:"product_id"`
	OrderID   string `avro:"order_id" json:"order_id"`
	Quantity  int64  `avro:"quantity" json:"quantity"`
	Reason    string `avro:"reason" json:"reason"`
}

func inventoryReleasedRecord(e product.Released) inventoryReleased {
	return inventoryReleased{ProductID: e.ProductID.String(), OrderID: e.OrderID.String(), Quantity: e.Quantity, Reason: e.Reason}
}

func inventoryReleasedEvent(r *inventoryReleased) (product.Released, error) {
	var f fields
	e := product.Released{
		ProductID: f.id("product_id", r.ProductID), OrderID: f.id("order_id", r.OrderID), Quantity: r.Quantity, Reason: r.Reason,
	}
	return e, f.err
}

// ordo.inventory.InventoryCommitted
type inventoryCommitted struct {
	ProductID string `avro:"product_id" json:"product_id"`
	OrderID   string `avro:"order_id" json:"order_id"`
	Quantity  int64  `avro:"quantity" json:"quantity"`
}

func inventoryCommittedRecord(e product.Committed) inventoryCommitted {
	return inventoryCommitted{ProductID: e.ProductID.String(), OrderID: e.OrderID.String(), Quantity: e.Quantity}
}

func inventoryCommittedEvent(r *inventoryCommitted) (product.Committed, error) {
	var f fields
	e := product.Committed{ProductID: f.id("product_id", r.ProductID), OrderID: f.id("order_id", r.OrderID), Quantity: r.Quantity}
	return e, f.err
}
