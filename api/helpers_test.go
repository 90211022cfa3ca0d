package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/api"
	"github.com/ordo-platform/ordo/app"
	"github.com/ordo-platform/ordo/domain/user"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/internal/auth"
	"github.com/ordo-platform/ordo/internal/testenv"
)

// testSecret is the HS256 key of every test server.
var testSecret = []byte("test-secret-of-at-least-32-bytes-for-hs256!")

// cheap are argon2id parameters that keep tests fast.
var cheap = auth.PasswordParams{MemoryKiB: 64, Time: 1, Threads: 1}

// countingPasswords wraps the real hasher and counts verifications against the dummy
// hash, so that a test can see the unknown-user path run.
type countingPasswords struct {
	*auth.Hasher
	dummyVerifies atomic.Int64
}

func (p *countingPasswords) Verify(ctx context.Context, pw, encoded string) (bool, error) {
	if encoded == p.Dummy() {
		p.dummyVerifies.Add(1)
	}
	return p.Hasher.Verify(ctx, pw, encoded)
}

type testServer struct {
	*api.Server
	env       *app.Env
	passwords *countingPasswords
	logs      *testenv.LogBuffer
}

// newServer returns an API server on a fresh Postgres schema. Rate limiting is off
// unless configure turns it on.
// testCredentials returns the tokens (signed with testSecret) and the cheap password
// hasher every test server uses.
func testCredentials(t testing.TB) (*auth.Tokens, *countingPasswords) {
	t.Helper()
	hasher, err := auth.NewHasher(cheap)
	require.NoError(t, err)
	acfg := auth.DefaultConfig()
	acfg.Secret = testSecret
	tokens, err := auth.NewTokens(acfg, nil)
	require.NoError(t, err)
	return tokens, &countingPasswords{Hasher: hasher}
}

func newServer(t testing.TB, configure ...func(*api.Config)) *testServer {
	t.Helper()
	pool := testenv.PostgresSchema(t, postgres.Migrations(), api.Migrations())
	store, err := postgres.New(context.Background(), pool)
	require.NoError(t, err)
	t.Cleanup(store.Close)
	env := app.NewEnv(store)
	tokens, pw := testCredentials(t)
	cfg := api.DefaultConfig()
	cfg.RateLimit.Disabled = true
	for _, f := range configure {
		f(&cfg)
	}
	require.NoError(t, cfg.Validate())
	logs := &testenv.LogBuffer{}
	srv := api.New(cfg, api.Deps{
		Log:       slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		App:       env,
		Sessions:  auth.NewSessions(tokens, pool),
		Passwords: pw,
	})
	return &testServer{Server: srv, env: env, passwords: pw, logs: logs}
}

type response struct {
	Code   int
	Header http.Header
	Body   []byte
}

func (r response) decode(t testing.TB, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.Body, v), "body: %s", r.Body)
}

type problemDoc struct {
	Type      string            `json:"type"`
	Title     string            `json:"title"`
	Status    int               `json:"status"`
	Detail    string            `json:"detail"`
	Code      string            `json:"code"`
	Instance  string            `json:"instance"`
	Fields    map[string]string `json:"fields"`
	RequestID string            `json:"request_id"`
}

// problem checks that r is a problem document with the given status and code.
func (r response) problem(t testing.TB, status int, code string) problemDoc {
	t.Helper()
	require.Equal(t, status, r.Code, "body: %s", r.Body)
	require.Equal(t, "application/problem+json", r.Header.Get("Content-Type"))
	var p problemDoc
	r.decode(t, &p)
	require.Equal(t, code, p.Code, "detail: %s", p.Detail)
	require.Equal(t, "https://ordo.dev/problems/"+code, p.Type)
	require.Equal(t, status, p.Status)
	require.NotEmpty(t, p.Title)
	require.NotEmpty(t, p.RequestID)
	require.Equal(t, r.Header.Get("X-Request-Id"), p.RequestID)
	return p
}

type reqOpt func(*http.Request)

func bearer(token string) reqOpt {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

func header(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }

func remote(addr string) reqOpt { return func(r *http.Request) { r.RemoteAddr = addr } }

func idemKey(k string) reqOpt { return header("Idempotency-Key", k) }

// do sends a request through the router. body is sent as is when it is a string or
// []byte, marshalled to JSON otherwise; a body gets Content-Type: application/json
// unless an option changes it.
func (s *testServer) do(t testing.TB, method, path string, body any, opts ...reqOpt) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, o := range opts {
		o(req)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return response{Code: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

type userBody struct {
	ID           string `json:"id"`
	Email        string `json:"email"`
	Name         string `json:"name"`
	Role         string `json:"role"`
	RegisteredAt string `json:"registered_at"`
	Version      int64  `json:"version"`
	Position     int64  `json:"position"`
}

type tokensBody struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
}

const goodPassword = "correct horse battery staple"

var emailSeq atomic.Int64

func uniqueEmail(prefix string) string {
	return fmt.Sprintf("%s-%d@example.com", prefix, emailSeq.Add(1))
}

func (s *testServer) register(t testing.TB, email string) userBody {
	t.Helper()
	r := s.do(t, http.MethodPost, "/v1/users", map[string]string{"email": email, "name": "Test User", "password": goodPassword})
	require.Equal(t, http.StatusCreated, r.Code, "body: %s", r.Body)
	var u userBody
	r.decode(t, &u)
	return u
}

func (s *testServer) login(t testing.TB, email string) tokensBody {
	t.Helper()
	r := s.do(t, http.MethodPost, "/v1/auth/login", map[string]string{"email": email, "password": goodPassword})
	require.Equal(t, http.StatusOK, r.Code, "body: %s", r.Body)
	var tok tokensBody
	r.decode(t, &tok)
	return tok
}

// customer registers a customer and returns their access token and id.
func (s *testServer) customer(t testing.TB) (string, string) {
	t.Helper()
	email := uniqueEmail("customer")
	u := s.register(t, email)
	return s.login(t, email).AccessToken, u.ID
}

// admin creates an admin the way `ordo users add` does and returns their token.
func (s *testServer) admin(t testing.TB) string {
	t.Helper()
	email := uniqueEmail("admin")
	_, _, err := app.NewRegisterUser(s.env, s.passwords).Handle(context.Background(), app.RegisterUserCommand{
		Email: email, Name: "Admin", Password: goodPassword, Role: user.RoleAdmin,
	})
	require.NoError(t, err)
	return s.login(t, email).AccessToken
}

type productBody struct {
	ID             string `json:"id"`
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Description    string `json:"description"`
	PriceCents     int64  `json:"price_cents"`
	Currency       string `json:"currency"`
	Discontinued   bool   `json:"discontinued"`
	StockAvailable int64  `json:"stock_available"`
	Version        int64  `json:"version"`
	Position       int64  `json:"position"`
}

var skuSeq atomic.Int64

func (s *testServer) product(t testing.TB, admin string, priceCents int64, currency string) productBody {
	t.Helper()
	r := s.do(t, http.MethodPost, "/v1/products", map[string]any{
		"sku": fmt.Sprintf("SKU-%d", skuSeq.Add(1)), "name": "Blue mug", "description": "A mug.",
		"price_cents": priceCents, "currency": currency,
	}, bearer(admin))
	require.Equal(t, http.StatusCreated, r.Code, "body: %s", r.Body)
	var p productBody
	r.decode(t, &p)
	return p
}

func (s *testServer) stock(t testing.TB, admin, productID string, delta int64) {
	t.Helper()
	r := s.do(t, http.MethodPost, "/v1/products/"+productID+"/stock", map[string]any{"delta": delta, "reason": "delivery"}, bearer(admin))
	require.Equal(t, http.StatusOK, r.Code, "body: %s", r.Body)
}

type orderBody struct {
	ID           string  `json:"id"`
	CustomerID   string  `json:"customer_id"`
	Status       string  `json:"status"`
	StatusReason *string `json:"status_reason"`
	Items        []struct {
		ProductID      string `json:"product_id"`
		SKU            string `json:"sku"`
		Name           string `json:"name"`
		UnitPriceCents int64  `json:"unit_price_cents"`
		Quantity       int64  `json:"quantity"`
		LineTotalCents int64  `json:"line_total_cents"`
	} `json:"items"`
	TotalCents int64  `json:"total_cents"`
	Currency   string `json:"currency"`
	PlacedAt   string `json:"placed_at"`
	Version    int64  `json:"version"`
	Position   int64  `json:"position"`
}

func (s *testServer) order(t testing.TB, token, productID string, qty int64) orderBody {
	t.Helper()
	r := s.do(t, http.MethodPost, "/v1/orders", map[string]any{
		"items": []map[string]any{{"product_id": productID, "quantity": qty}}, "payment_token": "tok_visa",
	}, bearer(token))
	require.Equal(t, http.StatusAccepted, r.Code, "body: %s", r.Body)
	var o orderBody
	r.decode(t, &o)
	return o
}

// headPosition is the event store's head: tests compare it before and after a request
// that must change nothing.
func (s *testServer) headPosition(t testing.TB) int64 {
	t.Helper()
	var n int64
	require.NoError(t, s.env.Store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&n))
	return n
}

func newRecorder(h http.Handler, method, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}
