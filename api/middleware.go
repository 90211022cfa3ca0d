package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordo-platform/ordo/app"
	"github.com/ordo-platform/ordo/domain/user"
	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/internal/auth"
	"github.com/ordo-platform/ordo/internal/ratelimit"
	"github.com/ordo-platform/ordo/internal/telemetry"
)

// Keys of values kept in the echo context.
const (
	ctxRequestID = "ordo.request_id"
	ctxPrincipal = "ordo.principal"
	ctxBody      = "ordo.body"
	ctxTransient = "ordo.transient"
)

const headerRequestID = "X-Request-Id"

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// requestIDs gives every request an id (the caller's X-Request-Id when it is a sane
// token, else a new UUIDv7), echoes it in the response, and records it as the
// correlation id of the events the request causes.
func (s *Server) requestIDs(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		id := r.Header.Get(headerRequestID)
		if !requestIDPattern.MatchString(id) {
			id = eventstore.NewID().String()
		}
		c.Set(ctxRequestID, id)
		c.Response().Header().Set(headerRequestID, id)

		corr, err := uuid.Parse(id)
		if err != nil || len(id) != 36 {
			corr = eventstore.NewID()
		}
		// The traceparent of the events is the request's span (see trace), filled in by
		// app.Execute.
		md := eventstore.Metadata{CorrelationID: corr, CausationID: corr}
		c.SetRequest(r.WithContext(app.WithMetadata(r.Context(), md)))
		return next(c)
	}
}

var tracer = telemetry.Tracer("api")

// trace runs each request in a server span that continues the caller's W3C trace
// context; the commands' spans and the events' traceparent descend from it.
func (s *Server) trace(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		ctx := telemetry.Propagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, r.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("http.route", route)))
		defer span.End()
		c.SetRequest(r.WithContext(ctx))
		if err := next(c); err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		return nil
	}
}

func requestID(c echo.Context) string {
	id, _ := c.Get(ctxRequestID).(string)
	return id
}

// accessLog logs one line per request and counts it. It renders errors itself (through
// the error handler) so that it sees the final status. It never logs bodies, query
// strings or headers: they may hold passwords and tokens.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		took := time.Since(start)
		r, res := c.Request(), c.Response()
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		metricRequests.WithLabelValues(r.Method, route, strconv.Itoa(res.Status)).Inc()
		metricDuration.WithLabelValues(r.Method, route).Observe(took.Seconds())
		level := slog.LevelInfo
		if strings.HasPrefix(route, "/healthz") || strings.HasPrefix(route, "/readyz") || route == "/metrics" {
			level = slog.LevelDebug
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method), slog.String("route", route), slog.String("path", r.URL.Path),
			slog.Int("status", res.Status), slog.Int64("bytes", res.Size),
			slog.Float64("ms", float64(took.Microseconds())/1000),
			slog.String("ip", c.RealIP()), slog.String("request_id", requestID(c)),
		}
		if p, ok := principal(c); ok {
			attrs = append(attrs, slog.String("user_id", p.UserID.String()))
		}
		s.log.LogAttrs(r.Context(), level, "http request", attrs...)
		return nil
	}
}

// recoverPanics turns a panic in a handler into a 500 problem; the stack is logged, not
// shown.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if err, ok := r.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(r)
				}
				err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		return next(c)
	}
}

// deadline bounds the work of each request.
func (s *Server) deadline(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Path() == notificationsRoute {
			return next(c) // a WebSocket lives as long as the client stays
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.RequestTimeout)
		defer cancel()
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

// authenticate reads the caller from an Authorization: Bearer header, when there is one,
// and takes a token from the caller's bucket: the user's when the token is valid, the
// client IP's otherwise. A header that is present but not a valid token is refused with
// 401 even on routes that anyone may use: a client with a broken token should learn it.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		var (
			p       auth.Principal
			authErr error
		)
		values := c.Request().Header.Values(echo.HeaderAuthorization)
		switch {
		case len(values) > 1:
			authErr = fmt.Errorf("%w: more than one Authorization header", auth.ErrInvalidToken)
		case len(values) == 1:
			scheme, token, ok := strings.Cut(values[0], " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") {
				authErr = fmt.Errorf("%w: want the Bearer scheme", auth.ErrInvalidToken)
				break
			}
			p, authErr = s.deps.Sessions.Tokens().Authenticate(strings.TrimSpace(token))
		}
		if len(values) == 1 && authErr == nil {
			if err := s.limit(s.limits.user, "user", "u:"+p.UserID.String()); err != nil {
				return err
			}
			c.Set(ctxPrincipal, p)
			return next(c)
		}
		if err := s.limit(s.limits.ip, "ip", "ip:"+c.RealIP()); err != nil {
			return err
		}
		if authErr != nil {
			return authErr
		}
		return next(c)
	}
}

// authLimit takes a token from the client IP's login-and-registration bucket.
func (s *Server) authLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := s.limit(s.limits.auth, "auth", "auth:"+c.RealIP()); err != nil {
			return err
		}
		return next(c)
	}
}

func (s *Server) limit(l *ratelimit.Limiter, bucket, key string) error {
	if l == nil {
		return nil
	}
	ok, wait := l.Allow(key)
	if ok {
		return nil
	}
	metricRateLimited.WithLabelValues(bucket).Inc()
	secs := ratelimit.RetryAfter(wait)
	return newProblem(http.StatusTooManyRequests, codeRateLimited,
		fmt.Sprintf("too many requests; retry in %d s", secs)).withHeader("Retry-After", strconv.Itoa(secs))
}

// requireUser lets authenticated callers through, of any role.
func requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, ok := principal(c); !ok {
			return errAuthRequired()
		}
		return next(c)
	}
}

// requireAdmin lets admins through: 401 without a token, 403 with another role.
func requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, ok := principal(c)
		if !ok {
			return errAuthRequired()
		}
		if p.Role != user.RoleAdmin {
			return newProblem(http.StatusForbidden, user.CodeAdminRequired, "this action needs the admin role")
		}
		return next(c)
	}
}

func errAuthRequired() *Problem {
	return newProblem(http.StatusUnauthorized, codeAuthRequired, "this route needs an access token: Authorization: Bearer <token>").
		withHeader("WWW-Authenticate", `Bearer realm="ordo"`)
}

func principal(c echo.Context) (auth.Principal, bool) {
	p, ok := c.Get(ctxPrincipal).(auth.Principal)
	return p, ok
}

// actor is the caller as the app layer sees it (the zero Actor when anonymous).
func actor(c echo.Context) app.Actor {
	p, ok := principal(c)
	if !ok {
		return app.Actor{}
	}
	return app.Actor{UserID: p.UserID, Role: p.Role}
}
