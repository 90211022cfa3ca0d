package api_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/ordo-platform/ordo/api"
	"github.com/ordo-platform/ordo/internal/ratelimit"
)

func limited(cfg ratelimit.Config) func(*api.Config) {
	return func(c *api.Config) { c.RateLimit = cfg }
}

func requireRateLimited(t *testing.T, r response) {
	t.Helper()
	r.problem(t, http.StatusTooManyRequests, "rate_limited")
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, secs, 1)
}

func TestEleventhRapidLoginIsRateLimited(t *testing.T) {
	t.Parallel()
	s := newServer(t, limited(ratelimit.DefaultConfig()))
	login := map[string]string{"email": "nobody@example.com", "password": "wrong password!"}
	for i := 0; i < 10; i++ {
		s.do(t, http.MethodPost, "/v1/auth/login", login).problem(t, http.StatusUnauthorized, "invalid_credentials")
	}
	r := s.do(t, http.MethodPost, "/v1/auth/login", login)
	requireRateLimited(t, r)
	secs, _ := strconv.Atoi(r.Header.Get("Retry-After"))
	require.LessOrEqual(t, secs, 6, "one login per 6 s refills the bucket")

	// Buckets are per client IP: another address may still log in.
	s.do(t, http.MethodPost, "/v1/auth/login", login, remote("198.51.100.9:4000")).problem(t, http.StatusUnauthorized, "invalid_credentials")
	// Registration shares the stricter bucket.
	requireRateLimited(t, s.do(t, http.MethodPost, "/v1/users", map[string]string{"email": uniqueEmail("x"), "name": "X", "password": goodPassword}))
}

func TestUserAndIPBuckets(t *testing.T) {
	t.Parallel()
	cfg := ratelimit.DefaultConfig()
	cfg.User = ratelimit.Bucket{Rate: rate.Limit(0.1), Burst: 3}
	cfg.IP = ratelimit.Bucket{Rate: rate.Limit(0.1), Burst: 3}
	s := newServer(t, limited(cfg))
	token, _ := s.customer(t) // register + login: 2 from this IP's bucket

	for i := 0; i < 3; i++ {
		require.Equal(t, http.StatusOK, s.do(t, http.MethodGet, "/v1/users/me", nil, bearer(token)).Code)
	}
	r := s.do(t, http.MethodGet, "/v1/users/me", nil, bearer(token))
	requireRateLimited(t, r)
	require.Equal(t, "10", r.Header.Get("Retry-After"), "one token per 10 s")

	// Anonymous requests use the IP's bucket, which the user's requests did not touch.
	require.Equal(t, http.StatusNotFound, s.do(t, http.MethodGet, "/v1/products/00000000-0000-7000-8000-000000000001", nil).Code)
	requireRateLimited(t, s.do(t, http.MethodGet, "/v1/products/00000000-0000-7000-8000-000000000001", nil))
	// An invalid token is charged to the IP too.
	requireRateLimited(t, s.do(t, http.MethodGet, "/v1/users/me", nil, bearer("junk")))
	// Infrastructure routes are never limited.
	require.Equal(t, http.StatusOK, s.do(t, http.MethodGet, "/healthz", nil).Code)
}

func TestTrustedProxyForwardedFor(t *testing.T) {
	t.Parallel()
	cfg := ratelimit.DefaultConfig()
	cfg.IP = ratelimit.Bucket{Rate: rate.Limit(0.1), Burst: 1}
	s := newServer(t, limited(cfg), func(c *api.Config) {
		c.TrustedProxies = []netipPrefix{mustPrefix("10.0.0.0/8")}
	})
	get := func(remoteAddr, xff string) int {
		return s.do(t, http.MethodGet, "/v1/products/00000000-0000-7000-8000-000000000001", nil,
			remote(remoteAddr), header("X-Forwarded-For", xff)).Code
	}
	// Behind the trusted proxy, each client has its own bucket, whatever it claims
	// further left.
	require.Equal(t, http.StatusNotFound, get("10.0.0.1:1", "1.1.1.1, 203.0.113.1"))
	require.Equal(t, http.StatusNotFound, get("10.0.0.1:1", "203.0.113.2"))
	require.Equal(t, http.StatusTooManyRequests, get("10.0.0.1:1", "9.9.9.9, 203.0.113.1"))
	// An untrusted peer's X-Forwarded-For is ignored.
	require.Equal(t, http.StatusNotFound, get("192.0.2.50:1", "203.0.113.3"))
	require.Equal(t, http.StatusTooManyRequests, get("192.0.2.50:1", "203.0.113.4"))
}
