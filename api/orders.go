package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ordo-platform/ordo/app"
	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
)

type placeOrderRequest struct {
	Items        []orderItemRequest `json:"items"`
	PaymentToken string             `json:"payment_token"`
}

type orderItemRequest struct {
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
}

type placeOrderResponse struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Version  int64  `json:"version"`
	Position int64  `json:"position,omitempty"`
}

type orderResponse struct {
	ID           string              `json:"id"`
	CustomerID   string              `json:"customer_id"`
	Status       string              `json:"status"`
	StatusReason *string             `json:"status_reason"`
	StatusDetail string              `json:"status_detail,omitempty"`
	Items        []orderItemResponse `json:"items"`
	TotalCents   int64               `json:"total_cents"`
	Currency     string              `json:"currency"`
	PlacedAt     time.Time           `json:"placed_at"`
	Version      int64               `json:"version"`
	Position     int64               `json:"position,omitempty"`
	UpdatedAt    time.Time           `json:"updated_at,omitzero"`
	ConfirmedAt  *time.Time          `json:"confirmed_at,omitempty"`
	CancelledAt  *time.Time          `json:"cancelled_at,omitempty"`
}

type orderItemResponse struct {
	ProductID      string `json:"product_id"`
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	UnitPriceCents int64  `json:"unit_price_cents"`
	Quantity       int64  `json:"quantity"`
	LineTotalCents int64  `json:"line_total_cents"`
}

func toOrder(v app.OrderView, position int64) orderResponse {
	out := orderResponse{
		ID: v.ID.String(), CustomerID: v.CustomerID.String(), Status: string(v.Status), StatusDetail: v.StatusDetail,
		Items: make([]orderItemResponse, len(v.Items)), TotalCents: v.Total.Cents, Currency: v.Total.Currency,
		PlacedAt: v.PlacedAt.UTC(), Version: v.Version, Position: position,
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

// handlePlaceOrder: POST /v1/orders → 202 {id, status: "pending"} + Location. The
// order saga confirms or cancels it later.
func (s *Server) handlePlaceOrder(c echo.Context) error {
	var req placeOrderRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	lines := make([]app.OrderLine, len(req.Items))
	var errs []error
	for i, it := range req.Items {
		id, err := domain.ParseID(it.ProductID)
		if err != nil {
			field := fmt.Sprintf("items[%d].product_id", i)
			errs = append(errs, domain.Invalid(domain.CodeInvalidID, field, field+" must be a product id (a UUID)"))
		}
		lines[i] = app.OrderLine{ProductID: id, Quantity: it.Quantity}
	}
	if err := domain.JoinValidation(errs...); err != nil {
		return err
	}
	v, res, err := s.placeOrder.Handle(c.Request().Context(), app.PlaceOrderCommand{
		Customer: actor(c), Items: lines, PaymentToken: req.PaymentToken,
	})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/orders/"+v.ID.String())
	return c.JSON(http.StatusAccepted, placeOrderResponse{ID: v.ID.String(), Status: string(v.Status), Version: v.Version, Position: res.Position})
}

// handleGetOrder: GET /v1/orders/{id} → the order, to its customer or an admin; 404 to
// anyone else.
func (s *Server) handleGetOrder(c echo.Context) error {
	id, err := pathID(c, "id", order.CodeOrderNotFound, "order")
	if err != nil {
		return err
	}
	if s.deps.ReadModels != nil {
		return s.readOrder(c, id)
	}
	v, err := s.getOrder.Handle(c.Request().Context(), app.GetOrderQuery{OrderID: id, Actor: actor(c)})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "private, no-cache")
	return c.JSON(http.StatusOK, toOrder(v, 0))
}

type cancelOrderRequest struct {
	Detail string `json:"detail"`
}

// handleCancelOrder: POST /v1/orders/{id}/cancel → 200 with the cancelled order. The
// body, {"detail": "..."}, is optional.
func (s *Server) handleCancelOrder(c echo.Context) error {
	id, err := pathID(c, "id", order.CodeOrderNotFound, "order")
	if err != nil {
		return err
	}
	var req cancelOrderRequest
	has, err := s.hasBody(c)
	if err != nil {
		return err
	}
	if has {
		if err := s.decode(c, &req); err != nil {
			return err
		}
	}
	v, res, err := s.cancelOrder.Handle(c.Request().Context(), app.CancelOrderCommand{OrderID: id, Actor: actor(c), Detail: req.Detail})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toOrder(v, res.Position))
}
