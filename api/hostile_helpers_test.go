package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/analytics"
	"github.com/ordo-platform/ordo/api"
	"github.com/ordo-platform/ordo/app"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/internal/auth"
	"github.com/ordo-platform/ordo/internal/metrics"
	"github.com/ordo-platform/ordo/internal/testenv"
	"github.com/ordo-platform/ordo/notify"
	"github.com/ordo-platform/ordo/projections"
	"github.com/ordo-platform/ordo/sagas"
)

// The hostile-input suites (fuzzing, malformed bodies, the authorization matrix,
// overload, secrets in logs, injection) run against a server wired like `ordo serve`:
// every dependency of every route is real, so that a route answering 503 because a
// dependency is missing cannot hide a 5xx that input provokes.

// fullServer is a test server with every dependency `ordo serve` gives the router: the
// event store, the edge's tables, the read models, the saga queries and tables, the
// notification hub, Prometheus metrics, and optionally Kafka (the console's dead-letter
// and consumer routes) and ClickHouse (the sales route).
type fullServer struct {
	*testServer
	pool  *pgxpool.Pool
	store *postgres.Store
	hub   *notify.Hub
	// tokens checks access tokens as the server does (the hub authenticates with it).
	tokens *auth.Tokens
}

type fullOpts struct {
	// kafka gives the console's DLQ and consumer routes real topics on the broker.
	kafka bool
	// clickhouse gives the sales route a database of its own.
	clickhouse bool
	// configure changes the HTTP configuration (rate limits are off unless it turns them on).
	configure func(*api.Config)
}

func newFullServer(t testing.TB, o fullOpts) *fullServer {
	t.Helper()
	ctx := context.Background()
	pool := testenv.PostgresSchema(t, postgres.Migrations(), api.Migrations(), projections.Migrations(),
		sagas.Migrations(), notify.Migrations())
	require.NoError(t, projections.Setup(ctx, pool))
	store, err := postgres.New(ctx, pool)
	require.NoError(t, err)
	t.Cleanup(store.Close)
	env := app.NewEnv(store)
	tokens, pw := testCredentials(t)
	cfg := api.DefaultConfig()
	cfg.RateLimit.Disabled = true
	// Read-your-writes waits are bounded by this; a fuzzed min_version far ahead must not
	// cost seconds per input.
	cfg.ReadYourWritesWait = 50 * time.Millisecond
	if o.configure != nil {
		o.configure(&cfg)
	}
	require.NoError(t, cfg.Validate())
	logs := &testenv.LogBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	var admin api.AdminDeps
	admin.Rebuilds = api.NewRebuilds(pool, store, log)
	t.Cleanup(admin.Rebuilds.Stop)
	if o.kafka {
		admin.Topics = testenv.KafkaTopics(t)
		admin.Kafka = testenv.KafkaClient(t)
		admin.NewKafkaClient = func(opts ...kgo.Opt) (*kgo.Client, error) {
			return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(testenv.KafkaBrokers()...)}, opts...)...)
		}
		lcfg := api.DefaultConsumerLagConfig()
		lcfg.Groups = []string{admin.Topics.Group(projections.GroupOrders)}
		lcfg.Interval = time.Second
		lcfg.Window = time.Minute
		require.NoError(t, lcfg.Validate())
		admin.ConsumerLag = api.NewConsumerLag(lcfg, admin.Kafka, log)
		t.Cleanup(admin.ConsumerLag.Stop)
	}
	hub := notify.NewHub(notify.DefaultHubConfig(), pool, func(r *http.Request) (uuid.UUID, error) {
		tok, err := notify.Token(r)
		if err != nil {
			return uuid.Nil, err
		}
		p, err := tokens.Authenticate(tok)
		if err != nil {
			return uuid.Nil, err
		}
		return uuid.UUID(p.UserID), nil
	}, log)
	hubCtx, stopHub := context.WithCancel(ctx)
	var hubDone sync.WaitGroup
	hubDone.Go(func() { _ = hub.Start(hubCtx) })
	t.Cleanup(func() { stopHub(); hub.Stop(); hubDone.Wait() })

	reg := prometheus.NewRegistry()
	queries := projections.NewQueries(pool)
	t.Cleanup(queries.Close)
	deps := api.Deps{
		Log: log, App: env, Sessions: auth.NewSessions(tokens, pool), Passwords: pw,
		Metrics: metrics.Handler(reg), ReadModels: queries, Notifications: hub, Sagas: sagas.NewQueries(store),
		Admin: admin,
	}
	if o.clickhouse {
		conn, db := testenv.ClickHouseDatabase(t)
		mctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		_, err := analytics.Migrate(mctx, testenv.ClickHouseAddr(), db, slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		deps.Sales = analytics.NewSales(conn)
	}
	srv := api.New(cfg, deps)
	return &fullServer{
		testServer: &testServer{Server: srv, env: env, passwords: pw, logs: logs},
		pool:       pool, store: store, hub: hub, tokens: tokens,
	}
}

// rebuildReadModels brings the read models up to the store (what the projectors do from
// Kafka in production), so that the query routes see what the commands wrote.
//
// The store hands out only the events below the visible bound (every transaction older
// than the oldest running one is over), and that bound is the whole cluster's: a long
// transaction of another test holds it back. A rebuild run before this schema's events
// are all visible would leave the read models short, and a test reading them would see
// 404s that have nothing to do with what it checks; so wait for them first.
func (s *fullServer) rebuildReadModels(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	var last int64
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM events`).Scan(&last))
	require.Eventually(t, func() bool {
		head, err := s.store.HeadPosition(ctx)
		return err == nil && head >= last
	}, 2*time.Minute, 20*time.Millisecond, "the store's events never became visible (a long transaction elsewhere in the cluster?)")
	for _, name := range projections.Names() {
		_, err := projections.Rebuild(context.Background(), s.pool, s.store, name, projections.RebuildOptions{})
		require.NoError(t, err, "rebuild %s", name)
	}
}

// parkSaga writes a saga row for an order in compensation_failed, the state in which
// an admin may retry it (the saga worker is not running in these tests).
func (s *fullServer) parkSaga(t testing.TB, orderID, customerID string) {
	t.Helper()
	_, err := s.pool.Exec(context.Background(), `
		INSERT INTO order_sagas (order_id, customer_id, items, total_cents, currency, payment_token, placed_at,
			correlation_id, causation_id, state, step, reason, last_error)
		VALUES ($1, $2, '[]', 500, 'EUR', 'tok_visa', now(), $3, $3, 'compensation_failed', 'release_stock',
			'payment_declined', 'test: parked')`, orderID, customerID, uuid.New())
	require.NoError(t, err)
}

// snapshot is a fingerprint of every table of the test's schema: its row count and a
// hash of its rows. Two equal snapshots mean nothing was inserted, updated or deleted
// anywhere: events, side tables (emails, SKUs, refresh tokens, idempotency keys,
// dead-letter re-drives), sagas, read models and notifications.
type snapshot map[string]string

func (s *fullServer) snapshot(t testing.TB) snapshot {
	t.Helper()
	return tableSnapshot(t, s.pool)
}

func tableSnapshot(t testing.TB, pool *pgxpool.Pool) snapshot {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
	require.NoError(t, err)
	var tables []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		tables = append(tables, n)
	}
	require.NoError(t, rows.Err())
	require.NotEmpty(t, tables)
	out := snapshot{}
	for _, tbl := range tables {
		var (
			n    int64
			hash *string
		)
		q := fmt.Sprintf(`SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM %q t`, tbl)
		require.NoError(t, pool.QueryRow(ctx, q).Scan(&n, &hash))
		h := ""
		if hash != nil {
			h = *hash
		}
		out[tbl] = fmt.Sprintf("%d rows %s", n, h)
	}
	return out
}

// requireUnchanged fails when a table differs between two snapshots, naming it.
func requireUnchanged(t testing.TB, before, after snapshot, what string) {
	t.Helper()
	var changed []string
	for tbl, v := range before {
		if after[tbl] != v {
			changed = append(changed, fmt.Sprintf("%s: %s → %s", tbl, v, after[tbl]))
		}
	}
	require.Empty(t, changed, "%s changed the store", what)
}

// requireProblem checks a 4xx answer is an RFC 9457 problem document of the edge.
func requireProblem(t testing.TB, r response, context string) {
	t.Helper()
	require.Equal(t, "application/problem+json", r.Header.Get("Content-Type"), "%s: %s", context, r.Body)
	require.True(t, strings.HasPrefix(string(r.Body), `{"type":"https://ordo.dev/problems/`), "%s: %s", context, r.Body)
}

// world is a populated installation for the hostile suites: an admin, a customer who
// owns an order (with its saga parked in compensation_failed), another customer, a
// product with stock, and read models that reflect it all.
type world struct {
	*fullServer
	admin, owner, other string // access tokens
	ownerID, otherID    string
	product             productBody
	order               orderBody
}

func newWorld(t testing.TB, o fullOpts) *world {
	t.Helper()
	w := &world{fullServer: newFullServer(t, o)}
	w.admin = w.fullServer.admin(t)
	w.owner, w.ownerID = w.customer(t)
	w.other, w.otherID = w.customer(t)
	w.product = w.fullServer.product(t, w.admin, 1000, "EUR")
	w.stock(t, w.admin, w.product.ID, 1_000_000)
	w.order = w.fullServer.order(t, w.owner, w.product.ID, 1)
	w.parkSaga(t, w.order.ID, w.ownerID)
	w.rebuildReadModels(t)
	return w
}

// Callers of the hostile suites.
const (
	anonymous = "anonymous"
	owner     = "customer (owner)"
	nonOwner  = "customer (not the owner)"
	adminRole = "admin"
)

var callers = []string{anonymous, nonOwner, owner, adminRole}

// token returns the caller's access token ("" for anonymous).
func (w *world) token(caller string) string {
	switch caller {
	case owner:
		return w.owner
	case nonOwner:
		return w.other
	case adminRole:
		return w.admin
	}
	return ""
}

// auth returns the request option that authenticates as caller.
func (w *world) auth(caller string) []reqOpt {
	if tok := w.token(caller); tok != "" {
		return []reqOpt{bearer(tok)}
	}
	return nil
}

// pathParams says, for every route with parameters, what each parameter names in the
// world. A route with a parameter missing here fails the suites that walk the router:
// a new route cannot escape them.
func (w *world) pathParams(route string) map[string]string {
	return map[string]map[string]string{
		"/v1/products/:id":                    {"id": w.product.ID},
		"/v1/users/:id/role":                  {"id": w.ownerID},
		"/v1/products/:id/stock":              {"id": w.product.ID},
		"/v1/orders/:id":                      {"id": w.order.ID},
		"/v1/orders/:id/cancel":               {"id": w.order.ID},
		"/v1/orders/:id/timeline":             {"id": w.order.ID},
		"/v1/streams/:stream/events":          {"stream": "order-" + w.order.ID},
		"/v1/admin/sagas/:id":                 {"id": w.order.ID},
		"/v1/admin/sagas/:id/retry":           {"id": w.order.ID},
		"/v1/admin/projections/:name/rebuild": {"name": "orders"},
		"/console/:asset":                     {"asset": "app.js"},
	}[route]
}

// path fills a route's parameters: from the world, or every one with value when it is
// not nil (escaped as one path segment).
func (w *world) path(t testing.TB, route string, value *string) string {
	t.Helper()
	params := w.pathParams(route)
	segs := strings.Split(route, "/")
	for i, seg := range segs {
		name, ok := strings.CutPrefix(seg, ":")
		if !ok {
			continue
		}
		v, known := params[name]
		if !known {
			t.Fatalf("route %s: no value for :%s in world.pathParams (add the new route there)", route, name)
		}
		if value != nil {
			v = *value
		}
		segs[i] = url.PathEscape(v)
	}
	return strings.Join(segs, "/")
}

// routesOf returns the router's routes with the method, sorted by path.
func routesOf(s *api.Server, method string) []*echo.Route {
	var out []*echo.Route
	for _, r := range s.Routes() {
		if r.Method == method {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *echo.Route) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// requireNo5xx fails on a 5xx answer. The one 5xx a client can provoke by design is
// 503 not_caught_up: it asked (min_version, Consistent-After) for a version the read
// model has not reached within ReadYourWritesWait, and is told to retry.
func requireNo5xx(t testing.TB, r response, what string) {
	t.Helper()
	if r.Code < 500 {
		return
	}
	var p problemDoc
	_ = json.Unmarshal(r.Body, &p)
	require.True(t, r.Code == http.StatusServiceUnavailable && p.Code == "not_caught_up" && r.Header.Get("Retry-After") != "",
		"%s: %d %s", what, r.Code, r.Body)
}

// validHeaderValue reports whether net/http would deliver v as a header value (it
// refuses control characters other than tab before a handler runs).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
