package api_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/api"
)

func (s *testServer) countStreams(t *testing.T, streamType string) int {
	t.Helper()
	var n int
	require.NoError(t, s.env.Store.Pool().QueryRow(context.Background(),
		`SELECT count(DISTINCT stream_id) FROM events WHERE stream_type = $1`, streamType).Scan(&n))
	return n
}

func TestIdempotencyKeyReplaysTheFirstResponse(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	admin := s.admin(t)
	customer, _ := s.customer(t)
	p := s.product(t, admin, 300, "EUR")
	body := `{"items":[{"product_id":"` + p.ID + `","quantity":1}],"payment_token":"tok_visa"}`
	key := uuid.NewString()

	first := s.do(t, http.MethodPost, "/v1/orders", body, bearer(customer), idemKey(key))
	require.Equal(t, http.StatusAccepted, first.Code, "body: %s", first.Body)
	require.Empty(t, first.Header.Get("Idempotent-Replayed"))

	again := s.do(t, http.MethodPost, "/v1/orders", body, bearer(customer), idemKey(key))
	require.Equal(t, first.Code, again.Code)
	require.Equal(t, string(first.Body), string(again.Body))
	require.Equal(t, first.Header.Get("Location"), again.Header.Get("Location"))
	require.Equal(t, "application/json", again.Header.Get("Content-Type"))
	require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	require.Equal(t, 1, s.countStreams(t, "order"), "placed once")

	// Same key, other body (or other path): 422, nothing runs.
	other := strings.Replace(body, `"quantity":1`, `"quantity":2`, 1)
	s.do(t, http.MethodPost, "/v1/orders", other, bearer(customer), idemKey(key)).problem(t, http.StatusUnprocessableEntity, "idempotency_key_reused")
	require.Equal(t, 1, s.countStreams(t, "order"))

	// Keys belong to their caller: another user's identical key is another request.
	bob, _ := s.customer(t)
	require.Equal(t, http.StatusAccepted, s.do(t, http.MethodPost, "/v1/orders", body, bearer(bob), idemKey(key)).Code)
	require.Equal(t, 2, s.countStreams(t, "order"))

	// A validation failure is an answer too: replayed, not re-run.
	bad := `{"items":[],"payment_token":"tok_visa"}`
	k2 := uuid.NewString()
	r1 := s.do(t, http.MethodPost, "/v1/orders", bad, bearer(customer), idemKey(k2))
	r1.problem(t, http.StatusUnprocessableEntity, "no_items")
	r2 := s.do(t, http.MethodPost, "/v1/orders", bad, bearer(customer), idemKey(k2))
	require.Equal(t, "true", r2.Header.Get("Idempotent-Replayed"))
	require.Equal(t, string(r1.Body), string(r2.Body))

	// Cancel: the same key on another order's path is a reuse.
	o1 := s.order(t, customer, p.ID, 1)
	o2 := s.order(t, customer, p.ID, 1)
	k3 := uuid.NewString()
	require.Equal(t, http.StatusOK, s.do(t, http.MethodPost, "/v1/orders/"+o1.ID+"/cancel", nil, bearer(customer), idemKey(k3)).Code)
	s.do(t, http.MethodPost, "/v1/orders/"+o2.ID+"/cancel", nil, bearer(customer), idemKey(k3)).problem(t, 422, "idempotency_key_reused")
}

func TestIdempotencyOnEveryCommandRoute(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	admin := s.admin(t)
	p := s.product(t, admin, 300, "EUR")
	tests := []struct {
		name, path, body, token string
		status                  int
	}{
		{"register", "/v1/users", `{"email":"` + uniqueEmail("idem") + `","name":"I","password":"` + goodPassword + `"}`, "", 201},
		{"create product", "/v1/products", `{"sku":"IDEM-1","name":"x","price_cents":5,"currency":"EUR"}`, admin, 201},
		{"adjust stock", "/v1/products/" + p.ID + "/stock", `{"delta":5,"reason":"delivery"}`, admin, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := uuid.NewString()
			var opts []reqOpt
			if tt.token != "" {
				opts = append(opts, bearer(tt.token))
			}
			before := s.headPosition(t)
			first := s.do(t, http.MethodPost, tt.path, tt.body, append(opts, idemKey(key))...)
			require.Equal(t, tt.status, first.Code, "body: %s", first.Body)
			mid := s.headPosition(t)
			require.Equal(t, before+1, mid)
			again := s.do(t, http.MethodPost, tt.path, tt.body, append(opts, idemKey(key))...)
			require.Equal(t, tt.status, again.Code)
			require.Equal(t, string(first.Body), string(again.Body))
			require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
			require.Equal(t, mid, s.headPosition(t), "the replay appended nothing")
		})
	}
}

func TestIdempotencyKeyValidation(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	customer, _ := s.customer(t)
	for name, key := range map[string]string{"empty": "", "too long": strings.Repeat("k", 256), "control character": "a\tb"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s.do(t, http.MethodPost, "/v1/orders", `{"items":[],"payment_token":"tok_visa"}`, bearer(customer),
				func(r *http.Request) { r.Header["Idempotency-Key"] = []string{key} }).problem(t, 400, "invalid_idempotency_key")
		})
	}
	t.Run("255 characters is fine", func(t *testing.T) {
		t.Parallel()
		s.do(t, http.MethodPost, "/v1/orders", `{"items":[],"payment_token":"tok_visa"}`, bearer(customer), idemKey(strings.Repeat("k", 255))).
			problem(t, 422, "no_items")
	})
}

func TestConcurrentDuplicatesRunOnce(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	admin := s.admin(t)
	customer, _ := s.customer(t)
	p := s.product(t, admin, 300, "EUR")
	body := `{"items":[{"product_id":"` + p.ID + `","quantity":1}],"payment_token":"tok_visa"}`
	key := uuid.NewString()

	const n = 12
	results := make([]response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i] = s.do(t, http.MethodPost, "/v1/orders", body, bearer(customer), idemKey(key)) })
	}
	wg.Wait()
	replayed := 0
	for _, r := range results {
		require.Equal(t, http.StatusAccepted, r.Code, "body: %s", r.Body)
		require.Equal(t, string(results[0].Body), string(r.Body), "every duplicate gets the one answer")
		if r.Header.Get("Idempotent-Replayed") == "true" {
			replayed++
		}
	}
	require.Equal(t, n-1, replayed)
	require.Equal(t, 1, s.countStreams(t, "order"), "one execution")
}

func TestConcurrentIdempotentCommandsOnOneStream(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	admin := s.admin(t)
	p := s.product(t, admin, 300, "EUR")
	const n = 10
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Go(func() {
			r := s.do(t, http.MethodPost, "/v1/products/"+p.ID+"/stock", `{"delta":1,"reason":"delivery"}`, bearer(admin), idemKey(uuid.NewString()))
			codes[i] = r.Code
		})
	}
	wg.Wait()
	ok := 0
	for _, c := range codes {
		require.Contains(t, []int{http.StatusOK, http.StatusConflict}, c, "a lost race is a retryable 409, never a 5xx")
		if c == http.StatusOK {
			ok++
		}
	}
	r := s.do(t, http.MethodGet, "/v1/products/"+p.ID, nil)
	var got productBody
	r.decode(t, &got)
	t.Logf("%d of %d applied, the others lost races: %v", ok, n, codes)
	require.EqualValues(t, ok, got.StockAvailable, "every 200 was applied exactly once")
	require.Positive(t, ok)
}

func TestCleanupDeletesExpiredKeys(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *api.Config) { c.IdempotencyTTL = api.DefaultConfig().IdempotencyTTL })
	customer, _ := s.customer(t)
	key := uuid.NewString()
	s.do(t, http.MethodPost, "/v1/orders", `{"items":[],"payment_token":"tok_visa"}`, bearer(customer), idemKey(key))
	ctx := context.Background()
	pool := s.env.Store.Pool()
	_, err := pool.Exec(ctx, `UPDATE idempotency_keys SET created_at = now() - interval '25 hours'`)
	require.NoError(t, err)
	// An expired key is treated as new ...
	r := s.do(t, http.MethodPost, "/v1/orders", `{"items":[],"payment_token":"tok_visa"}`, bearer(customer), idemKey(key))
	require.Empty(t, r.Header.Get("Idempotent-Replayed"))
	// ... and the periodic cleanup deletes the expired rows.
	_, err = pool.Exec(ctx, `UPDATE idempotency_keys SET created_at = now() - interval '25 hours'`)
	require.NoError(t, err)
	require.NoError(t, s.Cleanup(ctx))
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM idempotency_keys`).Scan(&n))
	require.Zero(t, n)
}
