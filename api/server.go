package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ordo-platform/ordo/analytics"
	"github.com/ordo-platform/ordo/app"
	"github.com/ordo-platform/ordo/internal/auth"
	"github.com/ordo-platform/ordo/internal/health"
	"github.com/ordo-platform/ordo/internal/lifecycle"
	"github.com/ordo-platform/ordo/internal/ratelimit"
	"github.com/ordo-platform/ordo/projections"
	"github.com/ordo-platform/ordo/sagas"
)

// Config configures the HTTP edge.
type Config struct {
	// Addr is the listen address, host:port.
	Addr string
	// ShutdownTimeout bounds how long in-flight requests may finish on stop.
	ShutdownTimeout time.Duration
	// ReadyTimeout bounds each dependency check of /readyz.
	ReadyTimeout time.Duration
	// BodyLimit bounds request bodies, in bytes (1 MiB); larger ones get 413.
	BodyLimit int64
	// RequestTimeout bounds the work of one request (30 s).
	RequestTimeout time.Duration
	// RateLimit shapes the per-user, per-IP and login buckets (per replica).
	RateLimit ratelimit.Config
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is believed; the
	// client IP is then the right-most address in it that is not a trusted proxy. Empty:
	// the client IP is the connection's remote address.
	TrustedProxies []netip.Prefix
	// IdempotencyTTL is how long an Idempotency-Key answers with the first response (24 h).
	IdempotencyTTL time.Duration
	// CleanupInterval is how often expired idempotency keys and refresh tokens are deleted.
	CleanupInterval time.Duration
	// ReadYourWritesWait bounds how long a query asking for at least a version waits for
	// the read model (5 s).
	ReadYourWritesWait time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Addr:               "127.0.0.1:8080",
		ShutdownTimeout:    15 * time.Second,
		ReadyTimeout:       2 * time.Second,
		BodyLimit:          1 << 20,
		RequestTimeout:     30 * time.Second,
		RateLimit:          ratelimit.DefaultConfig(),
		IdempotencyTTL:     24 * time.Hour,
		CleanupInterval:    10 * time.Minute,
		ReadYourWritesWait: 5 * time.Second,
	}
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
	if c.BodyLimit < 1024 {
		errs = append(errs, fmt.Errorf("http body limit %d: want at least 1024 bytes", c.BodyLimit))
	}
	if c.RequestTimeout <= 0 {
		errs = append(errs, errors.New("http request timeout must be positive"))
	}
	if c.IdempotencyTTL < time.Minute {
		errs = append(errs, fmt.Errorf("ORDO_IDEMPOTENCY_TTL %s: want at least 1m", c.IdempotencyTTL))
	}
	if c.CleanupInterval <= 0 {
		errs = append(errs, errors.New("http cleanup interval must be positive"))
	}
	errs = append(errs, c.RateLimit.Validate())
	return errors.Join(errs...)
}

// Deps are what the edge talks to.
type Deps struct {
	Log *slog.Logger
	// Ready are the dependencies /readyz checks.
	Ready []health.Checker
	// Metrics serves /metrics (nil: not served).
	Metrics http.Handler
	// App runs the commands and queries of the /v1 routes.
	App *app.Env
	// Sessions issues and checks access and refresh tokens.
	Sessions *auth.Sessions
	// Passwords hashes and verifies passwords.
	Passwords app.Passwords
	// ReadModels answers the query routes from the projections (nil: by-id queries fold
	// the event stream and the list routes answer 503).
	ReadModels *projections.Queries
	// Notifications serves GET /v1/notifications/ws (nil: 503).
	Notifications http.Handler
	// Sagas answers the timeline and the admin saga routes (nil: 503).
	Sagas *sagas.Queries
	// Sales answers GET /v1/analytics/sales from ClickHouse (nil: 503).
	Sales *analytics.Sales
	// Admin serves the operator console's admin routes (admin_deps.go).
	Admin AdminDeps
}

// Server is the HTTP edge as a lifecycle role.
type Server struct {
	lifecycle.Stopper
	cfg  Config
	deps Deps
	log  *slog.Logger
	echo *echo.Echo

	limits struct{ user, ip, auth *ratelimit.Limiter }
	idem   *idempotency

	registerUser     *app.RegisterUser
	login            *app.Login
	getUser          *app.GetUser
	changePassword   *app.ChangePassword
	changeRole       *app.ChangeRole
	createProduct    *app.CreateProduct
	getProduct       *app.GetProduct
	adjustStock      *app.AdjustStock
	placeOrder       *app.PlaceOrder
	getOrder         *app.GetOrder
	cancelOrder      *app.CancelOrder
	readStreamEvents *app.ReadStreamEvents
}

// New builds the server and its routes. The /v1 routes need deps.App, deps.Sessions and
// deps.Passwords; without them only the infrastructure routes can answer.
func New(cfg Config, deps Deps) *Server {
	if deps.Log == nil {
		deps.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// Zero durations and limits (a Config literal that skipped DefaultConfig) take the
	// defaults rather than, say, expiring every request at once.
	def := DefaultConfig()
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = def.BodyLimit
	}
	if cfg.ReadYourWritesWait <= 0 {
		cfg.ReadYourWritesWait = def.ReadYourWritesWait
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = def.RequestTimeout
	}
	if cfg.IdempotencyTTL <= 0 {
		cfg.IdempotencyTTL = def.IdempotencyTTL
	}
	if cfg.CleanupInterval <= 0 {
		cfg.CleanupInterval = def.CleanupInterval
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	s := &Server{cfg: cfg, deps: deps, log: deps.Log, echo: e}
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = clientIP(cfg.TrustedProxies)
	if !cfg.RateLimit.Disabled {
		s.limits.user = ratelimit.New(cfg.RateLimit.User)
		s.limits.ip = ratelimit.New(cfg.RateLimit.IP)
		s.limits.auth = ratelimit.New(cfg.RateLimit.Auth)
	}
	if deps.App != nil {
		s.idem = newIdempotency(deps.App, cfg.IdempotencyTTL)
		s.registerUser = app.NewRegisterUser(deps.App, deps.Passwords)
		s.login = app.NewLogin(deps.App, deps.Passwords)
		s.getUser = app.NewGetUser(deps.App)
		s.changePassword = app.NewChangePassword(deps.App, deps.Passwords)
		s.changeRole = app.NewChangeRole(deps.App)
		s.createProduct = app.NewCreateProduct(deps.App)
		s.getProduct = app.NewGetProduct(deps.App)
		s.adjustStock = app.NewAdjustStock(deps.App)
		s.placeOrder = app.NewPlaceOrder(deps.App)
		s.getOrder = app.NewGetOrder(deps.App)
		s.cancelOrder = app.NewCancelOrder(deps.App)
		s.readStreamEvents = app.NewReadStreamEvents(deps.App)
	}
	s.routes()
	return s
}

// Handler returns the router, for tests that drive it without a listener.
func (s *Server) Handler() http.Handler { return s.echo }

// Routes lists the registered routes (method and echo path, ":id" style).
func (s *Server) Routes() []*echo.Route { return s.echo.Routes() }

// Name implements lifecycle.Role.
func (s *Server) Name() string { return "http" }

// Start listens on cfg.Addr and serves until stopped. It also deletes expired
// idempotency keys and refresh tokens every CleanupInterval.
func (s *Server) Start(ctx context.Context) error {
	ctx, done := s.Begin(ctx)
	defer done()
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	cleaned := make(chan struct{})
	go func() { defer close(cleaned); s.cleanupLoop(ctx) }()
	defer func() { <-cleaned }()
	s.log.Info("http listening", "addr", ln.Addr().String())
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

func (s *Server) cleanupLoop(ctx context.Context) {
	if s.deps.App == nil || s.deps.Sessions == nil {
		return
	}
	t := time.NewTicker(s.cfg.CleanupInterval)
	defer t.Stop()
	for {
		if err := s.Cleanup(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("http cleanup failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Cleanup deletes idempotency keys older than IdempotencyTTL and refresh tokens that
// expired more than a day ago. Every replica runs it; the deletes are idempotent.
func (s *Server) Cleanup(ctx context.Context) error {
	n, err := s.idem.deleteExpired(ctx)
	if err != nil {
		return err
	}
	m, err := s.deps.Sessions.DeleteExpired(ctx, 24*time.Hour)
	if err != nil {
		return err
	}
	if n+m > 0 {
		s.log.Info("http cleanup", "idempotency_keys", n, "refresh_tokens", m)
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
