package bench

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/internal/loadgen"
	"github.com/ordo-platform/ordo/internal/stopwatch"
	"github.com/ordo-platform/ordo/internal/topic"
)

func init() {
	Register(Scenario{
		Name: "e2e", Unit: "orders/s",
		Doc: "the whole stack (`ordo all` as a process of its own on scratch schema, topics and ClickHouse database): " +
			"orders POSTed by 32 clients as fast as they are taken, to `confirmed` (the order.confirmed event " +
			"committed), 1-3 items from 100 products, tok_visa; then 100 orders/s for a while, reporting " +
			"p50/p95/p99 POST→confirmed on stderr, and after the throughput phase 300 orders/s (issue 6's sustained " +
			"rate) for 15 s, whether confirmations keep up (its percentiles on stderr); ceiling: the same number of events appended (raw pgx, in as many " +
			"transactions as the stack made) and produced and consumed (raw franz-go, one group)",
		Run: runE2E,
	})
}

// e2eStack is one `ordo all` on scratch storage.
type e2eStack struct {
	env     Env
	schema  string
	names   topic.Names
	chDB    string
	base    string
	pool    *pgxpool.Pool // confined to the schema
	store   *postgres.Store
	cmd     *exec.Cmd
	exited  chan struct{}
	log     *os.File
	client  *http.Client
	admin   string
	adminPW string // for loadgen's own login
	tokens  []string
	product []string
}

func freePort() (string, error) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startE2EStack makes the scratch storage, migrates it with `ordo migrate`, adds an
// admin and starts `ordo all` (this very binary) on free ports.
func startE2EStack(ctx context.Context, env Env) (_ *e2eStack, err error) {
	bin, err := os.Executable()
	if err != nil {
		return nil, err
	}
	tag := randomHex(5)
	st := &e2eStack{env: env, schema: "bench_e2e_" + tag, names: topic.Names{Prefix: "bench-e2e-" + tag}, chDB: "bench_e2e_" + tag,
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	admin, err := pgx.Connect(ctx, env.PostgresURL)
	if err != nil {
		return nil, err
	}
	_, err = admin.Exec(ctx, "CREATE SCHEMA "+st.schema)
	_ = admin.Close(ctx)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(env.PostgresURL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("search_path", st.schema)
	u.RawQuery = q.Encode()
	if st.pool, err = pgxpool.New(ctx, u.String()); err != nil {
		return nil, err
	}
	if st.store, err = postgres.New(ctx, st.pool); err != nil {
		return nil, err
	}
	httpAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	metricsAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	st.base = "http://" + httpAddr
	environ := append(os.Environ(),
		"ORDO_POSTGRES_URL="+u.String(),
		"ORDO_KAFKA_BROKERS="+strings.Join(env.KafkaBrokers, ","),
		"ORDO_CLICKHOUSE_ADDR="+env.ClickHouseAddr,
		"ORDO_KAFKA_TOPIC_PREFIX="+st.names.Prefix,
		"ORDO_CLICKHOUSE_DATABASE="+st.chDB,
		"ORDO_HTTP_ADDR="+httpAddr,
		"ORDO_METRICS_ADDR="+metricsAddr,
		"ORDO_JWT_SECRET="+randomHex(32),
		// Cheap password hashing: the bench registers customers, it does not measure logins.
		"ORDO_ARGON2_MEMORY_KIB=1024", "ORDO_ARGON2_TIME=1",
		"ORDO_RATE_LIMIT=off",
		// The velocity rule still runs its query, but a few customers placing thousands of
		// orders are not fraud here.
		"ORDO_FRAUD_VELOCITY_MAX_ORDERS=1000000",
		"ORDO_LOG_LEVEL=warn",
		// The stack's own profiler, apart from the bench's (ORDO_PPROF_ADDR): empty is off.
		"ORDO_PPROF_ADDR="+os.Getenv("ORDO_BENCH_STACK_PPROF_ADDR"),
	)
	run := func(stdin string, args ...string) error {
		c := exec.CommandContext(ctx, bin, args...)
		c.Env, c.Stdin = environ, strings.NewReader(stdin)
		out, err := c.CombinedOutput()
		if err != nil {
			return fmt.Errorf("ordo %s: %w: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := run("", "migrate"); err != nil {
		return st, err
	}
	password := "bench-" + randomHex(12)
	if err := run(password+"\n", "users", "add", "--email", "admin@bench.e2e", "--role", "admin", "--password-stdin"); err != nil {
		return st, err
	}
	if st.log, err = os.CreateTemp("", "ordo-bench-e2e-*.log"); err != nil {
		return st, err
	}
	st.cmd = exec.CommandContext(ctx, bin, "all") // stopped by stop; an interrupt stops it too
	st.cmd.Cancel = func() error { return st.cmd.Process.Signal(syscall.SIGTERM) }
	st.cmd.Env, st.cmd.Stdout, st.cmd.Stderr = environ, st.log, st.log
	if err := st.cmd.Start(); err != nil {
		return st, err
	}
	st.exited = make(chan struct{})
	go func() { _ = st.cmd.Wait(); close(st.exited) }()
	deadline := time.Now().Add(90 * time.Second)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, st.base+"/readyz", nil)
		if err != nil {
			return st, err
		}
		resp, err := st.client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-st.exited:
			return st, fmt.Errorf("ordo all exited: %s", st.tail())
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("ordo all not ready after 90 s: %s", st.tail())
		}
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := st.call(ctx, http.MethodPost, "/v1/auth/login", "", map[string]any{"email": "admin@bench.e2e", "password": password}, &tok); err != nil {
		return st, err
	}
	st.admin, st.adminPW = tok.AccessToken, password
	return st, nil
}

func (st *e2eStack) tail() string {
	if st.log == nil {
		return ""
	}
	b, _ := os.ReadFile(st.log.Name())
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// stop ends `ordo all` (SIGTERM, then SIGKILL after 30 s).
func (st *e2eStack) stop() {
	if st.cmd == nil || st.cmd.Process == nil {
		return
	}
	_ = st.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-st.exited:
	case <-time.After(30 * time.Second):
		_ = st.cmd.Process.Kill()
		<-st.exited
	}
	st.cmd = nil
}

// close stops the stack and removes everything it made.
func (st *e2eStack) close() {
	st.stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if st.store != nil {
		st.store.Close()
	}
	if st.pool != nil {
		st.pool.Close()
	}
	if c, err := pgx.Connect(ctx, st.env.PostgresURL); err == nil {
		_, _ = c.Exec(ctx, "DROP SCHEMA IF EXISTS "+st.schema+" CASCADE")
		_ = c.Close(ctx)
	}
	if cl, err := kgo.NewClient(kgo.SeedBrokers(st.env.KafkaBrokers...)); err == nil {
		adm := kadm.NewClient(cl)
		_, _ = adm.DeleteTopics(ctx, append(st.names.Events(), st.names.DeadLetter())...)
		if groups, err := adm.ListGroups(ctx); err == nil {
			var mine []string
			for _, g := range groups.Groups() {
				if strings.HasPrefix(g, st.names.Prefix) {
					mine = append(mine, g)
				}
			}
			if len(mine) > 0 {
				_, _ = adm.DeleteGroups(ctx, mine...)
			}
		}
		cl.Close()
	}
	if st.env.DropClickHouseDatabase == nil {
		fmt.Fprintf(os.Stderr, "e2e: ClickHouse database %s left behind (no way to drop it)\n", st.chDB)
	} else if err := st.env.DropClickHouseDatabase(ctx, st.chDB); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: drop ClickHouse database %s: %v\n", st.chDB, err)
	}
	if st.log != nil {
		_ = st.log.Close()
		_ = os.Remove(st.log.Name())
	}
}

// call does one JSON request; anything but 2xx is an error.
func (st *e2eStack) call(ctx context.Context, method, path, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, st.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := st.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// catalogue creates products with plenty of stock and customers.
func (st *e2eStack) catalogue(ctx context.Context, products, customers int) error {
	for i := range products {
		var p struct {
			ID string `json:"id"`
		}
		sku := fmt.Sprintf("E2E-%d", i)
		if err := st.call(ctx, http.MethodPost, "/v1/products", st.admin, map[string]any{"sku": sku, "name": "Bench " + sku,
			"description": "made by ordo bench e2e", "price_cents": 500 + 100*(i%20), "currency": "EUR"}, &p); err != nil {
			return err
		}
		if err := st.call(ctx, http.MethodPost, "/v1/products/"+p.ID+"/stock", st.admin, map[string]any{"delta": 1_000_000, "reason": "bench stock"}, nil); err != nil {
			return err
		}
		st.product = append(st.product, p.ID)
	}
	var mu sync.Mutex
	err := Parallel(8, customers, func(_, i int) error {
		email := fmt.Sprintf("customer-%d@bench.e2e", i)
		password := "correct horse battery staple " + randomHex(4)
		if err := st.call(ctx, http.MethodPost, "/v1/users", "", map[string]any{"email": email, "name": "Bench Customer", "password": password}, nil); err != nil {
			return err
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := st.call(ctx, http.MethodPost, "/v1/auth/login", "", map[string]any{"email": email, "password": password}, &tok); err != nil {
			return err
		}
		mu.Lock()
		st.tokens = append(st.tokens, tok.AccessToken)
		mu.Unlock()
		return nil
	})
	return err
}

// place POSTs order i (1-3 distinct products, 1-2 units each, tok_visa) and returns its
// stream id.
func (st *e2eStack) place(ctx context.Context, i int) (string, error) {
	h := uint64(i)*0x9e3779b97f4a7c15 + 1
	next := func(n int) int { h ^= h << 13; h ^= h >> 7; h ^= h << 17; return int(h % uint64(n)) }
	var items []map[string]any
	seen := map[int]bool{}
	for k := 1 + next(3); len(items) < k; {
		p := next(len(st.product))
		if seen[p] {
			continue
		}
		seen[p] = true
		items = append(items, map[string]any{"product_id": st.product[p], "quantity": 1 + next(2)})
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := st.call(ctx, http.MethodPost, "/v1/orders", st.tokens[next(len(st.tokens))],
		map[string]any{"items": items, "payment_token": "tok_visa"}, &out); err != nil {
		return "", err
	}
	id, err := domain.ParseID(out.ID)
	if err != nil {
		return "", err
	}
	return order.StreamID(id), nil
}

// ended is when each order reached a terminal event (committed in the event store).
type ended struct {
	at        time.Time
	confirmed bool
}

// watchTerminal follows the event store for order.confirmed and order.cancelled after
// position `after` until want orders ended or the timeout passed. It reads with the
// store's own gap-safe reader (ReadAllTypes: order streams only, nothing past the
// visible bound), so each read starts where the last one ended; reading from `after`
// every time re-read the whole run's events five times a second, a cost on the machine
// that the stack being measured paid.
func (st *e2eStack) watchTerminal(ctx context.Context, after int64, want func(map[string]ended) bool, timeout time.Duration) (map[string]ended, error) {
	const page = 10_000
	out := map[string]ended{}
	deadline := time.Now().Add(timeout)
	for !want(out) {
		if time.Now().After(deadline) {
			return out, fmt.Errorf("orders not terminal after %s (%d ended)", timeout, len(out))
		}
		evs, scanned, next, err := st.store.ReadAllTypes(ctx, after, page, []string{order.StreamType})
		if err != nil {
			return out, err
		}
		after = next
		for _, e := range evs {
			if e.Type != order.TypeConfirmed && e.Type != order.TypeCancelled {
				continue
			}
			if _, done := out[e.StreamID]; !done {
				out[e.StreamID] = ended{at: e.RecordedAt, confirmed: e.Type == order.TypeConfirmed}
			}
		}
		if scanned == page {
			continue // more is there already
		}
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return out, nil
}

// e2eLatency is the latency phase's outcome.
type e2eLatency struct {
	rate               float64
	orders, confirmed  int
	p50, p95, p99, max time.Duration
	hops               []hop
}

// hop is one leg of POST→confirmed, over the confirmed orders of a latency phase.
type hop struct {
	name     string
	p50, p99 time.Duration
}

// tapped is when an order.placed record was produced (its timestamp, set by the relay's
// producer) and when a plain consumer of the orders topic had it.
type tapped struct{ produced, fetched time.Time }

// orderTap follows the orders topic from its end while a latency phase runs: a consumer
// with franz-go's default fetch settings, as the saga's, outside any group.
type orderTap struct {
	cl   *kgo.Client
	done chan struct{}
	mu   sync.Mutex
	seen map[string]tapped
}

func (st *e2eStack) tapOrders(ctx context.Context) (*orderTap, error) {
	orders, err := st.names.ForStreamType(order.StreamType)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(st.env.KafkaBrokers...), kgo.ConsumeTopics(orders),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return nil, err
	}
	t := &orderTap{cl: cl, done: make(chan struct{}), seen: map[string]tapped{}}
	go func() {
		defer close(t.done)
		for {
			fs := cl.PollFetches(ctx)
			if fs.IsClientClosed() || ctx.Err() != nil {
				return
			}
			now := time.Now()
			t.mu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				if _, ok := t.seen[string(r.Key)]; !ok {
					t.seen[string(r.Key)] = tapped{produced: r.Timestamp, fetched: now}
				}
			})
			t.mu.Unlock()
		}
	}()
	return t, nil
}

// stop ends the tap and returns what it saw, by order stream id (the records' key).
func (t *orderTap) stop() map[string]tapped {
	t.cl.Close()
	<-t.done
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.seen
}

// hops splits each confirmed order's POST→confirmed into its legs: the POST until
// order.placed was stored; until the relay produced it; until a consumer had it; until
// the saga's intake transaction began; until its reserve step began; each step (from
// its first attempt's start to its transition); and the gaps between steps are part of
// the next step.
func (st *e2eStack) hops(ctx context.Context, sent map[string]time.Time, tap map[string]tapped) ([]hop, error) {
	ids := make([]string, 0, len(sent))
	for stream := range sent {
		ids = append(ids, stream)
	}
	rows, err := st.pool.Query(ctx, `SELECT e.stream_id, e.recorded_at, s.created_at,
			min(ss.started_at) FILTER (WHERE ss.step = 'reserve'), max(ss.finished_at) FILTER (WHERE ss.step = 'reserve'),
			max(ss.finished_at) FILTER (WHERE ss.step = 'authorize'), max(ss.finished_at) FILTER (WHERE ss.step = 'capture'),
			max(ss.finished_at) FILTER (WHERE ss.step = 'confirm'), c.recorded_at
		FROM events e
		JOIN order_sagas s ON s.causation_id = e.id
		JOIN saga_steps ss ON ss.order_id = s.order_id
		JOIN events c ON c.stream_id = e.stream_id AND c.type = $3
		WHERE e.stream_id = ANY($1) AND e.type = $2
		GROUP BY e.stream_id, e.recorded_at, s.created_at, c.recorded_at`, ids, order.TypePlaced, order.TypeConfirmed)
	if err != nil {
		return nil, err
	}
	names := []string{"POST→placed stored", "→relay produced", "→consumer fetched", "→saga intake tx",
		"→reserve start", "reserve", "authorize", "capture", "confirm", "placed stored→produced+fetched"}
	legs := make([][]time.Duration, len(names))
	for rows.Next() {
		var (
			stream                                          string
			placed, intake, rStart, rEnd, aEnd, cEnd, coEnd *time.Time
			confirmed                                       time.Time
		)
		if err := rows.Scan(&stream, &placed, &intake, &rStart, &rEnd, &aEnd, &cEnd, &coEnd, &confirmed); err != nil {
			rows.Close()
			return nil, err
		}
		tp, ok := tap[stream]
		if !ok || placed == nil || intake == nil || rStart == nil || rEnd == nil || aEnd == nil || cEnd == nil || coEnd == nil {
			continue
		}
		at := []time.Time{sent[stream], *placed, tp.produced, tp.fetched, *intake, *rStart, *rEnd, *aEnd, *cEnd, *coEnd}
		for i := 1; i < len(at); i++ {
			legs[i-1] = append(legs[i-1], at[i].Sub(at[i-1]))
		}
		legs[9] = append(legs[9], tp.fetched.Sub(*placed))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []hop
	for i, l := range legs {
		if len(l) == 0 {
			continue
		}
		slices.Sort(l)
		q := func(p float64) time.Duration { return l[int(math.Ceil(p*float64(len(l))))-1] }
		out = append(out, hop{name: names[i], p50: q(0.5), p99: q(0.99)})
	}
	return out, nil
}

// latencyPhase places about n orders open loop at rate with `ordo loadgen`'s runner (orders
// only, tok_visa, its own catalogue of 100 products and 50 customers) and measures each
// from its POST (the client's clock, before sending) to its order.confirmed commit (the
// store's clock; the same machine).
func (st *e2eStack) latencyPhase(ctx context.Context, rate float64, n int) (e2eLatency, error) {
	after, err := st.store.HeadPosition(ctx)
	if err != nil {
		return e2eLatency{}, err
	}
	run := loadgen.New(loadgen.Config{
		BaseURL: st.base, Rate: rate, Duration: time.Duration(float64(n) / rate * float64(time.Second)),
		MaxInFlight: 512, Customers: 50, Products: 100, Stock: 1_000_000_000,
		AdminEmail: "admin@bench.e2e", AdminPassword: st.adminPW, Seed: uint64(n),
		OrdersOnly: true, PaymentToken: "tok_visa",
	})
	tap, err := st.tapOrders(ctx)
	if err != nil {
		return e2eLatency{}, err
	}
	rep, err := run.Run(ctx)
	if err != nil {
		tap.stop()
		return e2eLatency{}, fmt.Errorf("loadgen: %w", err)
	}
	if failed := sumCounts(rep.Errors); failed > 0 || rep.Saturated > 0 {
		return e2eLatency{}, fmt.Errorf("loadgen: %d orders failed (%v), %d arrivals found %d orders in flight", failed, rep.Errors, rep.Saturated, 512)
	}
	sent := map[string]time.Time{}
	for _, p := range run.Placed() {
		id, err := domain.ParseID(p.ID)
		if err != nil {
			return e2eLatency{}, fmt.Errorf("order id %q: %w", p.ID, err)
		}
		sent[order.StreamID(id)] = p.SentAt
	}
	done, err := st.watchTerminal(ctx, after, func(m map[string]ended) bool { return len(m) >= len(sent) }, 5*time.Minute)
	tapped := tap.stop()
	if err != nil {
		return e2eLatency{}, err
	}
	res := e2eLatency{rate: rate, orders: len(sent)}
	if res.hops, err = st.hops(ctx, sent, tapped); err != nil {
		return e2eLatency{}, fmt.Errorf("hops: %w", err)
	}
	var took []time.Duration
	for stream, at := range sent {
		if e, ok := done[stream]; ok && e.confirmed {
			took = append(took, e.at.Sub(at))
		}
	}
	res.confirmed = len(took)
	if len(took) == 0 {
		return res, errors.New("no order was confirmed")
	}
	slices.Sort(took)
	q := func(p float64) time.Duration { return took[int(math.Ceil(p*float64(len(took))))-1] }
	res.p50, res.p95, res.p99, res.max = q(0.50), q(0.95), q(0.99), took[len(took)-1]
	return res, nil
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// e2eThroughput is the throughput phase's outcome: what the ceiling must do the same of.
type e2eThroughput struct {
	orders, confirmed int
	elapsed           time.Duration
	events, txs       int
	payload           int             // average payload bytes
	posted            time.Duration   // from the first POST to the last answer
	ends              []time.Duration // from the first POST to each order's end, sorted
}

// throughputPhase POSTs n orders from 32 clients as fast as they are taken and times
// the first POST to the last order's terminal event.
func (st *e2eStack) throughputPhase(ctx context.Context, n int) (e2eThroughput, error) {
	after, err := st.store.HeadPosition(ctx)
	if err != nil {
		return e2eThroughput{}, err
	}
	var placed atomic.Int64
	start := time.Now()
	if err := Parallel(32, n, func(_, i int) error {
		_, err := st.place(ctx, i)
		if err == nil {
			placed.Add(1)
		}
		return err
	}); err != nil {
		return e2eThroughput{}, err
	}
	posted := time.Since(start)
	done, err := st.watchTerminal(ctx, after, func(m map[string]ended) bool { return len(m) >= int(placed.Load()) }, 10*time.Minute)
	if err != nil {
		return e2eThroughput{}, err
	}
	res := e2eThroughput{orders: int(placed.Load()), posted: posted}
	var last time.Time
	for _, e := range done {
		if e.confirmed {
			res.confirmed++
		}
		if e.at.After(last) {
			last = e.at
		}
		res.ends = append(res.ends, e.at.Sub(start))
	}
	slices.Sort(res.ends)
	res.elapsed = last.Sub(start)
	// The events the stack appended for these orders, in how many transactions.
	var avg float64
	err = st.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT position >> 16), coalesce(avg(length(payload)), 0)
		FROM events WHERE position > $1`, after).Scan(&res.events, &res.txs, &avg)
	res.payload = int(avg)
	return res, err
}

func runE2E(ctx context.Context, env Env) (float64, float64, int, error) {
	st, err := startE2EStack(ctx, env)
	if err != nil {
		return 0, 0, 0, err
	}
	defer st.close()
	if err := st.catalogue(ctx, 100, 50); err != nil {
		return 0, 0, 0, err
	}
	// Warm up (connections, caches, consumer assignments), then the latency phase at
	// the rate the issue names, then the throughput phase.
	if _, err := st.latencyPhase(ctx, 20, 40); err != nil {
		return 0, 0, 0, fmt.Errorf("warm-up: %w", err)
	}
	lat, err := st.latencyPhase(ctx, 100, env.N(1500))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("latency phase: %w", err)
	}
	octx := stopwatch.ForSide(ctx, "ours") // --cpu: the stack is a child process of this one
	sw := stopwatch.Start(octx)
	tp, err := st.throughputPhase(ctx, env.N(3000))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("throughput phase: %w", err)
	}
	sw.Stop()
	stopwatch.AddWork(octx, tp.confirmed)
	// Sustained: 300 orders/s (or --sustained-rate) offered open loop for 15 s. Keeping up shows as latencies
	// that stay flat; falling behind, as latencies that grow with the phase. It starts
	// after a pause in which the consumers that trail the sagas (read models, analytics,
	// notifications) finish the burst, so that it inherits no backlog.
	select {
	case <-ctx.Done():
		return 0, 0, 0, ctx.Err()
	case <-time.After(5 * time.Second):
	}
	rate := cmp.Or(env.SustainedRate, 300)
	sus, err := st.latencyPhase(ctx, rate, env.N(int(math.Round(rate*15))))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("sustained phase: %w", err)
	}
	st.stop() // the ceiling runs alone
	ceil, err := e2eCeiling(stopwatch.ForSide(ctx, "ceiling"), env, tp)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("ceiling: %w", err)
	}
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Millisecond)*10) / 10 }
	for _, h := range lat.hops {
		fmt.Fprintf(os.Stderr, "e2e: at %.0f/s, %-32s p50 %7.1f ms, p99 %7.1f ms\n", lat.rate, h.name, ms(h.p50), ms(h.p99))
	}
	fmt.Fprintf(os.Stderr, "e2e: %d orders at %.0f/s: %d confirmed, POST→confirmed p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms; "+
		"%d orders as fast as taken: %d confirmed in %.1f s (%.1f orders/s), %d events in %d transactions; ceiling %.1f s\n",
		lat.orders, lat.rate, lat.confirmed, ms(lat.p50), ms(lat.p95), ms(lat.p99), ms(lat.max),
		tp.orders, tp.confirmed, tp.elapsed.Seconds(), Rate(tp.confirmed, tp.elapsed), tp.events, tp.txs, ceil.Seconds())
	fmt.Fprintf(os.Stderr, "e2e: sustained: %d orders offered at %.0f/s: %d confirmed, POST→confirmed p50 %.1f ms, p95 %.1f ms, "+
		"p99 %.1f ms, max %.1f ms\n", sus.orders, sus.rate, sus.confirmed, ms(sus.p50), ms(sus.p95), ms(sus.p99), ms(sus.max))
	if k := len(tp.ends); k > 0 {
		at := func(q float64) float64 { return tp.ends[min(k-1, int(q*float64(k)))].Seconds() }
		fmt.Fprintf(os.Stderr, "e2e: throughput phase: POSTs answered by %.2f s; orders ended: 50%% by %.2f s, 90%% by %.2f s, "+
			"99%% by %.2f s, all by %.2f s\n", tp.posted.Seconds(), at(0.5), at(0.9), at(0.99), tp.ends[k-1].Seconds())
	}
	return Rate(tp.confirmed, tp.elapsed), Rate(tp.confirmed, ceil), tp.orders, nil
}

// e2eCeiling is the raw libraries doing the stack's storage and messaging work for the
// throughput phase: raw pgx appends the same number of events (same average payload) in
// the same number of transactions from 32 connections, then raw franz-go produces them
// and one consumer group reads them all. It returns the time both took together.
func e2eCeiling(ctx context.Context, env Env, tp e2eThroughput) (time.Duration, error) {
	if tp.events == 0 || tp.txs == 0 {
		return 0, errors.New("the stack appended nothing")
	}
	pool, cleanup, err := ScratchSchema(ctx, env, postgres.Migrations())
	if err != nil {
		return 0, err
	}
	defer cleanup()
	if _, err := pool.Exec(ctx, rawTable); err != nil {
		return 0, err
	}
	gen, err := newEventGen()
	if err != nil {
		return 0, err
	}
	payload := bytes.Repeat([]byte{'x'}, max(tp.payload, 1))
	events := make([]eventstore.NewEvent, tp.events)
	for i := range events {
		events[i] = gen.next()
		events[i].Payload = payload
	}
	perTx := (tp.events + tp.txs - 1) / tp.txs
	dPG, err := TimedParallel(ctx, 32, tp.txs, func(_, t int) error {
		lo, hi := t*perTx, min((t+1)*perTx, len(events))
		if lo >= hi {
			return nil
		}
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			b := &pgx.Batch{}
			stream := eventstore.Stream{Type: "bench", ID: fmt.Sprintf("bench-%d", t)}
			for i := lo; i < hi; i++ {
				b.Queue(rawInsert, rawRow(stream, int64(i-lo+1), events[i])...)
			}
			return tx.SendBatch(ctx, b).Close()
		})
	})
	if err != nil {
		return 0, err
	}

	name := RandomName("bench-e2e-raw")
	cl, err := kgo.NewClient(kgo.SeedBrokers(env.KafkaBrokers...), kgo.DefaultProduceTopic(name))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 6, 1, nil, name); err != nil {
		return 0, err
	}
	defer func() { _, _ = adm.DeleteTopics(context.Background(), name) }()
	defer func() { _, _ = adm.DeleteGroups(context.Background(), name) }()
	cons, err := kgo.NewClient(kgo.SeedBrokers(env.KafkaBrokers...), kgo.ConsumeTopics(name), kgo.ConsumerGroup(name),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return 0, err
	}
	defer cons.Close()
	// Join the group before the clock starts (the stack's consumers had joined long
	// before its orders came).
	jctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	cons.PollFetches(jctx)
	cancel()
	sw := stopwatch.Start(ctx)
	var (
		consumed int
		cerr     = make(chan error, 1)
	)
	go func() {
		for consumed < len(events) {
			fs := cons.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				cerr <- err
				return
			}
			consumed += fs.NumRecords()
			if err := cons.CommitUncommittedOffsets(ctx); err != nil {
				cerr <- err
				return
			}
		}
		cerr <- nil
	}()
	for i, e := range events {
		cl.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprintf("bench-%d", i/perTx)), Value: e.Payload}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, err
	}
	if err := <-cerr; err != nil {
		return 0, err
	}
	d := sw.Stop()
	stopwatch.AddWork(ctx, tp.confirmed) // the ceiling's rate is per confirmed order, as ours
	return dPG + d, nil
}
