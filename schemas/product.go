package schemas

import (
	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/product"
)

// ordo.product.ProductCreated
type productCreated struct {
	ProductID   string `avro:"product_id" json:"product_id"`
	SKU         string `avro:"sku" json:"sku"`
	Name        string `avro:"name" json:"name"`
	Description string `avro:"description" json:"description"`
	PriceCents  int64  `avro:"price_cents" json:"price_cents"`
	Currency    string `avro:"currency" json:"currency"`
}

func productCreatedRecord(e product.Created) productCreated {
	return productCreated{
		ProductID: e.ProductID.String(), SKU: e.SKU, Name: e.Name, Description: e.Description,
		PriceCents: e.Price.Cents, Currency: e.Price.Currency,
	}
}

func productCreatedEvent(r *productCreated) (product.Created, error) {
	var f fields
	e := product.Created{
		ProductID: f.id("product_id", r.ProductID), SKU: r.SKU, Name: r.Name, Description: r.Description,
		Price: domain.Money{Cents: r.PriceCents, Currency: r.Currency},
	}
	return e, f.err
}

// ordo.product.ProductRenamed
type productRenamed struct {
	ProductID string `avro:"product_id" json:"product_id"`
	Name      string `avro:"name" json:"name"`
}

func productRenamedRecord(e product.Renamed) productRenamed {
	return productRenamed{ProductID: e.ProductID.String(), Name: e.Name}
}

func productRenamedEvent(r *productRenamed) (product.Renamed, error) {
	var f fields
	e := product.Renamed{ProductID: f.id("product_id", r.ProductID), Name: r.Name}
	return e, f.err
}

// ordo.product.ProductRepriced
type productRepriced struct {
	ProductID  string `avro:"product_id" json:"product_id"`
	PriceCents int64  `avro:"price_cents" json:"price_cents"`
	Currency   string `avro:"currency" json:"currency"`
}

func productRepricedRecord(e product.Repriced) productRepriced {
	return productRepriced{ProductID: e.ProductID.String(), PriceCents: e.Price.Cents, Currency: e.Price.Currency}
}

func productRepricedEvent(r *productRepriced) (product.Repriced, error) {
	var f fields
	e := product.Repriced{ProductID: f.id("product_id", r.ProductID), Price: domain.Money{Cents: r.PriceCents, Currency: r.Currency}}
	return e, f.err
}

// ordo.product.ProductDiscontinued
type productDiscontinued struct {
	ProductID string `avro:"product_id" json:"product_id"`
}

func productDiscontinuedRecord(e product.Discontinued) productDiscontinued {
	return productDiscontinued{ProductID: e.ProductID.String()}
}

func productDiscontinuedEvent(r *productDiscontinued) (product.Discontinued, error) {
	var f fields
	e := product.Discontinued{ProductID: f.id("product_id", r.ProductID)}
	return e, f.err
}
