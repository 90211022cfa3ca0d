package api

import (
	"errors"
	"maps"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ordo-platform/ordo/analytics"
	"github.com/ordo-platform/ordo/domain"
)

// handleSales: GET /v1/analytics/sales?from=&to=&granularity=hour|day (admin) → revenue
// and order counts per period and currency, from ClickHouse (see docs/analytics.md).
func (s *Server) handleSales(c echo.Context) error {
	if s.deps.Sales == nil {
		return newProblem(http.StatusServiceUnavailable, codeUnavailable, "analytics are not served by this process")
	}
	q, err := analytics.ParseSalesQuery(c.QueryParam("from"), c.QueryParam("to"), c.QueryParam("granularity"), time.Now())
	var derr *domain.Error
	if errors.As(err, &derr) && derr.Kind == domain.KindValidation {
		// Bad query parameters are 400 (the body-validation status, 422, is for bodies).
		p := newProblem(http.StatusBadRequest, derr.Code, derr.Detail)
		p.Fields = maps.Clone(derr.Fields)
		return p
	}
	if err != nil {
		return err
	}
	rep, err := s.deps.Sales.Handle(c.Request().Context(), q)
	if errors.Is(err, analytics.ErrUnavailable) {
		p := newProblem(http.StatusServiceUnavailable, codeUnavailable, "ClickHouse did not answer; retry shortly").withHeader("Retry-After", "5")
		p.cause = err
		return p
	}
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "private, max-age=10")
	return c.JSON(http.StatusOK, rep)
}
