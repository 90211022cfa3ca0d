package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/api"
	"github.com/ordo-platform/ordo/internal/ratelimit"
)

// Rate limits under a tenfold overload: each bucket of the default configuration (per
// user, per anonymous IP, logins and registrations per IP) gets ten times its burst at
// once, from concurrent clients over real connections. Every answer is what the route
// answers within the limit, or a 429 problem with a Retry-After of at least a second;
// never a 5xx. No more requests get through than the bucket holds plus what it refilled
// while the flood lasted, and refused commands store nothing.

type overloadRequest struct {
	method, path, token string
	body                any
}

type overloadResult struct {
	ok, limited int
	statuses    map[int]int
	elapsed     time.Duration
}

// flood sends n requests made by req from workers concurrent clients.
func flood(t *testing.T, base string, n, workers int, req func(i int) overloadRequest, allowed ...int) overloadResult {
	t.Helper()
	var (
		mu  sync.Mutex
		res = overloadResult{statuses: map[int]int{}}
		wg  sync.WaitGroup
	)
	jobs := make(chan int)
	client := &http.Client{Timeout: 30 * time.Second}
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				o := req(i)
				var body io.Reader
				if o.body != nil {
					b, _ := json.Marshal(o.body)
					body = bytes.NewReader(b)
				}
				r, err := http.NewRequestWithContext(context.Background(), o.method, base+o.path, body)
				if err != nil {
					t.Error(err)
					continue
				}
				if body != nil {
					r.Header.Set("Content-Type", "application/json")
				}
				if o.token != "" {
					r.Header.Set("Authorization", "Bearer "+o.token)
				}
				resp, err := client.Do(r)
				if err != nil {
					t.Errorf("%s %s: %v", o.method, o.path, err)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				mu.Lock()
				res.statuses[resp.StatusCode]++
				mu.Unlock()
				switch {
				case resp.StatusCode == http.StatusTooManyRequests:
					var p problemDoc
					if err := json.Unmarshal(b, &p); err != nil || p.Code != "rate_limited" ||
						resp.Header.Get("Content-Type") != "application/problem+json" {
						t.Errorf("%s %s: 429 that is not a rate_limited problem: %s", o.method, o.path, b)
					}
					secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
					if err != nil || secs < 1 {
						t.Errorf("%s %s: 429 with Retry-After %q", o.method, o.path, resp.Header.Get("Retry-After"))
					}
					mu.Lock()
					res.limited++
					mu.Unlock()
				case resp.StatusCode >= 500:
					t.Errorf("%s %s: %d %s", o.method, o.path, resp.StatusCode, b)
				default:
					expected := false
					for _, a := range allowed {
						expected = expected || a == resp.StatusCode
					}
					if !expected {
						t.Errorf("%s %s: %d %s (want one of %v or 429)", o.method, o.path, resp.StatusCode, b, allowed)
					}
					mu.Lock()
					res.ok++
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

// requireWithinBucket: what got through is at most the burst plus the refill during
// the flood (and one for rounding), and the rest was refused.
func requireWithinBucket(t *testing.T, name string, b ratelimit.Bucket, n int, res overloadResult) {
	t.Helper()
	bound := b.Burst + int(math.Ceil(float64(b.Rate)*res.elapsed.Seconds())) + 1
	t.Logf("%s: %d requests in %s: %d through (bound %d), %d limited; statuses %v",
		name, n, res.elapsed.Round(time.Millisecond), res.ok, bound, res.limited, res.statuses)
	require.Equal(t, n, res.ok+res.limited, "%s: every request answered", name)
	require.GreaterOrEqual(t, res.ok, 1, "%s: the bucket lets its burst through", name)
	require.LessOrEqual(t, res.ok, bound, "%s: more got through than the bucket holds", name)
	require.Positive(t, res.limited, "%s: the overload was refused", name)
}

func TestRateLimitsUnderTenfoldOverload(t *testing.T) {
	t.Parallel()
	cfg := ratelimit.DefaultConfig()
	w := newWorld(t, fullOpts{configure: func(c *api.Config) { c.RateLimit = cfg }})
	// The world was built through the router from 192.0.2.1 (httptest's address); the
	// flood comes over real connections from 127.0.0.1, whose buckets are full.
	srv := httptest.NewServer(w.Handler())
	t.Cleanup(srv.Close)
	const workers = 32
	ordersBefore := w.countOrders(t)

	t.Run("user bucket", func(t *testing.T) {
		n := 10 * cfg.User.Burst
		order := map[string]any{"items": []map[string]any{{"product_id": w.product.ID, "quantity": 1}}, "payment_token": "tok_visa"}
		var placed sync.Map
		res := flood(t, srv.URL, n, workers, func(i int) overloadRequest {
			switch i % 3 {
			case 0:
				placed.Store(i, true)
				return overloadRequest{method: http.MethodPost, path: "/v1/orders", token: w.other, body: order}
			case 1:
				return overloadRequest{method: http.MethodGet, path: "/v1/users/me", token: w.other}
			}
			return overloadRequest{method: http.MethodGet, path: "/v1/orders", token: w.other}
		}, http.StatusOK, http.StatusAccepted)
		requireWithinBucket(t, "user", cfg.User, n, res)
		// Refused orders stored nothing: the store holds one order per 202.
		require.Equal(t, ordersBefore+int64(res.statuses[http.StatusAccepted]), w.countOrders(t))
	})

	t.Run("anonymous IP bucket", func(t *testing.T) {
		n := 10 * cfg.IP.Burst
		res := flood(t, srv.URL, n, workers, func(i int) overloadRequest {
			switch i % 3 {
			case 0:
				return overloadRequest{method: http.MethodGet, path: "/v1/products/" + w.product.ID}
			case 1:
				// An invalid token is charged to the IP (and refused).
				return overloadRequest{method: http.MethodGet, path: "/v1/users/me", token: "not.a.token"}
			}
			return overloadRequest{method: http.MethodGet, path: "/v1/products"}
		}, http.StatusOK, http.StatusUnauthorized)
		requireWithinBucket(t, "ip", cfg.IP, n, res)
	})

	t.Run("login and registration bucket", func(t *testing.T) {
		n := 10 * cfg.Auth.Burst
		// Logins and registrations are charged to the anonymous IP bucket first, which
		// the flood above emptied: wait until it has refilled, or a fast machine may
		// finish this flood before the IP bucket lets a single request reach this one.
		time.Sleep(time.Duration(float64(cfg.IP.Burst) / float64(cfg.IP.Rate) * float64(time.Second)))
		before := w.snapshot(t)
		res := flood(t, srv.URL, n, workers, func(i int) overloadRequest {
			if i%2 == 0 {
				return overloadRequest{method: http.MethodPost, path: "/v1/auth/login",
					body: map[string]string{"email": "nobody@example.com", "password": "wrong password!"}}
			}
			// Registrations with an invalid e-mail: refused by validation when let through,
			// so that the snapshot below sees any that slipped past the limiter.
			return overloadRequest{method: http.MethodPost, path: "/v1/users",
				body: map[string]string{"email": "not an e-mail", "name": "Flood", "password": goodPassword}}
		}, http.StatusUnauthorized, http.StatusUnprocessableEntity, http.StatusBadRequest)
		// What reaches the login bucket is bounded by both buckets.
		requireWithinBucket(t, "auth", cfg.Auth, n, res)
		requireUnchanged(t, before, w.snapshot(t), "refused logins and registrations")
	})

	require.NotContains(t, w.logs.String(), `"status":5`, "no request answered 5xx")
}

// countOrders is the number of order streams in the store.
func (s *fullServer) countOrders(t *testing.T) int64 {
	t.Helper()
	var n int64
	require.NoError(t, s.pool.QueryRow(context.Background(),
		`SELECT count(DISTINCT stream_id) FROM events WHERE stream_id LIKE 'order-%'`).Scan(&n))
	return n
}
