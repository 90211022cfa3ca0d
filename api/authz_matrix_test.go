package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/ordo-platform/ordo/api"
)

// The authorization matrix: every route of the router × every caller (anonymous, the
// customer who owns the world's order, another customer, an admin), each cell with its
// expected answer. The list of routes is the router's own, so a new route fails this
// test until it is given an access rule below; the rules are checked against the
// OpenAPI spec's security requirements too.

// access is who may call a route.
type access string

const (
	// infraAccess: outside /v1 (health, metrics, spec, console files): anyone.
	infraAccess access = "infra"
	// publicAccess: anyone, with or without a token.
	publicAccess access = "public"
	// userAccess: any authenticated caller; anonymous gets 401.
	userAccess access = "user"
	// ownerAccess: the order's owner or an admin; anonymous 401, another customer 404,
	// the same answer as an order that does not exist (no existence oracle).
	ownerAccess access = "owner or admin"
	// adminAccess: admins; anonymous 401, customers 403.
	adminAccess access = "admin"
)

// routeAccess is the rule of every route, as "METHOD /echo/path".
var routeAccess = map[string]access{
	"GET /healthz":        infraAccess,
	"GET /readyz":         infraAccess,
	"GET /metrics":        infraAccess,
	"GET /openapi.yaml":   infraAccess,
	"GET /console":        infraAccess,
	"GET /console/":       infraAccess,
	"GET /console/:asset": infraAccess,

	"POST /v1/users":        publicAccess,
	"POST /v1/auth/login":   publicAccess,
	"POST /v1/auth/refresh": publicAccess,
	"GET /v1/products":      publicAccess,
	"GET /v1/products/:id":  publicAccess,

	"POST /v1/auth/logout":       userAccess,
	"GET /v1/users/me":           userAccess,
	"POST /v1/users/me/password": userAccess,
	"POST /v1/orders":            userAccess,
	"GET /v1/orders":             userAccess,
	"GET /v1/notifications/ws":   userAccess,

	"GET /v1/orders/:id":          ownerAccess,
	"POST /v1/orders/:id/cancel":  ownerAccess,
	"GET /v1/orders/:id/timeline": ownerAccess,

	"POST /v1/products":                        adminAccess,
	"POST /v1/products/:id/stock":              adminAccess,
	"POST /v1/users/:id/role":                  adminAccess,
	"GET /v1/streams/:stream/events":           adminAccess,
	"GET /v1/admin/sagas":                      adminAccess,
	"GET /v1/admin/sagas/:id":                  adminAccess,
	"POST /v1/admin/sagas/:id/retry":           adminAccess,
	"GET /v1/analytics/sales":                  adminAccess,
	"GET /v1/admin/events":                     adminAccess,
	"GET /v1/admin/projections":                adminAccess,
	"POST /v1/admin/projections/:name/rebuild": adminAccess,
	"GET /v1/admin/dlq":                        adminAccess,
	"POST /v1/admin/dlq/redrive":               adminAccess,
	"GET /v1/admin/consumers":                  adminAccess,
}

// expectation of one cell: allowed (any status below 400), or refused with a status and
// a problem code.
type expectation struct {
	allowed bool
	status  int
	code    string
}

func (e expectation) String() string {
	if e.allowed {
		return "allowed"
	}
	return fmt.Sprintf("%d %s", e.status, e.code)
}

func expect(a access, caller string) expectation {
	ok := expectation{allowed: true}
	unauthenticated := expectation{status: http.StatusUnauthorized, code: "authentication_required"}
	switch a {
	case infraAccess, publicAccess:
		return ok
	case userAccess:
		if caller == anonymous {
			return unauthenticated
		}
		return ok
	case ownerAccess:
		switch caller {
		case anonymous:
			return unauthenticated
		case nonOwner:
			return expectation{status: http.StatusNotFound, code: "order_not_found"}
		}
		return ok
	case adminAccess:
		switch caller {
		case anonymous:
			return unauthenticated
		case adminRole:
			return ok
		}
		return expectation{status: http.StatusForbidden, code: "admin_required"}
	}
	panic("unknown access " + a)
}

// routeKeys lists the router's routes as "METHOD /path" (echo's not-found entries
// aside).
func routeKeys(s *api.Server) []string {
	var out []string
	for _, r := range s.Routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		out = append(out, r.Method+" "+r.Path)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestAuthorizationMatrixCoversTheRouterAndTheSpec(t *testing.T) {
	t.Parallel()
	s := api.New(api.DefaultConfig(), api.Deps{Metrics: http.NotFoundHandler()})
	routed := routeKeys(s)
	for _, k := range routed {
		_, ok := routeAccess[k]
		require.True(t, ok, "route %s has no rule in routeAccess (api/authz_matrix_test.go): say who may call it", k)
	}
	// (A rule for a route not routed yet is harmless: routes are added in the same tree
	// by others, and their rules can land first.)

	// The spec says the same: operations of /v1 routes other than the public ones
	// require the bearer scheme, the others none.
	var doc struct {
		Security []map[string][]string                `yaml:"security"`
		Paths    map[string]map[string]map[string]any `yaml:"paths"`
	}
	require.NoError(t, yaml.Unmarshal(api.OpenAPI, &doc))
	require.Empty(t, doc.Security, "the spec's default is no security; operations say when they need a token")
	param := regexp.MustCompile(`:([A-Za-z_]+)`)
	for _, k := range routed {
		a := routeAccess[k]
		method, path, _ := strings.Cut(k, " ")
		op, ok := doc.Paths[param.ReplaceAllString(path, "{$1}")][strings.ToLower(method)]
		require.True(t, ok, "%s is not in the spec", k)
		sec, _ := json.Marshal(op["security"])
		bearer := strings.Contains(string(sec), `"bearer"`)
		switch a {
		case infraAccess, publicAccess:
			require.False(t, bearer, "%s is %s but the spec asks for a bearer token", k, a)
		default:
			require.True(t, bearer, "%s is for %s but the spec does not ask for a bearer token", k, a)
		}
	}
}

func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fullOpts{kafka: true, clickhouse: true})
	const loginEmail = "matrix-login@example.com"
	w.register(t, loginEmail)
	routes := routeKeys(w.Server)
	for _, k := range routes {
		_, ok := routeAccess[k]
		require.True(t, ok, "route %s has no rule in routeAccess: say who may call it", k)
	}
	srv := httptest.NewServer(w.Handler())
	t.Cleanup(srv.Close)

	unknownOrder := w.do(t, http.MethodGet, "/v1/orders/"+uuid.NewString(), nil, bearer(w.other))
	unknownOrder.problem(t, http.StatusNotFound, "order_not_found")

	// request builds the cell's request: a fresh resource where the allowed call would
	// consume the world's (a cancelled order, a retried saga, a spent refresh token).
	request := func(t *testing.T, key, caller string) (method, path string, body any) {
		method, route, _ := strings.Cut(key, " ")
		path = w.path(t, route, nil)
		switch route {
		case "/v1/users":
			body = map[string]string{"email": uniqueEmail("matrix"), "name": "Matrix", "password": goodPassword}
		case "/v1/auth/login":
			body = map[string]string{"email": loginEmail, "password": goodPassword}
		case "/v1/auth/refresh":
			body = map[string]string{"refresh_token": w.login(t, loginEmail).RefreshToken}
		case "/v1/products":
			if method == http.MethodPost {
				body = map[string]any{"sku": fmt.Sprintf("MATRIX-%d", skuSeq.Add(1)), "name": "Matrix", "price_cents": 100, "currency": "EUR"}
			}
		case "/v1/products/:id/stock":
			body = map[string]any{"delta": 1, "reason": "matrix"}
		case "/v1/orders":
			if method == http.MethodPost {
				body = map[string]any{"items": []map[string]any{{"product_id": w.product.ID, "quantity": 1}}, "payment_token": "tok_visa"}
			}
		case "/v1/orders/:id/cancel":
			if expect(ownerAccess, caller).allowed {
				path = "/v1/orders/" + w.fullServer.order(t, w.owner, w.product.ID, 1).ID + "/cancel"
			}
		case "/v1/admin/sagas/:id/retry":
			if caller == adminRole {
				o := w.fullServer.order(t, w.owner, w.product.ID, 1)
				w.parkSaga(t, o.ID, w.ownerID)
				path = "/v1/admin/sagas/" + o.ID + "/retry"
			}
		case "/v1/admin/dlq/redrive":
			body = map[string]any{"all": true}
		case "/v1/users/me/password":
			// Each caller sets a new password once (their access tokens stay valid).
			body = map[string]string{"current_password": goodPassword, "new_password": goodPassword + " (matrix)"}
		case "/v1/users/:id/role":
			body = map[string]string{"role": "customer"} // the owner is a customer already
		}
		return method, path, body
	}

	// Callers in this order: every refused cell runs before the admin's, whose rebuild
	// of a projection goes on in the background and would change the read models under
	// a later "nothing changed" check.
	for _, caller := range callers { // anonymous, nonOwner, owner, adminRole
		for _, key := range routes {
			a := routeAccess[key]
			want := expect(a, caller)
			t.Run(caller+"/"+key, func(t *testing.T) {
				if key == "GET /v1/notifications/ws" {
					matrixWebSocket(t, srv.URL, w.token(caller), want)
					return
				}
				method, path, body := request(t, key, caller)
				var before snapshot
				if !want.allowed && method != http.MethodGet {
					before = w.snapshot(t)
				}
				r := w.do(t, method, path, body, w.auth(caller)...)
				what := fmt.Sprintf("%s %s as %s (%s): want %s", method, path, caller, a, want)
				if want.allowed {
					require.Less(t, r.Code, 400, "%s: %d %s", what, r.Code, r.Body)
					return
				}
				p := r.problem(t, want.status, want.code)
				if want.status == http.StatusUnauthorized {
					require.Equal(t, `Bearer realm="ordo"`, r.Header.Get("WWW-Authenticate"), what)
				}
				if want.status == http.StatusNotFound {
					// Indistinguishable from an order that does not exist.
					var unknown problemDoc
					unknownOrder.decode(t, &unknown)
					require.Equal(t, unknown.Title, p.Title, what)
					require.Equal(t, strings.ReplaceAll(unknown.Detail, unknownOrder.requestedID(), "ID"),
						strings.ReplaceAll(p.Detail, w.order.ID, "ID"), what)
				}
				if before != nil {
					requireUnchanged(t, before, w.snapshot(t), what)
				}
			})
		}
	}

	t.Run("lists show the caller's own orders only", func(t *testing.T) {
		var page struct {
			Orders []orderBody `json:"orders"`
		}
		w.do(t, http.MethodGet, "/v1/orders", nil, bearer(w.other)).decode(t, &page)
		for _, o := range page.Orders {
			require.NotEqual(t, w.ownerID, o.CustomerID, "another customer's list holds the owner's order %s", o.ID)
		}
		w.do(t, http.MethodGet, "/v1/orders?limit=100", nil, bearer(w.owner)).decode(t, &page)
		require.NotEmpty(t, page.Orders)
		for _, o := range page.Orders {
			require.Equal(t, w.ownerID, o.CustomerID)
		}
	})
}

// requestedID is the order id in the instance of a 404 problem about an order.
func (r response) requestedID() string {
	var p problemDoc
	_ = json.Unmarshal(r.Body, &p)
	return p.Instance[strings.LastIndex(p.Instance, "/")+1:]
}

// matrixWebSocket opens the notifications WebSocket as a client would: with a token the
// upgrade succeeds, without one it is refused with 401.
func matrixWebSocket(t *testing.T, base, token string, want expectation) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := &websocket.DialOptions{HTTPHeader: http.Header{}}
	if token != "" {
		opts.HTTPHeader.Set("Authorization", "Bearer "+token)
	}
	c, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/v1/notifications/ws", opts)
	if want.allowed {
		require.NoError(t, err)
		require.Equal(t, http.StatusSwitchingProtocols, res.StatusCode)
		_ = c.Close(websocket.StatusNormalClosure, "bye")
		return
	}
	require.Error(t, err)
	require.NotNil(t, res, "%v", err)
	require.Equal(t, want.status, res.StatusCode)
}
