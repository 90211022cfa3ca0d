package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// routes registers every route. The table mirrors DESIGN.md's "HTTP API (v1)".
func (s *Server) routes() {
	e := s.echo
	e.Use(s.requestIDs, s.trace, s.accessLog, s.recoverPanics, s.deadline)

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	if s.deps.Metrics != nil {
		e.GET("/metrics", echo.WrapHandler(s.deps.Metrics))
	}
	e.GET("/openapi.yaml", s.openAPI)

	// Anyone.
	s.v1(http.MethodPost, "/users", s.handleRegisterUser, s.authLimit, s.idempotent)
	s.v1(http.MethodPost, "/auth/login", s.handleLogin, s.authLimit)
	s.v1(http.MethodPost, "/auth/refresh", s.handleRefresh)
	s.v1(http.MethodGet, "/products", s.handleListProducts)
	s.v1(http.MethodGet, "/products/:id", s.handleGetProduct)
	// Users.
	s.v1(http.MethodPost, "/auth/logout", s.handleLogout, requireUser)
	s.v1(http.MethodGet, "/users/me", s.handleMe, requireUser)
	s.v1(http.MethodPost, "/users/me/password", s.handleChangePassword, requireUser, s.authLimit)
	s.v1(http.MethodPost, "/orders", s.handlePlaceOrder, requireUser, s.idempotent)
	s.v1(http.MethodGet, "/orders", s.handleListOrders, requireUser)
	s.v1(http.MethodGet, "/orders/:id", s.handleGetOrder, requireUser)
	s.v1(http.MethodPost, "/orders/:id/cancel", s.handleCancelOrder, requireUser, s.idempotent)
	s.v1(http.MethodGet, "/orders/:id/timeline", s.handleTimeline, requireUser)
	// Admins.
	s.v1(http.MethodPost, "/products", s.handleCreateProduct, requireAdmin, s.idempotent)
	s.v1(http.MethodPost, "/products/:id/stock", s.handleAdjustStock, requireAdmin, s.idempotent)
	s.v1(http.MethodPost, "/users/:id/role", s.handleChangeRole, requireAdmin)
	s.v1(http.MethodGet, "/streams/:stream/events", s.handleStreamEvents, requireAdmin)
	s.v1(http.MethodGet, "/admin/sagas", s.handleListSagas, requireAdmin)
	s.v1(http.MethodGet, "/admin/sagas/:id", s.handleGetSaga, requireAdmin)
	s.v1(http.MethodPost, "/admin/sagas/:id/retry", s.handleRetrySaga, requireAdmin)
	s.v1(http.MethodGet, "/analytics/sales", s.handleSales, requireAdmin)
	// The operator console's admin routes (admin_*.go) and its static files (console.go).
	s.v1(http.MethodGet, "/admin/events", s.handleAdminEvents, requireAdmin)
	s.v1(http.MethodGet, "/admin/projections", s.handleAdminProjections, requireAdmin)
	s.v1(http.MethodPost, "/admin/projections/:name/rebuild", s.handleAdminRebuild, requireAdmin)
	s.v1(http.MethodGet, "/admin/dlq", s.handleAdminDLQ, requireAdmin)
	s.v1(http.MethodPost, "/admin/dlq/redrive", s.handleAdminRedrive, requireAdmin)
	s.v1(http.MethodGet, "/admin/consumers", s.handleAdminConsumers, requireAdmin)
	s.consoleRoutes()
	// The WebSocket authenticates itself (header or access_token parameter: browsers
	// cannot set headers on a WebSocket) and is not rate limited per message.
	e.GET(notificationsRoute, s.handleNotifications)
}

const notificationsRoute = "/v1/notifications/ws"

// handleNotifications: GET /v1/notifications/ws, the caller's order status changes.
func (s *Server) handleNotifications(c echo.Context) error {
	if s.deps.Notifications == nil {
		return newProblem(http.StatusServiceUnavailable, codeUnavailable, "notifications are not served by this process")
	}
	s.deps.Notifications.ServeHTTP(c.Response(), c.Request())
	return nil
}

// v1 registers an API route under /v1: every one authenticates the caller when a token
// is sent and takes from the caller's rate-limit bucket before its own middleware.
func (s *Server) v1(method, path string, h echo.HandlerFunc, mw ...echo.MiddlewareFunc) {
	s.echo.Add(method, "/v1"+path, h, append([]echo.MiddlewareFunc{s.authenticate}, mw...)...)
}
