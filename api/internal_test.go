package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/domain"
)

func TestClientIP(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	tests := []struct {
		name    string
		trusted []netip.Prefix
		remote  string
		xff     []string
		want    string
	}{
		{"no proxies configured: the peer", nil, "203.0.113.7:5000", []string{"1.2.3.4"}, "203.0.113.7"},
		{"untrusted peer: its header is ignored", trusted, "203.0.113.7:5000", []string{"1.2.3.4"}, "203.0.113.7"},
		{"trusted peer: right-most untrusted hop", trusted, "10.1.1.1:5000", []string{"6.6.6.6, 198.51.100.2"}, "198.51.100.2"},
		{"chain of trusted proxies", trusted, "10.1.1.1:5000", []string{"198.51.100.2, 10.2.2.2", "10.3.3.3"}, "198.51.100.2"},
		{"every hop trusted: the left-most", trusted, "10.1.1.1:5000", []string{"10.9.9.9, 10.2.2.2"}, "10.9.9.9"},
		{"malformed hop: stop at the last good one", trusted, "10.1.1.1:5000", []string{"198.51.100.2, garbage"}, "10.1.1.1"},
		{"trusted peer without header", trusted, "10.1.1.1:5000", nil, "10.1.1.1"},
		{"ipv6 with ports", trusted, "[2001:db8::1]:443", []string{"[2001:db8::2]:80, 2a00::5"}, "2a00::5"},
		{"ipv4-mapped ipv6 peer", nil, "[::ffff:192.0.2.1]:80", nil, "192.0.2.1"},
		{"unparsable peer", nil, "pipe", nil, "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			require.Equal(t, tt.want, clientIP(tt.trusted)(r))
		})
	}
}

func TestErrorsMapInOnePlace(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	s := New(DefaultConfig(), Deps{Log: slog.New(slog.NewJSONHandler(&logs, nil))})
	secret := errors.New("pq: password authentication failed for user ordo at 10.0.0.5")
	routes := map[string]func(echo.Context) error{
		"/panic":    func(echo.Context) error { panic("boom: " + secret.Error()) },
		"/internal": func(echo.Context) error { return fmt.Errorf("load: %w", secret) },
		"/wrapped": func(echo.Context) error {
			return fmt.Errorf("handle: %w", domain.Conflict("insufficient_stock", "only 3 left"))
		},
		"/nokind":    func(echo.Context) error { return &domain.Error{Code: "weird"} },
		"/validated": func(echo.Context) error { return domain.Invalid("invalid_email", "email", "bad email") },
	}
	for path, h := range routes {
		s.echo.GET(path, h)
	}
	tests := []struct {
		path   string
		status int
		code   string
	}{
		{"/panic", 500, "internal_error"},
		{"/internal", 500, "internal_error"},
		{"/wrapped", 409, "insufficient_stock"},
		{"/nokind", 500, "internal_error"},
		{"/validated", 422, "invalid_email"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
		require.Equal(t, tt.status, rec.Code, tt.path)
		require.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
		var p Problem
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
		require.Equal(t, tt.code, p.Code, tt.path)
		require.NotContains(t, rec.Body.String(), "password authentication", "5xx details stay in the log")
		if tt.status == 422 {
			require.Equal(t, map[string]string{"email": "bad email"}, p.Fields)
		}
	}
	require.Contains(t, logs.String(), "password authentication failed", "the full error is logged")
	require.Contains(t, logs.String(), "goroutine", "with the panic's stack")
}
