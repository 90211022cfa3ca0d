package api_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/api"
	"github.com/ordo-platform/ordo/projections"
	"github.com/ordo-platform/ordo/web"
)

// The fuzz targets of the edge beyond request bodies (fuzz_test.go): query parameters,
// path parameters and the headers the edge decodes, each sent through the real router
// of a server wired like `ordo serve` (read models, sagas, notifications, Kafka,
// ClickHouse). Whatever the bytes, the answer is never a 5xx (but the documented 503
// not_caught_up, see requireNo5xx) and never a panic; a refused command changes
// nothing. The committed corpora are in testdata/fuzz/<Name>; `make fuzz` runs every
// target of the repository for FUZZTIME each.

// fuzzCallers are the callers the fuzz targets pick from with a byte.
var fuzzCallers = []string{anonymous, owner, adminRole}

func fuzzCaller(b uint8) string { return fuzzCallers[int(b)%len(fuzzCallers)] }

// serve sends req through the router and returns the answer.
func serve(s *api.Server, req *http.Request) response {
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return response{Code: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// FuzzQueryParams sends GETs with a fuzzed query string (and a fuzzed Consistent-After
// header) to every GET route of the router, as anonymous, the owner of the world's order
// or an admin: limit, cursor (the read models' and the sagas'), min_version,
// min_stock_version, from_version, since, state, from/to/granularity, type/stream/after,
// access_token, and whatever else the bytes spell.
func FuzzQueryParams(f *testing.F) {
	w := newWorld(f, fullOpts{kafka: true, clickhouse: true})
	gets := routesOf(w.Server, http.MethodGet)
	for i := range gets {
		f.Add(uint8(i), uint8(2), "limit=1&cursor=", "")
	}
	f.Add(uint8(0), uint8(2), "min_version=1", "order-"+w.order.ID+"@1")
	f.Fuzz(func(t *testing.T, route, who uint8, query, consistentAfter string) {
		rt := gets[int(route)%len(gets)]
		req := httptest.NewRequest(http.MethodGet, w.path(t, rt.Path, nil), nil)
		req.URL.RawQuery = query
		if consistentAfter != "" && validHeaderValue(consistentAfter) {
			req.Header.Set("Consistent-After", consistentAfter)
		}
		caller := fuzzCaller(who)
		if tok := w.token(caller); tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		r := serve(w.Server, req)
		what := "GET " + rt.Path + "?" + query + " as " + caller
		requireNo5xx(t, r, what)
		if r.Code >= 400 && strings.HasPrefix(rt.Path, "/v1/") && rt.Path != "/v1/notifications/ws" {
			requireProblem(t, r, what)
		}
	})
}

// FuzzPathParams puts a fuzzed segment in place of every parameter of every route with
// one (ids, stream ids, projection names, console assets), any method. A refused command
// changes nothing in the store; the console serves nothing but its own files.
func FuzzPathParams(f *testing.F) {
	w := newWorld(f, fullOpts{})
	var routes []routeRef
	for _, r := range w.Routes() {
		if strings.Contains(r.Path, "/:") {
			routes = append(routes, routeRef{r.Method, r.Path})
		}
	}
	slices.SortFunc(routes, func(a, b routeRef) int { return strings.Compare(a.method+a.path, b.method+b.path) })
	for i, r := range routes {
		for _, seg := range []string{w.pathParams(r.path)[strings.SplitN(r.path[strings.Index(r.path, ":")+1:], "/", 2)[0]], "x"} {
			f.Add(uint8(i), uint8(2), seg)
		}
	}
	f.Fuzz(func(t *testing.T, route, who uint8, segment string) {
		rt := routes[int(route)%len(routes)]
		if rt.path == "/v1/admin/projections/:name/rebuild" && slices.Contains(projections.Names(), segment) {
			return // a real projection: the admin's rebuild would run in the background
		}
		var body any
		if rt.path == "/v1/products/:id/stock" {
			body = `{"delta":1,"reason":"fuzz"}`
		}
		caller := fuzzCaller(who)
		var before snapshot
		if rt.method != http.MethodGet {
			before = w.snapshot(t)
		}
		r := w.do(t, rt.method, w.path(t, rt.path, &segment), body, w.auth(caller)...)
		what := rt.method + " " + rt.path + " with " + segment + " as " + caller
		requireNo5xx(t, r, what)
		if r.Code >= 400 && rt.path != "/v1/notifications/ws" {
			requireProblem(t, r, what)
		}
		if rt.method != http.MethodGet && r.Code >= 400 {
			requireUnchanged(t, before, w.snapshot(t), what)
		}
		if rt.path == "/console/:asset" && r.Code == http.StatusOK {
			name := segment
			if name == "" { // "/console/": the index page
				name = web.Index
			}
			a, ok := web.Lookup(name)
			require.True(t, ok && slices.Contains(web.Names(), name), "the console served %q, not one of its files", name)
			require.Equal(t, a.Body, r.Body)
		}
	})
}

type routeRef struct{ method, path string }

var requestIDShape = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// FuzzRequestHeaders fuzzes the value of each header the edge decodes: Idempotency-Key
// (on a command), Consistent-After (by-id and list queries), X-Request-Id, Authorization,
// If-None-Match, X-Forwarded-For (behind a trusted proxy), traceparent and Content-Type.
func FuzzRequestHeaders(f *testing.F) {
	w := newWorld(f, fullOpts{configure: func(c *api.Config) {
		// httptest requests come from 192.0.2.1: make it a trusted proxy, so that
		// X-Forwarded-For is read.
		c.TrustedProxies = []netipPrefix{mustPrefix("192.0.2.0/24")}
	}})
	type target struct {
		header, method, path, body, caller string
	}
	order := `{"items":[{"product_id":"` + w.product.ID + `","quantity":1}],"payment_token":"tok_visa"}`
	targets := []target{
		{"Idempotency-Key", http.MethodPost, "/v1/orders", order, owner},
		{"Consistent-After", http.MethodGet, "/v1/orders", "", owner},
		{"Consistent-After", http.MethodGet, "/v1/orders/" + w.order.ID, "", owner},
		{"Consistent-After", http.MethodGet, "/v1/products", "", anonymous},
		{"X-Request-Id", http.MethodGet, "/v1/products/" + w.product.ID, "", anonymous},
		{"Authorization", http.MethodGet, "/v1/users/me", "", anonymous},
		{"If-None-Match", http.MethodGet, "/v1/products/" + w.product.ID, "", anonymous},
		{"X-Forwarded-For", http.MethodGet, "/v1/products", "", anonymous},
		{"Traceparent", http.MethodGet, "/v1/orders/" + w.order.ID, "", owner},
		{"Content-Type", http.MethodPost, "/v1/auth/login", `{"email":"nobody@example.com","password":"wrong password!"}`, anonymous},
	}
	seeds := []string{"0193b3b0-0000-7000-8000-000000000001", "order-" + w.order.ID + "@1", "Bearer " + w.owner, `"1.0"`, "203.0.113.9, 192.0.2.7",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "application/json; charset=utf-8", ""}
	for i := range targets {
		for _, s := range seeds {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, value string) {
		if !validHeaderValue(value) {
			return // net/http refuses it before any handler runs
		}
		tg := targets[int(which)%len(targets)]
		opts := w.auth(tg.caller)
		if tg.header == "Authorization" {
			opts = nil
		}
		opts = append(opts, header(tg.header, value))
		var body any
		if tg.body != "" {
			body = tg.body
		}
		var before snapshot
		if tg.method == http.MethodPost {
			before = w.snapshot(t)
		}
		r := w.do(t, tg.method, tg.path, body, opts...)
		what := tg.header + ": " + value + " on " + tg.method + " " + tg.path
		requireNo5xx(t, r, what)
		if r.Code >= 400 {
			requireProblem(t, r, what)
		}
		if tg.method == http.MethodPost && r.Code >= 400 {
			requireUnchanged(t, before, w.snapshot(t), what)
		}
		switch tg.header {
		case "X-Request-Id":
			id := r.Header.Get("X-Request-Id")
			require.Regexp(t, requestIDShape, id, "the request id is always a sane token")
			if requestIDShape.MatchString(value) {
				require.Equal(t, value, id)
			}
		case "Authorization":
			// Refused unless it is a Bearer token signed with the key. (When fuzzing, each
			// worker process builds a world of its own: a seed's token of the coordinator's
			// world is valid there, for a user that does not exist.)
			scheme, tok, _ := strings.Cut(value, " ")
			if _, err := w.tokens.Authenticate(strings.TrimSpace(tok)); err != nil || !strings.EqualFold(scheme, "Bearer") {
				require.Equal(t, http.StatusUnauthorized, r.Code, what)
			}
		case "Idempotency-Key":
			if r.Code == http.StatusBadRequest {
				requireProblem(t, r, what)
			}
		}
	})
}
