package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/domain/product"
	"github.com/ordo-platform/ordo/projections"
)

// The query routes read the projections' read models (deps.ReadModels). Every response
// carries the stream version it reflects, and a client that has just written version N
// can ask for at least N:
//
//	GET /v1/orders/{id}?min_version=N            (or header Consistent-After: N)
//	GET /v1/products/{id}?min_version=N&min_stock_version=M
//	GET /v1/orders                                with header Consistent-After: order-<id>@N
//
// The request then waits (at most ReadYourWritesWait) for the read model to catch up,
// and answers 503 not_caught_up with Retry-After when it does not in time. Without read
// models (the edge's own unit tests), by-id queries fold the event stream instead.

const codeNotCaughtUp = "not_caught_up"

type orderListResponse struct {
	Orders []orderResponse `json:"orders"`
	Next   string          `json:"next,omitempty"`
}

type productListResponse struct {
	Products []productResponse `json:"products"`
	Next     string            `json:"next,omitempty"`
}

func fromOrderView(v projections.OrderView) orderResponse {
	out := orderResponse{
		ID: v.ID.String(), CustomerID: v.CustomerID.String(), Status: string(v.Status), StatusDetail: v.StatusDetail,
		Items: make([]orderItemResponse, len(v.Items)), TotalCents: v.TotalCents, Currency: v.Currency,
		PlacedAt: v.PlacedAt.UTC(), Version: v.Version, UpdatedAt: v.UpdatedAt.UTC(),
		ConfirmedAt: utcPtr(v.ConfirmedAt), CancelledAt: utcPtr(v.CancelledAt),
	}
	if v.StatusReason != "" {
		r := string(v.StatusReason)
		out.StatusReason = &r
	}
	for i, it := range v.Items {
		out.Items[i] = orderItemResponse{
			ProductID: it.ProductID.String(), SKU: it.SKU, Name: it.Name, UnitPriceCents: it.UnitPriceCents,
			Quantity: it.Quantity, LineTotalCents: it.LineTotalCents,
		}
	}
	return out
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func fromProductView(v projections.ProductView) productResponse {
	return productResponse{
		ID: v.ID.String(), SKU: v.SKU, Name: v.Name, Description: v.Description, PriceCents: v.PriceCents,
		Currency: v.Currency, Discontinued: v.Discontinued, StockAvailable: v.StockAvailable,
		Reserved: &v.Reserved, OnHand: &v.OnHand, Version: v.Version, StockVersion: v.StockVersion,
	}
}

// minVersion reads a non-negative version from the query parameter, or else from the
// Consistent-After header when header is true.
func minVersion(c echo.Context, param string, header bool) (int64, error) {
	raw := c.QueryParam(param)
	if raw == "" && header {
		raw = c.Request().Header.Get("Consistent-After")
	}
	if raw == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
	if err != nil || v < 0 {
		return 0, newProblem(http.StatusBadRequest, codeInvalidQuery, param+" must be a non-negative integer (a stream version)").
			withField(param, "not a non-negative integer")
	}
	return v, nil
}

// waitFor waits until the read model reflects stream at version >= min.
func (s *Server) waitFor(c echo.Context, streamID string, min int64) error {
	if min <= 0 {
		return nil
	}
	_, err := s.deps.ReadModels.WaitForVersion(c.Request().Context(), streamID, min, s.cfg.ReadYourWritesWait)
	return err
}

// readOrder: GET /v1/orders/{id} from the order read model.
func (s *Server) readOrder(c echo.Context, id domain.ID) error {
	min, err := minVersion(c, "min_version", true)
	if err != nil {
		return err
	}
	if err := s.waitFor(c, order.StreamID(id), min); err != nil {
		return err
	}
	v, err := s.deps.ReadModels.GetOrder(c.Request().Context(), id)
	if errors.Is(err, projections.ErrNotFound) {
		return domain.NotFound(order.CodeOrderNotFound, "order not found")
	}
	if err != nil {
		return err
	}
	a := actor(c)
	if v.CustomerID != a.UserID && !a.IsAdmin() {
		return domain.NotFound(order.CodeOrderNotFound, "order not found") // not yours: it does not exist for you
	}
	return s.conditionalJSON(c, v.ETag(), "private, no-cache", fromOrderView(v))
}

// handleListOrders: GET /v1/orders → the caller's orders, newest first, by cursor.
func (s *Server) handleListOrders(c echo.Context) error {
	if s.deps.ReadModels == nil {
		return newProblem(http.StatusServiceUnavailable, codeUnavailable, "order lists need the read models")
	}
	limit, cursor, err := page(c)
	if err != nil {
		return err
	}
	if err := s.waitForHeader(c); err != nil {
		return err
	}
	p, err := s.deps.ReadModels.ListOrders(c.Request().Context(), actor(c).UserID, cursor, limit)
	if err != nil {
		return err
	}
	out := orderListResponse{Orders: make([]orderResponse, len(p.Orders)), Next: p.Next}
	for i, o := range p.Orders {
		out.Orders[i] = fromOrderView(o)
	}
	c.Response().Header().Set("Cache-Control", "private, no-cache")
	return c.JSON(http.StatusOK, out)
}

// readProduct: GET /v1/products/{id} from the catalogue read model.
func (s *Server) readProduct(c echo.Context, id domain.ID) error {
	min, err := minVersion(c, "min_version", false)
	if err != nil {
		return err
	}
	minStock, err := minVersion(c, "min_stock_version", false)
	if err != nil {
		return err
	}
	if err := s.waitFor(c, product.StreamID(id), min); err != nil {
		return err
	}
	if err := s.waitFor(c, product.InventoryStreamID(id), minStock); err != nil {
		return err
	}
	v, err := s.deps.ReadModels.GetProduct(c.Request().Context(), id)
	if errors.Is(err, projections.ErrNotFound) {
		return domain.NotFound(product.CodeProductNotFound, "product not found")
	}
	if err != nil {
		return err
	}
	return s.conditionalJSON(c, v.ETag(), "no-cache", fromProductView(v))
}

// handleListProducts: GET /v1/products → the catalogue by SKU, by cursor.
func (s *Server) handleListProducts(c echo.Context) error {
	if s.deps.ReadModels == nil {
		return newProblem(http.StatusServiceUnavailable, codeUnavailable, "the catalogue list needs the read models")
	}
	limit, cursor, err := page(c)
	if err != nil {
		return err
	}
	if err := s.waitForHeader(c); err != nil {
		return err
	}
	p, err := s.deps.ReadModels.ListProducts(c.Request().Context(), cursor, limit)
	if err != nil {
		return err
	}
	out := productListResponse{Products: make([]productResponse, len(p.Products)), Next: p.Next}
	for i, v := range p.Products {
		out.Products[i] = fromProductView(v)
	}
	etag := `"` + strconv.Itoa(len(out.Products))
	for _, v := range p.Products {
		etag += "." + strings.Trim(v.ETag(), `"`)
	}
	return s.conditionalJSON(c, etag+`"`, "no-cache", out)
}

// waitForHeader honours "Consistent-After: <stream-id>@<version>" on list routes.
func (s *Server) waitForHeader(c echo.Context) error {
	h := c.Request().Header.Get("Consistent-After")
	if h == "" {
		return nil
	}
	stream, ver, ok := strings.Cut(h, "@")
	v, err := strconv.ParseInt(ver, 10, 64)
	if !ok || err != nil || v < 0 || stream == "" || len(stream) > 100 {
		return newProblem(http.StatusBadRequest, codeInvalidQuery, "Consistent-After must be <stream-id>@<version>, e.g. order-0193...@2")
	}
	return s.waitFor(c, stream, v)
}

// page reads ?limit= (1..100, default 20) and ?cursor=.
func page(c echo.Context) (int, string, error) {
	limit := 20
	if raw := c.QueryParam("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 100 {
			return 0, "", newProblem(http.StatusBadRequest, codeInvalidQuery, "limit must be an integer from 1 to 100").
				withField("limit", "not an integer from 1 to 100")
		}
		limit = n
	}
	cursor := c.QueryParam("cursor")
	if len(cursor) > 512 {
		return 0, "", newProblem(http.StatusBadRequest, codeInvalidQuery, "cursor is not one this API gave out").withField("cursor", "too long")
	}
	return limit, cursor, nil
}

// conditionalJSON answers 304 when If-None-Match matches etag, else 200 with body.
func (s *Server) conditionalJSON(c echo.Context, etag, cacheControl string, body any) error {
	h := c.Response().Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", cacheControl)
	if etagMatches(c.Request().Header.Get("If-None-Match"), etag) {
		return c.NoContent(http.StatusNotModified)
	}
	return c.JSON(http.StatusOK, body)
}
