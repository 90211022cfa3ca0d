// Package product holds two aggregates that share a product id: Product, the
// catalogue entry (SKU, name, description, price, discontinued), and
// Inventory, the stock of that product (on hand, reserved per order).
//
// They are separate aggregates, in separate streams ("product-<id>" and
// "inventory-<id>"), because they change for different reasons at very
// different rates: stock moves with every order, the catalogue entry rarely.
// Keeping them apart means an order's reservation never conflicts with an
// admin renaming the product.
//
// # How the inventory learns of discontinuation
//
// A discontinued product must not be reserved for new orders, but the
// discontinuation is recorded in the product stream, which the inventory does
// not read. The Reserve command therefore carries Discontinued, which the
// caller (the order saga) reads from the Product aggregate or the catalogue
// read model just before reserving, and DecideReserve refuses with
// CodeProductDiscontinued when it is set. The two streams are consistent with
// each other only eventually: a reservation that races with the
// discontinuation may still succeed. That is acceptable: discontinuing means
// "stop selling", and an order placed a moment before is honoured.
//
// # Stock invariants
//
// Available = on hand − reserved, and neither on hand nor available ever goes
// below zero: a reservation may take at most what is available, and a stock
// adjustment may not take on hand below what is reserved (stock promised to
// orders cannot be written off; release the reservations first).
package product
