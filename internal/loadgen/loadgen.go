// Package loadgen drives realistic traffic at an Ordo HTTP API: customers register and
// log in, browse the catalogue, place orders with a mix of payment tokens, look at them
// and cancel some, at a target arrival rate (open loop: a slow server does not slow the
// arrivals down, so latencies are not flattered by coordinated omission). It reports
// throughput, latency percentiles per operation and errors by kind.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a run.
type Config struct {
	// BaseURL of the API ("http://127.0.0.1:8080").
	BaseURL string
	// Rate is the target number of operations started per second.
	Rate float64
	// Duration of the run (after setup).
	Duration time.Duration
	// MaxInFlight bounds concurrent operations; arrivals beyond it are counted as
	// "saturated" instead of queuing.
	MaxInFlight int
	// Customers to register during setup (more register during the run).
	Customers int
	// Products to create during setup, each with Stock units.
	Products int
	Stock    int64
	// AdminEmail and AdminPassword log in the admin that creates the catalogue.
	AdminEmail, AdminPassword string
	// WaitTerminal, when positive, waits up to this long after the run for every placed
	// order to reach confirmed or cancelled, and reports how long they took.
	WaitTerminal time.Duration
	// Seed makes the mix repeatable.
	Seed uint64
	// OrdersOnly makes every arrival an order placement (with the usual mix of payment
	// tokens), so that Rate is orders per second.
	OrdersOnly bool
	// PaymentToken, when set, is the token of every order instead of the usual mix.
	PaymentToken string
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if !strings.HasPrefix(c.BaseURL, "http://") && !strings.HasPrefix(c.BaseURL, "https://") {
		errs = append(errs, fmt.Errorf("--url %q: want http(s)://host:port", c.BaseURL))
	}
	if c.Rate <= 0 {
		errs = append(errs, errors.New("--rate must be positive"))
	}
	if c.Duration <= 0 {
		errs = append(errs, errors.New("--duration must be positive"))
	}
	if c.MaxInFlight <= 0 {
		errs = append(errs, errors.New("--max-in-flight must be positive"))
	}
	if c.Customers <= 0 || c.Products <= 0 {
		errs = append(errs, errors.New("--customers and --products must be positive"))
	}
	if c.AdminEmail == "" || c.AdminPassword == "" {
		errs = append(errs, errors.New("an admin is needed to create the catalogue: --admin-email and ORDO_LOADGEN_ADMIN_PASSWORD (create one with `ordo users add --role admin`)"))
	}
	return errors.Join(errs...)
}

// Op names.
const (
	OpRegister = "register"
	OpLogin    = "login"
	OpBrowse   = "browse"
	OpProduct  = "product"
	OpPlace    = "place_order"
	OpGetOrder = "get_order"
	OpCancel   = "cancel_order"
)

// mix is the share of arrivals per operation.
var mix = []struct {
	op     string
	weight int
}{
	{OpBrowse, 25}, {OpProduct, 20}, {OpPlace, 30}, {OpGetOrder, 15}, {OpCancel, 5}, {OpRegister, 5},
}

// Payment tokens and their shares: mostly cards that work, some declines and fraud, a
// few that never answer (the saga's timeout handles them).
var tokens = []struct {
	token  string
	weight int
}{
	{"tok_visa", 70}, {"tok_mastercard", 15}, {"tok_chargeDeclined", 8}, {"tok_riskLevelHighest", 5}, {"tok_timeout", 2},
}

// Stats of one operation.
type Stats struct {
	Op    string  `json:"op"`
	Count int     `json:"count"`
	OK    int     `json:"ok"`
	P50ms float64 `json:"p50_ms"`
	P95ms float64 `json:"p95_ms"`
	P99ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

// Report is the outcome of a run.
type Report struct {
	Duration     time.Duration  `json:"-"`
	Seconds      float64        `json:"seconds"`
	TargetRate   float64        `json:"target_rate"`
	Throughput   float64        `json:"throughput"` // operations completed per second
	Ops          []Stats        `json:"ops"`
	Errors       map[string]int `json:"errors"`
	Saturated    int            `json:"saturated"`
	OrdersPlaced int            `json:"orders_placed"`
	// Terminal summarises WaitTerminal: how many orders ended confirmed or cancelled,
	// how many did not in time, and placed-to-terminal percentiles.
	Terminal *TerminalStats `json:"terminal,omitempty"`
}

// TerminalStats is the end-to-end outcome of the placed orders.
type TerminalStats struct {
	Confirmed int            `json:"confirmed"`
	Cancelled map[string]int `json:"cancelled"`
	Pending   int            `json:"still_pending"`
	P50ms     float64        `json:"p50_ms"`
	P95ms     float64        `json:"p95_ms"`
	P99ms     float64        `json:"p99_ms"`
}

type customer struct {
	email, password string
	mu              sync.Mutex
	token           string
	orders          []string
	// versions remembers the last version this customer wrote of each order, for
	// read-your-writes queries (?min_version=).
	versions map[string]int64
}

type placed struct {
	id string
	at time.Time
}

// Placed is an order the run placed (202) and when its POST was sent.
type Placed struct {
	ID     string
	SentAt time.Time
}

// Placed lists the orders the run placed, for callers that measure them further (`ordo
// bench e2e` times each to its order.confirmed commit).
func (r *Runner) Placed() []Placed {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Placed, len(r.placed))
	for i, p := range r.placed {
		out[i] = Placed{ID: p.id, SentAt: p.at}
	}
	return out
}

// Runner holds a run's state.
type Runner struct {
	cfg    Config
	client *http.Client

	mu        sync.Mutex
	rng       *rand.Rand
	customers []*customer
	products  []string
	latencies map[string][]time.Duration
	oks       map[string]int
	errs      map[string]int
	placed    []placed
	saturated atomic.Int64
}

// New returns a runner.
func New(cfg Config) *Runner {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        cfg.MaxInFlight * 2,
		MaxIdleConnsPerHost: cfg.MaxInFlight * 2,
		IdleConnTimeout:     30 * time.Second,
	}
	return &Runner{
		cfg:       cfg,
		client:    &http.Client{Transport: tr, Timeout: 30 * time.Second},
		rng:       rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		latencies: map[string][]time.Duration{},
		oks:       map[string]int{},
		errs:      map[string]int{},
	}
}

// Run sets up the catalogue and customers, drives traffic for the duration, and reports.
func (r *Runner) Run(ctx context.Context) (Report, error) {
	if err := r.setup(ctx); err != nil {
		return Report{}, fmt.Errorf("setup: %w", err)
	}
	// Setup requests are not part of the measurement.
	r.mu.Lock()
	r.latencies, r.oks, r.errs = map[string][]time.Duration{}, map[string]int{}, map[string]int{}
	r.mu.Unlock()

	var (
		wg       sync.WaitGroup
		inflight = make(chan struct{}, r.cfg.MaxInFlight)
		interval = time.Duration(float64(time.Second) / r.cfg.Rate)
		start    = time.Now()
		end      = start.Add(r.cfg.Duration)
	)
	for next := start; next.Before(end) && ctx.Err() == nil; next = next.Add(interval) {
		if d := time.Until(next); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		select {
		case inflight <- struct{}{}:
			op := r.pick()
			wg.Go(func() {
				defer func() { <-inflight }()
				r.do(ctx, op)
			})
		default:
			r.saturated.Add(1)
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	rep := r.report(elapsed)
	if r.cfg.WaitTerminal > 0 {
		rep.Terminal = r.waitTerminal(ctx)
	}
	return rep, nil
}

func (r *Runner) pick() string {
	if r.cfg.OrdersOnly {
		return OpPlace
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	total := 0
	for _, m := range mix {
		total += m.weight
	}
	n := r.rng.IntN(total)
	for _, m := range mix {
		if n < m.weight {
			return m.op
		}
		n -= m.weight
	}
	return OpBrowse
}

func (r *Runner) token() string {
	if r.cfg.PaymentToken != "" {
		return r.cfg.PaymentToken
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	total := 0
	for _, t := range tokens {
		total += t.weight
	}
	n := r.rng.IntN(total)
	for _, t := range tokens {
		if n < t.weight {
			return t.token
		}
		n -= t.weight
	}
	return "tok_visa"
}

func (r *Runner) intn(n int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rng.IntN(n)
}

func (r *Runner) anyCustomer() *customer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.customers[r.rng.IntN(len(r.customers))]
}

func (r *Runner) anyProduct() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.products[r.rng.IntN(len(r.products))]
}

// do runs one operation and records its outcome.
func (r *Runner) do(ctx context.Context, op string) {
	switch op {
	case OpRegister:
		c, err := r.newCustomer(ctx)
		if err == nil {
			r.mu.Lock()
			r.customers = append(r.customers, c)
			r.mu.Unlock()
		}
	case OpBrowse:
		_, _, _ = r.call(ctx, OpBrowse, http.MethodGet, "/v1/products?limit=20", "", nil, nil)
	case OpProduct:
		_, _, _ = r.call(ctx, OpProduct, http.MethodGet, "/v1/products/"+r.anyProduct(), "", nil, nil)
	case OpPlace:
		c := r.anyCustomer()
		n := 1 + r.intn(3)
		seen := map[string]bool{}
		var items []map[string]any
		for len(items) < n {
			p := r.anyProduct()
			if seen[p] {
				if len(seen) == len(r.products) {
					break
				}
				continue
			}
			seen[p] = true
			items = append(items, map[string]any{"product_id": p, "quantity": 1 + r.intn(2)})
		}
		var out struct {
			ID      string `json:"id"`
			Version int64  `json:"version"`
		}
		at := time.Now()
		code, _, err := r.call(ctx, OpPlace, http.MethodPost, "/v1/orders", c.bearer(), map[string]any{"items": items, "payment_token": r.token()}, &out)
		if err == nil && code == http.StatusAccepted && out.ID != "" {
			c.mu.Lock()
			c.orders = append(c.orders, out.ID)
			if c.versions == nil {
				c.versions = map[string]int64{}
			}
			c.versions[out.ID] = out.Version
			c.mu.Unlock()
			r.mu.Lock()
			r.placed = append(r.placed, placed{id: out.ID, at: at})
			r.mu.Unlock()
		}
	case OpGetOrder, OpCancel:
		c := r.anyCustomer()
		c.mu.Lock()
		var (
			id      string
			version int64
		)
		if len(c.orders) > 0 {
			id = c.orders[len(c.orders)-1-r.intn(len(c.orders))]
			version = c.versions[id]
		}
		c.mu.Unlock()
		if id == "" { // nothing to look at yet: browse instead
			_, _, _ = r.call(ctx, OpBrowse, http.MethodGet, "/v1/products?limit=20", "", nil, nil)
			return
		}
		if op == OpGetOrder {
			// Read your own writes: at least the version this customer last wrote.
			_, _, _ = r.call(ctx, OpGetOrder, http.MethodGet, fmt.Sprintf("/v1/orders/%s?min_version=%d", id, version), c.bearer(), nil, nil)
		} else {
			var out struct {
				Version int64 `json:"version"`
			}
			if _, _, err := r.call(ctx, OpCancel, http.MethodPost, "/v1/orders/"+id+"/cancel", c.bearer(), map[string]any{}, &out); err == nil {
				c.mu.Lock()
				c.versions[id] = max(c.versions[id], out.Version)
				c.mu.Unlock()
			}
		}
	}
}

func (c *customer) bearer() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// call does one request and records it under op; 2xx (and 304) count as ok, anything
// else as an error of its kind.
func (r *Runner) call(ctx context.Context, op, method, path, token string, body, out any) (int, http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.cfg.BaseURL+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	start := time.Now()
	resp, err := r.client.Do(req)
	d := time.Since(start)
	if err != nil {
		kind := "transport"
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			kind = "timeout"
		}
		r.record(op, d, kind)
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	kind := ""
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotModified {
		kind = fmt.Sprintf("http_%d", resp.StatusCode)
		var p struct {
			Code string `json:"code"`
		}
		if json.Unmarshal(b, &p) == nil && p.Code != "" {
			kind += ":" + p.Code
		}
	}
	r.record(op, d, kind)
	if kind == "" && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, resp.Header, err
		}
	}
	if kind != "" {
		return resp.StatusCode, resp.Header, errors.New(kind)
	}
	return resp.StatusCode, resp.Header, nil
}

func (r *Runner) record(op string, d time.Duration, errKind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latencies[op] = append(r.latencies[op], d)
	if errKind == "" {
		r.oks[op]++
	} else {
		r.errs[op+" "+errKind]++
	}
}

func (r *Runner) newCustomer(ctx context.Context) (*customer, error) {
	var b [6]byte
	for i := range b {
		b[i] = byte('a' + r.intn(26))
	}
	c := &customer{email: fmt.Sprintf("load-%s-%d@example.com", b[:], time.Now().UnixNano()%1e9), password: "correct horse battery staple " + string(b[:])}
	if _, _, err := r.call(ctx, OpRegister, http.MethodPost, "/v1/users", "", map[string]any{"email": c.email, "name": "Load Tester", "password": c.password}, nil); err != nil {
		return nil, err
	}
	tok, err := r.login(ctx, c.email, c.password)
	if err != nil {
		return nil, err
	}
	c.token = tok
	return c, nil
}

func (r *Runner) login(ctx context.Context, email, password string) (string, error) {
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if _, _, err := r.call(ctx, OpLogin, http.MethodPost, "/v1/auth/login", "", map[string]any{"email": email, "password": password}, &out); err != nil {
		return "", err
	}
	return out.AccessToken, nil
}

func (r *Runner) setup(ctx context.Context) error {
	admin, err := r.login(ctx, r.cfg.AdminEmail, r.cfg.AdminPassword)
	if err != nil {
		return fmt.Errorf("admin login as %s: %w", r.cfg.AdminEmail, err)
	}
	for i := 0; i < r.cfg.Products; i++ {
		var p struct {
			ID string `json:"id"`
		}
		sku := fmt.Sprintf("LOAD-%d-%d", time.Now().UnixNano()%1e9, i)
		if _, _, err := r.call(ctx, "setup", http.MethodPost, "/v1/products", admin,
			map[string]any{"sku": sku, "name": "Load product " + sku, "description": "made by ordo loadgen", "price_cents": 500 + 100*(i%20), "currency": "EUR"}, &p); err != nil {
			return fmt.Errorf("create product: %w", err)
		}
		if _, _, err := r.call(ctx, "setup", http.MethodPost, "/v1/products/"+p.ID+"/stock", admin,
			map[string]any{"delta": r.cfg.Stock, "reason": "loadgen stock"}, nil); err != nil {
			return fmt.Errorf("add stock: %w", err)
		}
		r.products = append(r.products, p.ID)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 8)
	for i := 0; i < r.cfg.Customers; i++ {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := r.newCustomer(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("register customer: %w", err)
				}
				return
			}
			r.customers = append(r.customers, c)
		})
	}
	wg.Wait()
	if len(r.customers) == 0 {
		return firstErr
	}
	return nil
}

func (r *Runner) report(elapsed time.Duration) Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := Report{Duration: elapsed, Seconds: round(elapsed.Seconds()), TargetRate: r.cfg.Rate, Errors: map[string]int{},
		Saturated: int(r.saturated.Load()), OrdersPlaced: len(r.placed)}
	total := 0
	for op, ds := range r.latencies {
		slices.Sort(ds)
		rep.Ops = append(rep.Ops, Stats{Op: op, Count: len(ds), OK: r.oks[op],
			P50ms: ms(pct(ds, 0.50)), P95ms: ms(pct(ds, 0.95)), P99ms: ms(pct(ds, 0.99)), MaxMs: ms(ds[len(ds)-1])})
		total += len(ds)
	}
	sort.Slice(rep.Ops, func(i, j int) bool { return rep.Ops[i].Op < rep.Ops[j].Op })
	for k, v := range r.errs {
		rep.Errors[k] = v
	}
	rep.Throughput = round(float64(total) / elapsed.Seconds())
	return rep
}

func (r *Runner) waitTerminal(ctx context.Context) *TerminalStats {
	r.mu.Lock()
	pending := slices.Clone(r.placed)
	owner := map[string]*customer{}
	for _, c := range r.customers {
		for _, id := range c.orders {
			owner[id] = c
		}
	}
	r.mu.Unlock()
	ts := &TerminalStats{Cancelled: map[string]int{}}
	var took []time.Duration
	deadline := time.Now().Add(r.cfg.WaitTerminal)
	for len(pending) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		var still []placed
		for _, p := range pending {
			var o struct {
				Status       string     `json:"status"`
				StatusReason string     `json:"status_reason"`
				PlacedAt     time.Time  `json:"placed_at"`
				ConfirmedAt  *time.Time `json:"confirmed_at"`
				CancelledAt  *time.Time `json:"cancelled_at"`
			}
			c := owner[p.id]
			if c == nil {
				continue
			}
			if _, _, err := r.call(ctx, "wait", http.MethodGet, "/v1/orders/"+p.id, c.bearer(), nil, &o); err != nil || o.Status == "pending" || o.Status == "" {
				still = append(still, p)
				continue
			}
			// The server's own timestamps: placed to confirmed or cancelled, whatever the
			// delay of this polling loop.
			end := o.ConfirmedAt
			if end == nil {
				end = o.CancelledAt
			}
			if end != nil && !o.PlacedAt.IsZero() {
				took = append(took, end.Sub(o.PlacedAt))
			} else {
				took = append(took, time.Since(p.at))
			}
			if o.Status == "confirmed" {
				ts.Confirmed++
			} else {
				ts.Cancelled[o.StatusReason]++
			}
		}
		pending = still
		if len(pending) > 0 {
			time.Sleep(500 * time.Millisecond)
		}
	}
	ts.Pending = len(pending)
	if len(took) > 0 {
		slices.Sort(took)
		ts.P50ms, ts.P95ms, ts.P99ms = ms(pct(took, 0.5)), ms(pct(took, 0.95)), ms(pct(took, 0.99))
	}
	return ts
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(float64(len(ds)-1) * p)
	return ds[i]
}

func ms(d time.Duration) float64 { return round(float64(d) / float64(time.Millisecond)) }

func round(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }

// Print writes the report as a table.
func (rep Report) Print(w io.Writer) {
	fmt.Fprintf(w, "%-13s %8s %8s %9s %9s %9s %9s\n", "operation", "count", "ok", "p50 ms", "p95 ms", "p99 ms", "max ms")
	for _, s := range rep.Ops {
		fmt.Fprintf(w, "%-13s %8d %8d %9.1f %9.1f %9.1f %9.1f\n", s.Op, s.Count, s.OK, s.P50ms, s.P95ms, s.P99ms, s.MaxMs)
	}
	fmt.Fprintf(w, "\nthroughput %.1f ops/s (target %.1f) over %.1f s; %d orders placed; %d arrivals skipped (in-flight limit)\n",
		rep.Throughput, rep.TargetRate, rep.Seconds, rep.OrdersPlaced, rep.Saturated)
	if len(rep.Errors) > 0 {
		fmt.Fprintln(w, "\nerrors by kind:")
		keys := make([]string, 0, len(rep.Errors))
		for k := range rep.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  %-50s %d\n", k, rep.Errors[k])
		}
	}
	if t := rep.Terminal; t != nil {
		fmt.Fprintf(w, "\norders: %d confirmed, %d still pending, cancelled %v; placed-to-terminal p50 %.0f ms, p95 %.0f ms, p99 %.0f ms\n",
			t.Confirmed, t.Pending, t.Cancelled, t.P50ms, t.P95ms, t.P99ms)
	}
}
