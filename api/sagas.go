package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/sagas"
)

// The order saga's routes: an order's timeline for its owner, and the admin view of
// sagas (above all the ones whose compensation failed) with a retry.

func (s *Server) sagaQueries() (*sagas.Queries, error) {
	if s.deps.Sagas == nil {
		return nil, newProblem(http.StatusServiceUnavailable, codeUnavailable, "the saga view is not served by this process")
	}
	return s.deps.Sagas, nil
}

// handleTimeline: GET /v1/orders/{id}/timeline → every event and saga step of the order.
func (s *Server) handleTimeline(c echo.Context) error {
	q, err := s.sagaQueries()
	if err != nil {
		return err
	}
	id, err := pathID(c, "id", order.CodeOrderNotFound, "order")
	if err != nil {
		return err
	}
	t, err := q.Timeline(c.Request().Context(), id)
	if err != nil {
		return err
	}
	a := actor(c)
	if t.CustomerID != a.UserID && !a.IsAdmin() {
		return domain.NotFound(order.CodeOrderNotFound, "order not found")
	}
	c.Response().Header().Set("Cache-Control", "private, no-cache")
	return c.JSON(http.StatusOK, t)
}

// handleListSagas: GET /v1/admin/sagas?state=&limit=&cursor= (admin).
func (s *Server) handleListSagas(c echo.Context) error {
	q, err := s.sagaQueries()
	if err != nil {
		return err
	}
	limit, cursor, err := page(c)
	if err != nil {
		return err
	}
	p, err := q.ListSagas(c.Request().Context(), sagas.ListFilter{State: sagas.State(c.QueryParam("state")), Limit: limit, Cursor: cursor})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

// handleGetSaga: GET /v1/admin/sagas/{id} (admin); the id is the order's.
func (s *Server) handleGetSaga(c echo.Context) error {
	q, err := s.sagaQueries()
	if err != nil {
		return err
	}
	id, err := pathID(c, "id", order.CodeOrderNotFound, "saga")
	if err != nil {
		return err
	}
	v, err := q.Saga(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// handleRetrySaga: POST /v1/admin/sagas/{id}/retry (admin) runs a failed compensation
// again once its cause is fixed.
func (s *Server) handleRetrySaga(c echo.Context) error {
	q, err := s.sagaQueries()
	if err != nil {
		return err
	}
	id, err := pathID(c, "id", order.CodeOrderNotFound, "saga")
	if err != nil {
		return err
	}
	v, err := q.RetryCompensation(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, v)
}
