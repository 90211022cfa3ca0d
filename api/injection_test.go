package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/ordo-platform/ordo/api"
)

// Injection attempts in every string parameter change nothing: SQL, JSON, header CRLF,
// path traversal and unicode tricks go into every string member of every body, every
// path parameter of every route, every query parameter the spec declares, and the
// headers the edge reads. Each answer is a 4xx problem (never a 5xx), or a success that
// treats the value as the literal it is: the event stored holds exactly the bytes sent,
// a filter matches nothing, no table loses a row or disappears. A refused command leaves
// every table as it was.

var injections = []string{
	// SQL
	`' OR '1'='1`, `' OR 1=1 --`, `'; DROP TABLE events; --`, `"; DELETE FROM read_orders; --`,
	`1' UNION SELECT password_hash FROM users --`, `' AND pg_sleep(0) IS NULL --`, `\'; TRUNCATE refresh_tokens; --`,
	`$1`, `%' --`, `E'\x27'`, `0x27`,
	// JSON
	`","role":"admin`, `"}],"payment_token":"tok_visa","x":[{"`, `{"$gt":""}`, `__proto__`, `\u0000`, `\"`,
	// header CRLF
	"x\r\nSet-Cookie: injected=1", "%0d%0aX-Injected:%201", "x\nX-Injected: 1",
	// path traversal
	"../../../../etc/passwd", `..\..\..\windows\win.ini`, "..%2f..%2f..%2fetc%2fpasswd", "%2e%2e%2f%2e%2e%2f", "....//....//", "/etc/passwd",
	// unicode tricks
	"admin\u202e", "\u202etok_visa", "ad\u200bmin", "\u0430dmin", "\uff07 OR 1=1 --", "\ufeffx", "e\u0301", "\ufb01", "\U0001F600",
	// shell and templates, for good measure
	"$(id)", "`id`", "{{7*7}}", "${jndi:ldap://127.0.0.1/a}", "<script>alert(1)</script>",
}

// tableRows returns the row count of every table of a snapshot.
func tableRows(t *testing.T, snap snapshot) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for tbl, v := range snap {
		var n int64
		_, err := fmt.Sscanf(v, "%d rows", &n)
		require.NoError(t, err, "%s: %s", tbl, v)
		out[tbl] = n
	}
	return out
}

// requireNothingDestroyed: every table is still there with at least its rows.
func requireNothingDestroyed(t *testing.T, before, after map[string]int64, what string) {
	t.Helper()
	for tbl, n := range before {
		m, ok := after[tbl]
		require.True(t, ok, "%s: table %s is gone", what, tbl)
		require.GreaterOrEqual(t, m, n, "%s: table %s lost rows", what, tbl)
	}
}

// newEventsHold reports whether an event appended after position holds value as one of
// its string members, byte for byte.
func (s *fullServer) newEventsHold(t *testing.T, after int64, value string) bool {
	t.Helper()
	// From the table, not the store's reader: that one waits for the cluster's visible
	// bound, and this request's own transaction has committed.
	rows, err := s.pool.Query(context.Background(), `SELECT type, schema_version, payload FROM events WHERE position > $1`, after)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var (
			typ     string
			version int
			payload []byte
		)
		require.NoError(t, rows.Scan(&typ, &version, &payload))
		j, err := s.env.Codec.DecodeJSON(typ, version, payload)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(j, &m))
		for _, v := range m {
			if v == value {
				return true
			}
		}
	}
	require.NoError(t, rows.Err())
	return false
}

func (s *fullServer) maxPosition(t *testing.T) int64 {
	t.Helper()
	var p int64
	require.NoError(t, s.pool.QueryRow(context.Background(), `SELECT coalesce(max(position), 0) FROM events`).Scan(&p))
	return p
}

func TestInjectionInBodies(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fullOpts{kafka: true})
	bodies := w.bodyRoutes()
	for _, r := range routesOf(w.Server, http.MethodPost) {
		_, reads := bodies[r.Path]
		_, ignores := noBodyRoutes[r.Path]
		require.True(t, reads != ignores, "POST %s: add it to bodyRoutes (malformed_test.go) or noBodyRoutes", r.Path)
	}
	accepted := map[string]int{}
	for _, r := range routesOf(w.Server, http.MethodPost) {
		b, ok := bodies[r.Path]
		if !ok {
			continue
		}
		for i, inj := range injections {
			what := fmt.Sprintf("POST %s with %q", r.Path, inj)
			raw, err := json.Marshal(inj)
			require.NoError(t, err)
			body := []byte(fmt.Sprintf(b.strT, string(raw)))
			// Unique values stay unique: another e-mail address and SKU per request.
			body = []byte(strings.Replace(string(body), "m@example.com", fmt.Sprintf("inj-%d@example.com", i), 1))
			body = []byte(strings.Replace(string(body), "MAL-1", fmt.Sprintf("INJ-%d", i), 1))
			path := w.path(t, r.Path, nil)
			if r.Path == "/v1/orders/:id/cancel" {
				path = "/v1/orders/" + w.fullServer.order(t, w.owner, w.product.ID, 1).ID + "/cancel"
			}
			snap, pos := w.snapshot(t), w.maxPosition(t)
			res := w.do(t, http.MethodPost, path, body, w.auth(b.caller)...)
			requireNo5xx(t, res, what)
			if res.Code >= 400 {
				requireProblem(t, res, what)
				if r.Path != "/v1/orders/:id/cancel" { // its fresh order was placed above
					requireUnchanged(t, snap, w.snapshot(t), what)
				}
				continue
			}
			accepted[r.Path]++
			requireNothingDestroyed(t, tableRows(t, snap), tableRows(t, w.snapshot(t)), what)
			if r.Path == "/v1/admin/dlq/redrive" {
				continue // {"all":<string>} accepted would be a bug of its own; see below
			}
			if r.Path == "/v1/users/me/password" {
				// Stored only as a hash: the literal is the password now. Changing it back
				// with it as the current password proves that (and restores the world).
				back := w.do(t, http.MethodPost, path, map[string]string{"current_password": inj, "new_password": goodPassword},
					w.auth(b.caller)...)
				require.Equal(t, http.StatusNoContent, back.Code, "%s: the injected password is not the password: %s", what, back.Body)
				continue
			}
			require.True(t, w.newEventsHold(t, pos, inj), "%s: %d, but no new event holds the value as sent", what, res.Code)
		}
	}
	t.Logf("accepted as literals: %v", accepted)
	// Free-text members take anything printable: the injections in names, reasons and
	// details are stored as text.
	require.Positive(t, accepted["/v1/products"], "product names take free text")
	require.Zero(t, accepted["/v1/admin/dlq/redrive"], "all is a boolean")
	require.Zero(t, accepted["/v1/auth/login"]+accepted["/v1/auth/refresh"], "no injected password or token logs in")

	t.Run("look-alike e-mail addresses are other addresses", func(t *testing.T) {
		const original = "victim@example.com"
		w.register(t, original)
		for _, alias := range []string{"v\u0456ctim@example.com", "victim\u200b@example.com", "VICTIM@EXAMPLE.COM ", " victim@example.com",
			"victim@example.com\x00", "victim@example.com' --", "victim@ex\u0430mple.com", "\u202evictim@example.com"} {
			r := w.do(t, http.MethodPost, "/v1/auth/login", map[string]string{"email": alias, "password": goodPassword})
			if r.Code == http.StatusOK {
				// Only case and surrounding spaces may fold onto the original address.
				require.Equal(t, original, strings.ToLower(strings.TrimSpace(alias)), "logged in as %q with %q", original, alias)
				continue
			}
			require.GreaterOrEqual(t, r.Code, 400, "%q: %s", alias, r.Body)
			require.Less(t, r.Code, 500, "%q: %s", alias, r.Body)
		}
	})
}

// specQueryParams reads, for every operation of the spec, the names of its query
// parameters (references to components resolved).
func specQueryParams(t *testing.T) map[string][]string {
	t.Helper()
	type param struct {
		Ref  string `yaml:"$ref"`
		Name string `yaml:"name"`
		In   string `yaml:"in"`
	}
	var doc struct {
		Paths      map[string]map[string]yaml.Node `yaml:"paths"`
		Components struct {
			Parameters map[string]param `yaml:"parameters"`
		} `yaml:"components"`
	}
	require.NoError(t, yaml.Unmarshal(api.OpenAPI, &doc))
	out := map[string][]string{}
	for path, item := range doc.Paths {
		for method, node := range item {
			var op struct {
				Parameters []param `yaml:"parameters"`
			}
			if node.Decode(&op) != nil {
				continue
			}
			for _, p := range op.Parameters {
				if p.Ref != "" {
					p = doc.Components.Parameters[strings.TrimPrefix(p.Ref, "#/components/parameters/")]
				}
				if p.In == "query" {
					out[strings.ToUpper(method)+" "+path] = append(out[strings.ToUpper(method)+" "+path], p.Name)
				}
			}
		}
	}
	return out
}

func TestInjectionInQueryAndPathParameters(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fullOpts{kafka: true, clickhouse: true})
	query := specQueryParams(t)
	require.NotEmpty(t, query["GET /v1/admin/events"], "the spec declares the query parameters")
	param := regexp.MustCompile(`:([A-Za-z_]+)`)
	before := w.snapshot(t)

	t.Run("query parameters", func(t *testing.T) {
		n := 0
		for _, r := range routesOf(w.Server, http.MethodGet) {
			names := query["GET "+param.ReplaceAllString(r.Path, "{$1}")]
			for _, name := range names {
				for _, inj := range injections {
					caller := adminRole
					if strings.HasPrefix(r.Path, "/v1/orders") || r.Path == "/v1/notifications/ws" {
						caller = owner
					}
					q := url.Values{name: {inj}}.Encode()
					res := w.do(t, http.MethodGet, w.path(t, r.Path, nil)+"?"+q, nil, w.auth(caller)...)
					what := fmt.Sprintf("GET %s?%s", r.Path, q)
					requireNo5xx(t, res, what)
					n++
					if res.Code >= 400 {
						if r.Path != "/v1/notifications/ws" {
							requireProblem(t, res, what)
						}
						continue
					}
					// A filter given an injection matches nothing, literally.
					switch {
					case r.Path == "/v1/admin/events" && (name == "type" || name == "stream"):
						var page struct {
							Events []json.RawMessage `json:"events"`
						}
						res.decode(t, &page)
						require.Empty(t, page.Events, what)
					case r.Path == "/v1/admin/sagas" && name == "state":
						var page struct {
							Sagas []json.RawMessage `json:"sagas"`
						}
						res.decode(t, &page)
						require.Empty(t, page.Sagas, what)
					}
				}
			}
		}
		t.Logf("%d requests", n)
	})

	t.Run("path parameters", func(t *testing.T) {
		for _, r := range w.Routes() {
			if !strings.Contains(r.Path, "/:") {
				continue
			}
			for _, inj := range injections {
				caller := adminRole
				if strings.HasPrefix(r.Path, "/v1/orders") {
					caller = owner
				}
				var body any
				if r.Path == "/v1/products/:id/stock" {
					body = map[string]any{"delta": 1, "reason": "injection"}
				}
				snap := w.snapshot(t)
				res := w.do(t, r.Method, w.path(t, r.Path, &inj), body, w.auth(caller)...)
				what := fmt.Sprintf("%s %s with %q", r.Method, r.Path, inj)
				requireNo5xx(t, res, what)
				require.GreaterOrEqual(t, res.Code, 400, "%s: an injected id or name was found: %s", what, res.Body)
				if r.Path != "/v1/notifications/ws" {
					requireProblem(t, res, what)
				}
				if r.Method != http.MethodGet {
					requireUnchanged(t, snap, w.snapshot(t), what)
				}
			}
		}
		// Traversal in the raw path, not escaped: the router cleans nothing into a file.
		for _, p := range []string{"/console/../../../../etc/passwd", "/console/..%2f..%2f..%2fetc%2fpasswd", "/console/%2e%2e/%2e%2e/etc/passwd",
			"/console//etc/passwd", "/v1/products/../../etc/passwd", "/v1/orders/..%2f" + w.order.ID, "/openapi.yaml/../../etc/passwd"} {
			res := serve(w.Server, rawPathRequest(p, w.admin))
			requireNo5xx(t, res, p)
			require.NotContains(t, string(res.Body), "root:", "%s served a file of the host", p)
			if res.Code < 400 {
				require.True(t, slices.Contains([]int{http.StatusOK, http.StatusMovedPermanently}, res.Code), "%s: %d", p, res.Code)
			}
		}
	})

	// Queries and refused commands wrote nothing anywhere.
	requireUnchanged(t, before, w.snapshot(t), "injections in query and path parameters")

	t.Run("headers", func(t *testing.T) {
		order := map[string]any{"items": []map[string]any{{"product_id": w.product.ID, "quantity": 1}}, "payment_token": "tok_visa"}
		for _, inj := range injections {
			for _, h := range []string{"X-Request-Id", "Consistent-After", "If-None-Match", "Idempotency-Key", "Traceparent", "X-Forwarded-For"} {
				method, path, body := http.MethodGet, "/v1/orders/"+w.order.ID, any(nil)
				if h == "Idempotency-Key" {
					// A refused key changes nothing; an accepted one is a plain key.
					method, path, body = http.MethodPost, "/v1/orders", order
				}
				req := httptestRequest(t, method, path, body)
				req.Header.Set("Authorization", "Bearer "+w.owner)
				req.Header[h] = []string{inj} // as sent, CR and LF included
				snap := w.snapshot(t)
				res := serve(w.Server, req)
				what := fmt.Sprintf("%s: %q", h, inj)
				requireNo5xx(t, res, what)
				for k, vs := range res.Header {
					require.NotEqual(t, "Set-Cookie", k, what)
					require.NotEqual(t, "X-Injected", k, what)
					for _, v := range vs {
						require.NotContains(t, v, "\r", "%s: response header %s", what, k)
						require.NotContains(t, v, "\n", "%s: response header %s", what, k)
					}
				}
				if method == http.MethodPost && res.Code >= 400 {
					requireUnchanged(t, snap, w.snapshot(t), what)
				}
			}
		}
	})
}

// rawPathRequest is a GET of a path exactly as written (dot segments and escapes kept).
func rawPathRequest(path, token string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}

// httptestRequest is a request through the router with a JSON body when body is not nil.
func httptestRequest(t *testing.T, method, path string, body any) *http.Request {
	t.Helper()
	if body == nil {
		return httptest.NewRequest(method, path, nil)
	}
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req := httptest.NewRequest(method, path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	return req
}

// TestProductCursorWithNUL: a product cursor is base64 JSON the client can forge; one
// whose SKU holds an escaped NUL reached Postgres (which has no NUL in text) and came
// back as a 500. It is a bad cursor.
func TestProductCursorWithNUL(t *testing.T) {
	t.Parallel()
	s := newFullServer(t, fullOpts{})
	for _, c := range []string{`{"s":"\u0000","i":"0193b3b0-0000-7000-8000-000000000001"}`, `{"s":"MUG\u0000' OR 1=1 --"}`} {
		res := s.do(t, http.MethodGet, "/v1/products?cursor="+base64.RawURLEncoding.EncodeToString([]byte(c)), nil)
		require.Equal(t, http.StatusBadRequest, res.Code, "%s: %s", c, res.Body)
		requireProblem(t, res, c)
	}
}

// TestConsistentAfterNamesAFollowedStream: "Consistent-After: <stream>@<version>" with a
// stream that is not one, or of a type no read model follows, was a 500 (found by
// FuzzRequestHeaders with "0@1"). It is a 400 problem.
func TestConsistentAfterNamesAFollowedStream(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fullOpts{})
	for _, h := range []string{"0@1", "order@1", "user-" + w.ownerID + "@1", "order-" + w.order.ID + "x@1", "' OR 1=1 --@1"} {
		for _, path := range []string{"/v1/orders", "/v1/products"} {
			res := w.do(t, http.MethodGet, path, nil, bearer(w.owner), header("Consistent-After", h))
			require.Equal(t, http.StatusBadRequest, res.Code, "%s on %s: %s", h, path, res.Body)
			res.problem(t, http.StatusBadRequest, "invalid_query")
		}
	}
	// A followed stream still works.
	res := w.do(t, http.MethodGet, "/v1/orders", nil, bearer(w.owner), header("Consistent-After", "order-"+w.order.ID+"@1"))
	require.Equal(t, http.StatusOK, res.Code, "%s", res.Body)
}
