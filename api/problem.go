package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/ordo-platform/ordo/app"
	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/internal/auth"
	"github.com/ordo-platform/ordo/projections"
)

// problemTypeBase prefixes every problem type: the type of code "email_taken" is
// https://ordo.dev/problems/email_taken.
const problemTypeBase = "https://ordo.dev/problems/"

// Problem codes of the HTTP edge itself (the domain and app packages define theirs).
const (
	codeInternal             = "internal_error"
	codeUnavailable          = "service_unavailable"
	codeBadRequest           = "bad_request"
	codeInvalidJSON          = "invalid_json"
	codeUnknownField         = "unknown_field"
	codeDuplicateField       = "duplicate_field"
	codeInvalidQuery         = "invalid_query"
	codeNotFound             = "not_found"
	codeMethodNotAllowed     = "method_not_allowed"
	codePayloadTooLarge      = "payload_too_large"
	codeUnsupportedMedia     = "unsupported_media_type"
	codeRateLimited          = "rate_limited"
	codeAuthRequired         = "authentication_required"
	codeInvalidToken         = "invalid_token"
	codeTokenExpired         = "token_expired"
	codeInvalidCredentials   = "invalid_credentials"
	codeInvalidRefresh       = "invalid_refresh_token"
	codeRefreshReused        = "refresh_token_reused"
	codeConcurrentUpdate     = "concurrent_update"
	codeInvalidIdempotency   = "invalid_idempotency_key"
	codeIdempotencyKeyReused = "idempotency_key_reused"
)

// Problem is an RFC 9457 problem document. Handlers and middleware return it as an error
// for failures of the edge itself (a malformed body, a missing token); the error handler
// renders it, and every other error, in one place.
type Problem struct {
	Type      string            `json:"type"`
	Title     string            `json:"title"`
	Status    int               `json:"status"`
	Detail    string            `json:"detail,omitempty"`
	Code      string            `json:"code"`
	Instance  string            `json:"instance,omitempty"`
	Fields    map[string]string `json:"fields,omitempty"`
	RequestID string            `json:"request_id,omitempty"`

	// header holds response headers that go with the problem (Retry-After,
	// WWW-Authenticate).
	header http.Header
	// cause is the underlying error, logged for 5xx, never shown.
	cause error
}

func newProblem(status int, code, detail string) *Problem {
	return &Problem{Status: status, Code: code, Detail: detail}
}

// Error implements error.
func (p *Problem) Error() string {
	if p.cause != nil {
		return fmt.Sprintf("%d %s: %s: %v", p.Status, p.Code, p.Detail, p.cause)
	}
	return fmt.Sprintf("%d %s: %s", p.Status, p.Code, p.Detail)
}

// Unwrap returns the cause.
func (p *Problem) Unwrap() error { return p.cause }

func (p *Problem) withField(field, msg string) *Problem {
	if p.Fields == nil {
		p.Fields = map[string]string{}
	}
	p.Fields[field] = msg
	return p
}

func (p *Problem) withHeader(k, v string) *Problem {
	if p.header == nil {
		p.header = http.Header{}
	}
	p.header.Set(k, v)
	return p
}

// handleError is echo's HTTPErrorHandler: the one place where errors become HTTP
// responses.
func (s *Server) handleError(err error, c echo.Context) {
	p := s.toProblem(err)
	if p.Status >= 500 {
		s.log.ErrorContext(c.Request().Context(), "request failed", "request_id", requestID(c),
			"method", c.Request().Method, "route", c.Path(), "status", p.Status, "err", err)
	}
	if c.Response().Committed {
		return
	}
	p.Type = problemTypeBase + p.Code
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	p.Instance = c.Request().URL.Path
	p.RequestID = requestID(c)
	h := c.Response().Header()
	for k, vs := range p.header {
		h[k] = vs
	}
	h.Set(echo.HeaderContentType, "application/problem+json")
	h.Set("Cache-Control", "no-store")
	if transient(p) {
		c.Set(ctxTransient, true)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(p.Status)
		return
	}
	body, merr := json.Marshal(p)
	if merr != nil { // cannot happen with these field types
		body = []byte(`{"type":"` + problemTypeBase + codeInternal + `","status":500,"code":"` + codeInternal + `"}`)
	}
	c.Response().WriteHeader(p.Status)
	_, _ = c.Response().Write(body)
}

// toProblem maps an error to its problem document. 5xx problems say nothing of the
// cause; it is logged instead.
func (s *Server) toProblem(err error) *Problem {
	var (
		p      *Problem
		derr   *domain.Error
		herr   *echo.HTTPError
		behind *projections.NotCaughtUpError
	)
	switch {
	case errors.As(err, &p):
		c := *p
		c.Fields = maps.Clone(p.Fields)
		c.header = p.header.Clone()
		if c.Status >= 500 {
			c.Detail = internalDetail
		}
		return &c
	case errors.As(err, &derr):
		status := map[domain.ErrorKind]int{
			domain.KindValidation: http.StatusUnprocessableEntity,
			domain.KindConflict:   http.StatusConflict,
			domain.KindNotFound:   http.StatusNotFound,
			domain.KindForbidden:  http.StatusForbidden,
		}[derr.Kind]
		if status == 0 || derr.Code == "" {
			break
		}
		return &Problem{Status: status, Code: derr.Code, Detail: derr.Detail, Fields: maps.Clone(derr.Fields)}
	case errors.Is(err, app.ErrInvalidCredentials):
		return newProblem(http.StatusUnauthorized, codeInvalidCredentials, "the email address or the password is wrong")
	case errors.Is(err, auth.ErrTokenExpired):
		return newProblem(http.StatusUnauthorized, codeTokenExpired, "the access token has expired; refresh it").
			withHeader("WWW-Authenticate", `Bearer realm="ordo", error="invalid_token", error_description="The access token expired"`)
	case errors.Is(err, auth.ErrInvalidToken):
		return newProblem(http.StatusUnauthorized, codeInvalidToken, "the access token is invalid").
			withHeader("WWW-Authenticate", `Bearer realm="ordo", error="invalid_token"`)
	case errors.Is(err, auth.ErrRefreshTokenReused):
		return newProblem(http.StatusUnauthorized, codeRefreshReused,
			"this refresh token was already used; the session has been revoked for safety, log in again")
	case errors.Is(err, auth.ErrInvalidRefreshToken):
		return newProblem(http.StatusUnauthorized, codeInvalidRefresh, "the refresh token is invalid, expired or revoked; log in again")
	case errors.Is(err, projections.ErrBadCursor):
		return newProblem(http.StatusBadRequest, codeInvalidQuery, "cursor is not one this API gave out").withField("cursor", "invalid")
	case errors.Is(err, projections.ErrNotFollowed):
		return newProblem(http.StatusBadRequest, codeInvalidQuery,
			"Consistent-After and min_version name an order, product or inventory stream, e.g. order-0193...@2")
	case errors.As(err, &behind):
		return newProblem(http.StatusServiceUnavailable, codeNotCaughtUp,
			fmt.Sprintf("the read model has %s at version %d, not yet %d; retry shortly", behind.StreamID, behind.Have, behind.Want)).
			withHeader("Retry-After", "1")
	case errors.Is(err, eventstore.ErrVersionConflict):
		return newProblem(http.StatusConflict, codeConcurrentUpdate, "the resource was changed by another request at the same time; retry")
	case errors.As(err, &herr):
		return fromHTTPError(herr)
	case errors.Is(err, context.DeadlineExceeded):
		return &Problem{Status: http.StatusServiceUnavailable, Code: codeUnavailable, Detail: "the request took too long; retry later",
			header: http.Header{"Retry-After": []string{"1"}}}
	}
	return &Problem{Status: http.StatusInternalServerError, Code: codeInternal, Detail: internalDetail}
}

const internalDetail = "an internal error occurred; quote the request_id when reporting it"

func fromHTTPError(he *echo.HTTPError) *Problem {
	status := he.Code
	code := map[int]string{
		http.StatusBadRequest:            codeBadRequest,
		http.StatusNotFound:              codeNotFound,
		http.StatusMethodNotAllowed:      codeMethodNotAllowed,
		http.StatusRequestEntityTooLarge: codePayloadTooLarge,
		http.StatusUnsupportedMediaType:  codeUnsupportedMedia,
		http.StatusUnauthorized:          codeAuthRequired,
		http.StatusTooManyRequests:       codeRateLimited,
	}[status]
	if code == "" {
		if status < 400 || status > 599 {
			status = http.StatusInternalServerError
		}
		code = strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_")
		if code == "" {
			code = "http_" + strconv.Itoa(status)
		}
	}
	detail := ""
	if msg, ok := he.Message.(string); ok && status < 500 {
		detail = msg
	}
	if detail == "" || detail == http.StatusText(status) {
		detail = map[int]string{
			http.StatusNotFound:         "there is nothing at this path",
			http.StatusMethodNotAllowed: "this path does not accept this method",
		}[status]
	}
	if status >= 500 {
		detail = internalDetail
	}
	return &Problem{Status: status, Code: code, Detail: detail}
}

// transient reports problems that a retry may not repeat: they are not stored as the
// answer to an Idempotency-Key.
func transient(p *Problem) bool {
	return p.Status >= 500 || p.Status == http.StatusTooManyRequests || p.Code == codeConcurrentUpdate
}
