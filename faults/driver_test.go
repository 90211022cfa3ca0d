//go:build faults

package faults

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
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/ordo-platform/ordo/domain"
)

// The driver is a client that keeps its promises the way a careful API client does:
// every command carries an Idempotency-Key, and a command that got no answer, a 5xx or
// a 429 is sent again with the same key until it is answered (or the phase gives up on
// it). It remembers every command the API acknowledged, so that the checks can hold the
// system to each acknowledgement.

type customer struct {
	email, password string
	id              domain.ID
	mu              sync.Mutex
	token           string
}

type stockItem struct {
	id    domain.ID
	price int64
	// scarce products have little stock, so that some orders end out_of_stock.
	scarce bool
}

type line struct {
	product  *stockItem
	quantity int64
}

// orderReq is one POST /v1/orders.
type orderReq struct {
	key      string
	customer *customer
	lines    []line
	token    string
	acked    bool
	id       domain.ID
	ackedAt  time.Time
}

// cancelReq is one POST /v1/orders/{id}/cancel.
type cancelReq struct {
	key   string
	order *orderReq
	acked bool
}

// restockReq is one POST /v1/products/{id}/stock; its reason is unique, so that the
// checks can find its event.
type restockReq struct {
	key, reason string
	product     *stockItem
	delta       int64
	acked       bool
}

// phase is the traffic of one fault: its own customers and products, so that its
// checks are about its own orders and stock.
type phase struct {
	name      string
	customers []*customer
	products  []*stockItem

	mu       sync.Mutex
	orders   []*orderReq
	cancels  []*cancelReq
	restocks []*restockReq
	errors   map[string]int // transient failures that were retried, by kind
	retried  int
	rejected map[string]int // final 4xx answers, by kind
	skipped  int            // arrivals dropped at the in-flight limit
}

func (p *phase) ackedOrders() []*orderReq {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*orderReq
	for _, o := range p.orders {
		if o.acked {
			out = append(out, o)
		}
	}
	return out
}

type driver struct {
	base   string
	client *http.Client
	rng    *rand.Rand
	rngMu  sync.Mutex
	admin  *customer
	seq    atomic.Int64
}

func newDriver(base string, seed uint64) *driver {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     10 * time.Second,
	}
	return &driver{base: base, client: &http.Client{Transport: tr, Timeout: 15 * time.Second},
		rng: rand.New(rand.NewPCG(seed, 17)), admin: &customer{email: adminEmail, password: adminPassword}}
}

func (d *driver) intn(n int) int {
	d.rngMu.Lock()
	defer d.rngMu.Unlock()
	return d.rng.IntN(n)
}

// errRejected is a final answer other than success.
type errRejected struct {
	status int
	code   string
}

func (e *errRejected) Error() string { return fmt.Sprintf("http %d %s", e.status, e.code) }

// call sends one request, again and again while the answer is transient (no answer,
// 5xx, 429), re-logging in on 401, until it succeeds, is rejected, or ctx ends.
// Transient failures are counted in p (nil during setup).
func (d *driver) call(ctx context.Context, p *phase, method, path string, who *customer, key string, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		status, resp, err := d.once(ctx, method, path, who, key, payload)
		kind := ""
		switch {
		case err != nil:
			kind = "transport"
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				kind = "timeout"
			}
		case status == http.StatusUnauthorized && who != nil:
			kind = "http_401"
			who.mu.Lock()
			who.token = ""
			who.mu.Unlock()
		case status == http.StatusTooManyRequests || status >= 500:
			kind = fmt.Sprintf("http_%d", status)
		case status >= 300:
			var prob struct {
				Code string `json:"code"`
			}
			_ = json.Unmarshal(resp, &prob)
			rej := &errRejected{status: status, code: prob.Code}
			if p != nil {
				p.mu.Lock()
				p.rejected[method+" "+route(path)+" "+rej.Error()]++
				p.mu.Unlock()
			}
			return rej
		default:
			if out != nil {
				return json.Unmarshal(resp, out)
			}
			return nil
		}
		if p != nil {
			p.mu.Lock()
			p.errors[kind]++
			p.retried++
			p.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after %d attempts (last: %s): %w", attempt, kind, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (d *driver) once(ctx context.Context, method, path string, who *customer, key string, payload []byte) (int, []byte, error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if who != nil {
		tok, err := d.token(ctx, who)
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// token logs who in when it has no token.
func (d *driver) token(ctx context.Context, who *customer) (string, error) {
	who.mu.Lock()
	defer who.mu.Unlock()
	if who.token != "" {
		return who.token, nil
	}
	b, _ := json.Marshal(map[string]string{"email": who.email, "password": who.password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.base+"/v1/auth/login", bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("login %s: http %d %s", who.email, resp.StatusCode, body)
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return "", err
	}
	who.token = out.AccessToken
	return who.token, nil
}

// newPhase creates the phase's products (one of them scarce) and customers.
func (d *driver) newPhase(ctx context.Context, name string, products, customers int) (*phase, error) {
	p := &phase{name: name, errors: map[string]int{}, rejected: map[string]int{}}
	tag := fmt.Sprintf("%s-%d", strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(name)), time.Now().UnixNano()%1e9)
	for i := range products {
		var out struct {
			ID string `json:"id"`
		}
		price := int64(300 + 150*i)
		if err := d.call(ctx, nil, http.MethodPost, "/v1/products", d.admin, uuid.NewString(), map[string]any{
			"sku": fmt.Sprintf("F-%s-%d", tag, i), "name": "Fault product " + tag, "description": "made by the fault suite",
			"price_cents": price, "currency": "EUR"}, &out); err != nil {
			return nil, fmt.Errorf("create product: %w", err)
		}
		pr := &stockItem{id: domain.MustParseID(out.ID), price: price, scarce: i == 0}
		p.products = append(p.products, pr)
		stock := int64(100_000)
		if pr.scarce {
			stock = 40
		}
		if err := d.restock(ctx, p, pr, stock); err != nil {
			return nil, fmt.Errorf("initial stock: %w", err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, customers)
	for i := range customers {
		c := &customer{email: fmt.Sprintf("c%d-%s@faults.test", i, tag), password: "customer password " + tag}
		p.customers = append(p.customers, c)
		wg.Go(func() {
			var out struct {
				ID string `json:"id"`
			}
			if err := d.call(ctx, nil, http.MethodPost, "/v1/users", nil, uuid.NewString(),
				map[string]any{"email": c.email, "name": "Fault Customer", "password": c.password}, &out); err != nil {
				errs <- fmt.Errorf("register: %w", err)
				return
			}
			c.id = domain.MustParseID(out.ID)
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return p, nil
}

var tokens = []struct {
	token  string
	weight int
}{
	{"tok_visa", 60}, {"tok_mastercard", 15}, {"tok_chargeDeclined", 10}, {"tok_riskLevelHighest", 7}, {"tok_timeout", 3},
}

func (d *driver) pickToken() string {
	n := d.intn(95)
	for _, t := range tokens {
		if n < t.weight {
			return t.token
		}
		n -= t.weight
	}
	return "tok_visa"
}

// place sends one order until it is answered; it is remembered either way.
func (d *driver) place(ctx context.Context, p *phase) {
	c := p.customers[d.intn(len(p.customers))]
	o := &orderReq{key: uuid.NewString(), customer: c, token: d.pickToken()}
	seen := map[*stockItem]bool{}
	for range 1 + d.intn(2) {
		pr := p.products[d.intn(len(p.products))]
		if !seen[pr] {
			seen[pr] = true
			o.lines = append(o.lines, line{product: pr, quantity: int64(1 + d.intn(3))})
		}
	}
	p.mu.Lock()
	p.orders = append(p.orders, o)
	p.mu.Unlock()
	items := make([]map[string]any, len(o.lines))
	for i, l := range o.lines {
		items[i] = map[string]any{"product_id": l.product.id.String(), "quantity": l.quantity}
	}
	var out struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := d.call(ctx, p, http.MethodPost, "/v1/orders", c, o.key, map[string]any{"items": items, "payment_token": o.token}, &out); err != nil {
		return
	}
	id, err := domain.ParseID(out.ID)
	if err != nil {
		return
	}
	p.mu.Lock()
	o.acked, o.id, o.ackedAt = true, id, time.Now()
	p.mu.Unlock()
}

// cancel cancels a random acknowledged order of the phase (as its customer).
func (d *driver) cancel(ctx context.Context, p *phase) {
	acked := p.ackedOrders()
	if len(acked) == 0 {
		return
	}
	o := acked[d.intn(len(acked))]
	r := &cancelReq{key: uuid.NewString(), order: o}
	p.mu.Lock()
	p.cancels = append(p.cancels, r)
	p.mu.Unlock()
	if err := d.call(ctx, p, http.MethodPost, "/v1/orders/"+o.id.String()+"/cancel", o.customer, r.key, map[string]any{"detail": "changed my mind"}, nil); err != nil {
		return
	}
	p.mu.Lock()
	r.acked = true
	p.mu.Unlock()
}

// restock adds delta units to a product, with a reason no other request has.
func (d *driver) restock(ctx context.Context, p *phase, pr *stockItem, delta int64) error {
	r := &restockReq{key: uuid.NewString(), reason: fmt.Sprintf("faults restock %d", d.seq.Add(1)), product: pr, delta: delta}
	p.mu.Lock()
	p.restocks = append(p.restocks, r)
	p.mu.Unlock()
	if err := d.call(ctx, p, http.MethodPost, "/v1/products/"+pr.id.String()+"/stock", d.admin, r.key,
		map[string]any{"delta": delta, "reason": r.reason}, nil); err != nil {
		return err
	}
	p.mu.Lock()
	r.acked = true
	p.mu.Unlock()
	return nil
}

// read does one query a browsing client would (its outcome does not matter).
func (d *driver) read(ctx context.Context, p *phase) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	switch d.intn(3) {
	case 0:
		_, _, _ = d.once(rctx, http.MethodGet, "/v1/products?limit=20", nil, "", nil)
	case 1:
		_, _, _ = d.once(rctx, http.MethodGet, "/v1/products/"+p.products[d.intn(len(p.products))].id.String(), nil, "", nil)
	default:
		if acked := p.ackedOrders(); len(acked) > 0 {
			o := acked[d.intn(len(acked))]
			_, _, _ = d.once(rctx, http.MethodGet, "/v1/orders/"+o.id.String(), o.customer, "", nil)
		}
	}
}

// run starts operations at rate per second until stop is closed: 60% orders, 20% reads,
// 12% cancels, 8% restocks (of a random product, 50 units; the scarce one gets 5).
// Retries go on until giveUp ends. It returns when every operation has finished.
func (d *driver) run(p *phase, rate float64, stop <-chan struct{}, giveUp context.Context) {
	var wg sync.WaitGroup
	inflight := make(chan struct{}, 128)
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
loop:
	for {
		select {
		case <-stop:
			break loop
		case <-tick.C:
		}
		select {
		case inflight <- struct{}{}:
		default:
			p.mu.Lock()
			p.skipped++
			p.mu.Unlock()
			continue
		}
		n := d.intn(100)
		wg.Go(func() {
			defer func() { <-inflight }()
			switch {
			case n < 60:
				d.place(giveUp, p)
			case n < 80:
				d.read(giveUp, p)
			case n < 92:
				d.cancel(giveUp, p)
			default:
				pr := p.products[d.intn(len(p.products))]
				delta := int64(50)
				if pr.scarce {
					delta = 5
				}
				_ = d.restock(giveUp, p, pr, delta)
			}
		})
	}
	wg.Wait()
}

// summary of what the phase's traffic met.
func (p *phase) errorSummary() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var parts []string
	for k, v := range p.errors {
		parts = append(parts, fmt.Sprintf("%s×%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// route is path with its ids replaced, for counting answers by route.
func route(path string) string {
	parts := strings.Split(strings.SplitN(path, "?", 2)[0], "/")
	for i, s := range parts {
		if _, err := uuid.Parse(s); err == nil {
			parts[i] = "{id}"
		}
	}
	return strings.Join(parts, "/")
}
