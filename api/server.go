// Package api is Ordo's HTTP edge: an echo server that turns requests into commands and
// queries, authenticates callers, and maps every error to an RFC 9457 problem document
// in one place.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ordo-platform/ordo/internal/health"
	"github.com/ordo-platform/ordo/internal/lifecycle"
)

// Config configures the HTTP edge.
type Config struct {
	// Addr is the listen address, host:port.
	Addr string
	// ShutdownTimeout bounds how long in-flight requests may finish on stop.
	ShutdownTimeout time.Duration
	// ReadyTimeout bounds each dependency check of /readyz.
	ReadyTimeout time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Addr: "127.0.0.1:8080", ShutdownTimeout: 15 * time.Second, ReadyTimeout: 2 * time.Second}
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("ORDO_HTTP_ADDR %q: want host:port: %w", c.Addr, err))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("http shutdown timeout must be positive"))
	}
	if c.ReadyTimeout <= 0 {
		errs = append(errs, errors.New("http readiness timeout must be positive"))
	}
	return errors.Join(errs...)
}

// Deps are what the edge talks to.
type Deps struct {
	Log *slog.Logger
	// Ready are the dependencies /readyz checks.
	Ready []health.Checker
	// Metrics serves /metrics (nil: not served).
	Metrics http.Handler
}

// Server is the HTTP edge as a lifecycle role.
type Server struct {
	lifecycle.Stopper
	cfg  Config
	deps Deps
	echo *echo.Echo
}

// New builds the server and its routes.
func New(cfg Config, deps Deps) *Server {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	s := &Server{cfg: cfg, deps: deps, echo: e}
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	if deps.Metrics != nil {
		e.GET("/metrics", echo.WrapHandler(deps.Metrics))
	}
	return s
}

// Handler returns the router, for tests that drive it without a listener.
func (s *Server) Handler() http.Handler { return s.echo }

// Name implements lifecycle.Role.
func (s *Server) Name() string { return "http" }

// Start listens on cfg.Addr and serves until stopped.
func (s *Server) Start(ctx context.Context) error {
	ctx, done := s.Begin(ctx)
	defer done()
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.deps.Log.Info("http listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

type readiness struct {
	Status string          `json:"status"`
	Down   []string        `json:"down,omitempty"`
	Checks []health.Result `json:"checks"`
}

// readyz checks every dependency and names the ones that are down.
func (s *Server) readyz(c echo.Context) error {
	results := health.CheckAll(c.Request().Context(), s.cfg.ReadyTimeout, s.deps.Ready...)
	body := readiness{Status: "ready", Checks: results}
	code := http.StatusOK
	for _, r := range results {
		if !r.OK {
			code = http.StatusServiceUnavailable
			body.Status = "not ready"
			body.Down = append(body.Down, r.Name)
		}
	}
	return c.JSON(code, body)
}
