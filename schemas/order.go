package schemas

import "github.com/ordo-platform/ordo/domain/order"

// ordo.order.OrderPlaced
type orderPlaced struct {
	OrderID      string      `avro:"order_id" json:"order_id"`
	CustomerID   string      `avro:"customer_id" json:"customer_id"`
	Items        []orderItem `avro:"items" json:"items"`
	TotalCents   int64       `avro:"total_cents" json:"total_cents"`
	Currency     string      `avro:"currency" json:"currency"`
	PaymentToken string      `avro:"payment_token" json:"payment_token"`
	PlacedAt     timestamp   `avro:"placed_at" json:"placed_at"`
}

// ordo.order.OrderItem
type orderItem struct {
	ProductID      string `avro:"product_id" json:"product_id"`
	SKU            string `avro:"sku" json:"sku"`
	Name           string `avro:"name" json:"name"`
	UnitPriceCents int64  `avro:"unit_price_cents" json:"unit_price_cents"`
	Quantity       int64  `avro:"quantity" json:"quantity"`
	LineTotalCents int64  `avro:"line_total_cents" json:"line_total_cents"`
}

func orderPlacedRecord(e order.Placed) orderPlaced {
	items := make([]orderItem, len(e.Items))
	for i, it := range e.Items {
		items[i] = orderItem{
			ProductID: it.ProductID.String(), SKU: it.SKU, Name: it.Name,
			UnitPriceCents: it.UnitPriceCents, Quantity: it.Quantity, LineTotalCents: it.LineTotalCents,
		}
	}
	return orderPlaced{
		OrderID: e.OrderID.String(), CustomerID: e.CustomerID.String(), Items: items,
		TotalCents: e.TotalCents, Currency: e.Currency, PaymentToken: e.PaymentToken, PlacedAt: timestamp(e.PlacedAt),
	}
}

func orderPlacedEvent(r *orderPlaced) (order.Placed, error) {
	var f fields
	var items []order.Item
	if len(r.Items) > 0 {
		items = make([]order.Item, len(r.Items))
	}
	for i, it := range r.Items {
		items[i] = order.Item{
			ProductID: f.id("items.product_id", it.ProductID), SKU: it.SKU, Name: it.Name,
			UnitPriceCents: it.UnitPriceCents, Quantity: it.Quantity, LineTotalCents: it.LineTotalCents,
		}
	}
	e := order.Placed{
		OrderID: f.id("order_id", r.OrderID), CustomerID: f.id("customer_id", r.CustomerID), Items: items,
		TotalCents: r.TotalCents, Currency: r.Currency, PaymentToken: r.PaymentToken, PlacedAt: f.time("placed_at", r.PlacedAt),
	}
	return e, f.err
}

// ordo.order.OrderConfirmed
type orderConfirmed struct {
	OrderID string `avro:"order_id" json:"order_id"`
}

func orderConfirmedRecord(e order.Confirmed) orderConfirmed {
	return orderConfirmed{OrderID: e.OrderID.String()}
}

func orderConfirmedEvent(r *orderConfirmed) (order.Confirmed, error) {
	var f fields
	e := order.Confirmed{OrderID: f.id("order_id", r.OrderID)}
	return e, f.err
}

// ordo.order.OrderCancelled
type orderCancelled struct {
	OrderID string `avro:"order_id" json:"order_id"`
	Reason  string `avro:"reason" json:"reason"`
	Detail  string `avro:"detail" json:"detail"`
}

func orderCancelledRecord(e order.Cancelled) orderCancelled {
	return orderCancelled{OrderID: e.OrderID.String(), Reason: string(e.Reason), Detail: e.Detail}
}

func orderCancelledEvent(r *orderCancelled) (order.Cancelled, error) {
	var f fields
	e := order.Cancelled{OrderID: f.id("order_id", r.OrderID), Reason: order.CancelReason(r.Reason), Detail: r.Detail}
	return e, f.err
}
