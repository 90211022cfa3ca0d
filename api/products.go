package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/ordo-platform/ordo/app"
	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/product"
)

type createProductRequest struct {
	SKU         string `json:"sku"`
	Name        string `json:"name"`
	Description string `json:"description"`
	PriceCents  int64  `json:"price_cents"`
	Currency    string `json:"currency"`
}

type productResponse struct {
	ID             string `json:"id"`
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Description    string `json:"description"`
	PriceCents     int64  `json:"price_cents"`
	Currency       string `json:"currency"`
	Discontinued   bool   `json:"discontinued"`
	StockAvailable int64  `json:"stock_available"`
	// OnHand and Reserved come from the catalogue read model.
	OnHand       *int64 `json:"on_hand,omitempty"`
	Reserved     *int64 `json:"reserved,omitempty"`
	Version      int64  `json:"version"`
	StockVersion int64  `json:"stock_version,omitempty"`
	Position     int64  `json:"position,omitempty"`
}

func toProduct(v app.ProductView, position int64) productResponse {
	return productResponse{
		ID: v.ID.String(), SKU: v.SKU, Name: v.Name, Description: v.Description,
		PriceCents: v.Price.Cents, Currency: v.Price.Currency, Discontinued: v.Discontinued,
		StockAvailable: v.StockAvailable, Version: v.Version, Position: position,
	}
}

// handleCreateProduct: POST /v1/products (admin) → 201 product + Location.
func (s *Server) handleCreateProduct(c echo.Context) error {
	var req createProductRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	v, res, err := s.createProduct.Handle(c.Request().Context(), app.CreateProductCommand{
		SKU: req.SKU, Name: req.Name, Description: req.Description, PriceCents: req.PriceCents, Currency: req.Currency,
		Actor: actor(c),
	})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/products/"+v.ID.String())
	return c.JSON(http.StatusCreated, toProduct(v, res.Position))
}

// handleGetProduct: GET /v1/products/{id} → the product with stock_available, with an
// ETag of the two stream versions it reflects; If-None-Match answers 304.
func (s *Server) handleGetProduct(c echo.Context) error {
	id, err := pathID(c, "id", product.CodeProductNotFound, "product")
	if err != nil {
		return err
	}
	if s.deps.ReadModels != nil {
		return s.readProduct(c, id)
	}
	v, err := s.getProduct.Handle(c.Request().Context(), app.GetProductQuery{ProductID: id})
	if err != nil {
		return err
	}
	etag := fmt.Sprintf(`"p%d.s%d"`, v.Version, v.StockVersion)
	h := c.Response().Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "no-cache")
	if etagMatches(c.Request().Header.Get("If-None-Match"), etag) {
		return c.NoContent(http.StatusNotModified)
	}
	return c.JSON(http.StatusOK, toProduct(v, 0))
}

// etagMatches applies If-None-Match's weak comparison (RFC 9110 §13.1.2).
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

type adjustStockRequest struct {
	Delta  int64  `json:"delta"`
	Reason string `json:"reason"`
}

type stockResponse struct {
	ProductID string `json:"product_id"`
	OnHand    int64  `json:"on_hand"`
	Reserved  int64  `json:"reserved"`
	Available int64  `json:"available"`
	Version   int64  `json:"version"`
	Position  int64  `json:"position,omitempty"`
}

// handleAdjustStock: POST /v1/products/{id}/stock (admin) → 200 with the new level.
func (s *Server) handleAdjustStock(c echo.Context) error {
	id, err := pathID(c, "id", product.CodeProductNotFound, "product")
	if err != nil {
		return err
	}
	var req adjustStockRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	lvl, res, err := s.adjustStock.Handle(c.Request().Context(), app.AdjustStockCommand{
		ProductID: id, Delta: req.Delta, Reason: req.Reason, Actor: actor(c),
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, stockResponse{
		ProductID: lvl.ProductID.String(), OnHand: lvl.OnHand, Reserved: lvl.Reserved, Available: lvl.Available,
		Version: lvl.Version, Position: res.Position,
	})
}

// pathID parses the id in a path; one that is not a UUID names no resource: 404.
func pathID(c echo.Context, param, notFoundCode, what string) (domain.ID, error) {
	raw := c.Param(param)
	id, err := domain.ParseID(raw)
	if err != nil {
		if len(raw) > 40 {
			raw = raw[:40] + "..."
		}
		return domain.ID{}, newProblem(http.StatusNotFound, notFoundCode, fmt.Sprintf("no %s has the id %q (ids are UUIDs)", what, raw))
	}
	return id, nil
}
