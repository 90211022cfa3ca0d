package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/internal/testenv"
	"github.com/ordo-platform/ordo/internal/topic"
)

// TestConsoleInARealBrowser runs the real stack (`ordo migrate`, `ordo all`, built from
// this tree) against a Postgres schema, Kafka topics and a ClickHouse database of its
// own, and drives the console in headless Chromium: log in (a customer is turned away,
// an admin gets in), watch an order placed through the API appear on the event stream
// and reach confirmed on its order page, rebuild a projection to the end, re-drive a
// dead letter, and look at consumer lag and sales. Each page is screenshotted, into
// $ORDO_CONSOLE_SCREENSHOTS when set (`make console-screenshots` writes docs/console/).
// The browser's console must stay free of errors, CSP violations included.
func TestConsoleInARealBrowser(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts the whole stack and a browser: not in -short")
	}
	browser := findChromium(t)
	shots := os.Getenv("ORDO_CONSOLE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(shots, 0o755))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	st := startStack(ctx, t)
	const (
		adminEmail = "ops@console.test"
		password   = "console admin password 1"
	)
	st.ordo(ctx, t, strings.NewReader(password+"\n"), "users", "add", "--email", adminEmail, "--role", "admin", "--password-stdin")
	api := &client{t: t, base: st.base}
	customerEmail := "ann@console.test"
	api.call(ctx, http.MethodPost, "/v1/users", "", map[string]any{"email": customerEmail, "name": "Ann", "password": password}, nil)
	admin := api.login(ctx, adminEmail, password)
	customer := api.login(ctx, customerEmail, password)

	b := newBrowser(ctx, t, browser)
	page := st.base + "/console/"

	// A customer logs in and is told the console is for admins; no data route is called.
	b.do(chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#email")))
	b.shot(shots, "login")
	b.login(customerEmail, password)
	b.do(chromedp.WaitVisible(chromedp.CSS("#not-admin")))
	require.Contains(t, b.text("#not-admin"), "The console is for admins")
	require.True(t, b.sidebarHidden(), "no navigation for a customer")
	b.shot(shots, "not-admin")
	b.do(chromedp.Click(chromedp.CSS("#not-admin button")), chromedp.WaitVisible(chromedp.CSS("#email")))

	// The admin logs in and lands on the event stream.
	b.login(adminEmail, password)
	b.do(chromedp.WaitVisible(chromedp.CSS("#events-table")))
	require.Equal(t, "admin", b.eval(`JSON.parse(sessionStorage.getItem('ordo.console.session')) ? 'admin' : ''`))

	// Orders through the API: the one we follow, and a few more for the charts.
	var product struct{ ID string }
	api.call(ctx, http.MethodPost, "/v1/products", admin, map[string]any{"sku": "MUG-BLUE", "name": "Blue mug",
		"description": "Holds tea.", "price_cents": 1299, "currency": "EUR"}, &product)
	api.call(ctx, http.MethodPost, "/v1/products/"+product.ID+"/stock", admin, map[string]any{"delta": 100, "reason": "delivery"}, nil)
	placeOrder := func(token string, qty int) string {
		var o struct{ ID string }
		api.call(ctx, http.MethodPost, "/v1/orders", customer, map[string]any{
			"items": []map[string]any{{"product_id": product.ID, "quantity": qty}}, "payment_token": token}, &o)
		return o.ID
	}
	orderID := placeOrder("tok_visa", 2)
	for i, tok := range []string{"tok_mastercard", "tok_visa", "tok_chargeDeclined", "tok_visa"} {
		placeOrder(tok, i+1)
	}

	// (a) It appears on the live event stream.
	b.waitFor(fmt.Sprintf(`document.querySelector('#events-body tr[data-type="order.placed"][data-stream="order-%s"]') !== null`, orderID), "order.placed on the event stream")
	b.waitFor(`document.querySelectorAll('#events-body tr[data-type="order.confirmed"]').length >= 3`, "confirmations on the event stream")
	time.Sleep(1500 * time.Millisecond) // new rows flash, then settle
	b.shot(shots, "events")
	// The type filter (in the address, so that it can be shared).
	b.hash("#/events?type=order.confirmed")
	b.waitFor(`document.querySelectorAll('#events-body tr[data-type]').length >= 4 && `+
		`[...document.querySelectorAll('#events-body tr[data-type]')].every(tr => tr.dataset.type === 'order.confirmed')`, "only confirmations")
	require.Equal(t, "order.confirmed", b.eval(`document.querySelector('#filter-type').value`))
	b.hash("#/events")
	b.do(chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#events-body tr[data-type="order.placed"][data-stream="order-%s"]`, orderID))))

	// (b) Clicking it opens its stream, with the envelope.
	b.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#events-body tr[data-type="order.placed"][data-stream="order-%s"] td:nth-child(3)`, orderID))))
	b.do(chromedp.WaitVisible(chromedp.CSS(`#stream-table tr.hl[data-type="order.placed"]`)))
	require.Equal(t, "order-"+orderID, b.text("#stream-title"))
	b.waitFor(`document.querySelector('#stream-table tr[data-type="order.confirmed"]') !== null`, "the order's confirmation in its stream")
	require.Contains(t, b.text("#stream-body"), "correlation id", "the event's envelope is shown")
	b.shot(shots, "stream")

	// (c) The order page follows it to confirmed, with the saga and its timeline.
	b.do(chromedp.Click(chromedp.CSS("#open-order")))
	b.do(chromedp.WaitVisible(chromedp.CSS("#order-final")))
	require.Equal(t, "confirmed", b.text("#order-status"))
	require.Contains(t, b.text("#saga-card"), "captured")
	require.Contains(t, b.text("#timeline"), "order.confirmed")
	b.shot(shots, "order")

	// (d) A rebuild of the orders projection, followed to the switch-over.
	b.hash("#/projections")
	b.do(chromedp.WaitVisible(chromedp.CSS("#rebuild-orders")))
	b.do(chromedp.Click(chromedp.CSS("#rebuild-orders")))
	b.do(chromedp.WaitVisible(chromedp.CSS(`#rebuild-progress-orders[data-state="done"]`)))
	require.Contains(t, b.text(`#rebuild-progress-orders`), "switched over: v2 active (was v1)")
	b.shot(shots, "projections")

	// (e) Dead letters: the order.placed record, as a consumer would have dead-lettered
	// it, and a record nobody can decode; re-drive the first.
	st.poison(ctx, t, orderID)
	b.hash("#/dlq")
	b.waitFor(`document.querySelectorAll('#dlq-body tr[data-redriven]').length === 2`, "both dead letters")
	// The decodable one: re-driving the junk would only dead-letter it again, once per group.
	b.do(chromedp.Click(chromedp.CSS(`#dlq-body tr[data-redriven="no"][data-decoded="yes"] button`)))
	b.do(chromedp.WaitVisible(chromedp.CSS(`#dlq-body tr[data-redriven="yes"]`)))
	require.Contains(t, b.text("#redrive-result"), "Re-drove 1")
	b.do(chromedp.Click(chromedp.CSS(`#dlq-body tr[data-decoded="no"]`))) // the undecodable one: its details, for the picture
	b.shot(shots, "dlq")
	var dlq struct {
		Records []struct {
			Redriven *struct {
				TargetTopic string `json:"target_topic"`
			} `json:"redriven"`
		} `json:"records"`
	}
	api.call(ctx, http.MethodGet, "/v1/admin/dlq", admin, nil, &dlq)
	require.Len(t, dlq.Records, 2)
	require.NotNil(t, dlq.Records[0].Redriven)
	require.Equal(t, st.ordersTopic(t), dlq.Records[0].Redriven.TargetTopic)

	// (f) Consumer lag over time: a few samples a second apart.
	b.hash("#/consumers")
	b.waitFor(`document.querySelectorAll('#lag-chart svg path.series').length >= 3`, "lag lines")
	b.waitFor(`[...document.querySelectorAll('#groups-body tr td:nth-child(2)')].some(td => td.textContent === 'Stable')`, "a stable group")
	b.shot(shots, "consumers")

	// (g) Sales from ClickHouse, once the sink has the confirmed orders.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var rep struct {
			Series []struct {
				Totals struct {
					Confirmed int `json:"orders_confirmed"`
				} `json:"totals"`
			} `json:"series"`
		}
		api.call(ctx, http.MethodGet, "/v1/analytics/sales?granularity=hour", admin, nil, &rep)
		if len(rep.Series) == 1 && rep.Series[0].Totals.Confirmed >= 4 {
			break
		}
		require.True(t, time.Now().Before(deadline), "ClickHouse never had the 4 confirmed orders: %+v", rep)
		time.Sleep(500 * time.Millisecond)
	}
	b.hash("#/sales")
	b.do(chromedp.WaitVisible(chromedp.CSS(`#sales [data-currency="EUR"] svg`)))
	require.Contains(t, b.text("#sales"), "orders placed")
	b.shot(shots, "sales")

	b.do(chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#email")))
	require.Equal(t, "", b.eval(`sessionStorage.getItem('ordo.console.session') || ''`), "logging out forgets the tokens")
	b.noErrors()
}

// ---- the stack ----

type stack struct {
	bin, base string
	env       []string
	names     topic.Names
	kafka     *kgo.Client
	logs      *testenv.LogBuffer
}

func startStack(ctx context.Context, t *testing.T) *stack {
	t.Helper()
	pool := testenv.PostgresSchema(t)
	var schema string
	require.NoError(t, pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema))
	names := testenv.KafkaTopics(t)
	_, chdb := testenv.ClickHouseDatabase(t)
	addr := freeAddr(t)
	var secret [24]byte
	_, _ = rand.Read(secret[:])
	st := &stack{bin: buildOrdo(ctx, t), base: "http://" + addr, names: names, kafka: testenv.KafkaClient(t), logs: &testenv.LogBuffer{}}
	st.env = append(os.Environ(),
		"ORDO_POSTGRES_URL="+testenv.SchemaURL(t, schema),
		"ORDO_KAFKA_BROKERS="+strings.Join(testenv.KafkaBrokers(), ","),
		"ORDO_KAFKA_TOPIC_PREFIX="+names.Prefix,
		"ORDO_KAFKA_PARTITIONS=3",
		"ORDO_CLICKHOUSE_ADDR="+testenv.ClickHouseAddr(),
		"ORDO_CLICKHOUSE_DATABASE="+chdb,
		"ORDO_HTTP_ADDR="+addr,
		"ORDO_METRICS_ADDR="+freeAddr(t),
		"ORDO_JWT_SECRET="+hex.EncodeToString(secret[:]),
		"ORDO_RATE_LIMIT=off",
		"ORDO_CONSUMER_LAG_INTERVAL=1s",
		"ORDO_LOG_LEVEL=warn",
	)
	st.ordo(ctx, t, nil, "migrate")

	cmd := exec.Command(st.bin, "all")
	cmd.Env, cmd.Stdout, cmd.Stderr = st.env, st.logs, st.logs
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("ordo all logged:\n%s", st.logs.Tail(60))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(st.base + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-exited:
			t.Fatalf("ordo all exited: %v\n%s", waitErr, st.logs.Tail(60))
		default:
		}
		require.True(t, time.Now().Before(deadline), "ordo all never became ready:\n%s", st.logs.Tail(60))
		time.Sleep(200 * time.Millisecond)
	}
	return st
}

// ordo runs a one-shot subcommand and fails the test when it fails.
func (st *stack) ordo(ctx context.Context, t *testing.T, stdin io.Reader, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, st.bin, args...)
	cmd.Env, cmd.Stdin = st.env, stdin
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "ordo %s:\n%s", strings.Join(args, " "), out)
}

func (st *stack) ordersTopic(t *testing.T) string {
	t.Helper()
	orders, err := st.names.ForStreamType("order")
	require.NoError(t, err)
	return orders
}

// poison writes two dead letters: the order's order.placed record, copied from its
// topic with the headers a projector adds when it gives up, and undecodable bytes.
func (st *stack) poison(ctx context.Context, t *testing.T, orderID string) {
	t.Helper()
	orders := st.ordersTopic(t)
	var placed *kgo.Record
	for _, r := range testenv.ConsumeN(t, []string{orders}, 200, 5*time.Second) {
		if string(r.Key) == "order-"+orderID && header(r, "event-type") == "order.placed" {
			placed = r
		}
	}
	require.NotNil(t, placed, "the relay published order.placed")
	dl := &kgo.Record{Topic: st.names.DeadLetter(), Key: placed.Key, Value: placed.Value, Headers: append(append([]kgo.RecordHeader(nil), placed.Headers...),
		kgo.RecordHeader{Key: "dlq-reason", Value: []byte("apply order.placed: read_orders_v1: deadlock detected (SQLSTATE 40P01), gave up after 5 attempts")},
		kgo.RecordHeader{Key: "dlq-group", Value: []byte(st.names.Group("ordo-projector-orders"))},
		kgo.RecordHeader{Key: "dlq-topic", Value: []byte(orders)},
		kgo.RecordHeader{Key: "dlq-partition", Value: []byte(fmt.Sprint(placed.Partition))},
		kgo.RecordHeader{Key: "dlq-offset", Value: []byte(fmt.Sprint(placed.Offset))},
		kgo.RecordHeader{Key: "dlq-at", Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))})}
	junk := &kgo.Record{Topic: st.names.DeadLetter(), Key: []byte("order-00000000-0000-7000-8000-000000000000"), Value: []byte{0x02, 0xff, 0x00, 0x13},
		Headers: []kgo.RecordHeader{
			{Key: "dlq-reason", Value: []byte("decode: record: not an ordo event: header event-type missing")},
			{Key: "dlq-group", Value: []byte(st.names.Group("ordo-saga-orders"))},
			{Key: "dlq-topic", Value: []byte(orders)}, {Key: "dlq-partition", Value: []byte("1")}, {Key: "dlq-offset", Value: []byte("7")},
			{Key: "dlq-at", Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
		}}
	require.NoError(t, st.kafka.ProduceSync(ctx, dl).FirstErr())
	require.NoError(t, st.kafka.ProduceSync(ctx, junk).FirstErr())
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// buildOrdo builds cmd/ordo from this tree.
func buildOrdo(ctx context.Context, t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ordo")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/ordo")
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build ./cmd/ordo:\n%s", out)
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// ---- the API, as a script would call it ----

type client struct {
	t    *testing.T
	base string
}

func (c *client) call(ctx context.Context, method, path, token string, body, out any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		require.NoError(c.t, err)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	require.NoError(c.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	require.Less(c.t, resp.StatusCode, 300, "%s %s: %s", method, path, b)
	if out != nil {
		require.NoError(c.t, json.Unmarshal(b, out), "%s", b)
	}
}

func (c *client) login(ctx context.Context, email, password string) string {
	c.t.Helper()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	c.call(ctx, http.MethodPost, "/v1/auth/login", "", map[string]string{"email": email, "password": password}, &tok)
	return tok.AccessToken
}

// ---- the browser ----

// findChromium returns Debian's Chromium binary, or skips the test saying how to get it.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ORDO_CHROMIUM"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/lib/chromium/chromium"); err == nil {
		return "/usr/lib/chromium/chromium" // the binary, without the launcher script's noise
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("Chromium is not installed, so the console's browser test cannot run: deploy/local/chromium.sh installs it " +
		"from Debian's packages (make test runs it first; it failed or was not run)")
	return ""
}

type browser struct {
	t      *testing.T
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func newBrowser(ctx context.Context, t *testing.T, path string) *browser {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("force-device-scale-factor", "1"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	)
	bctx, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	b := &browser{t: t, ctx: bctx}
	require.NoError(t, chromedp.Do(bctx, chromedp.EmulateViewport(1440, 900)), "start Chromium at %s", path)
	// Script errors, console.error, failed loads and CSP violations (the Log domain).
	require.NoError(t, chromedp.Listen(bctx, func(ev any) {
		var msg string
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = "exception: " + e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
		case *runtime.EventConsoleAPICalled:
			if e.Type != runtime.ConsoleAPICalledTypeError {
				return
			}
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			msg = "console." + string(e.Type) + ": " + strings.Join(parts, " ")
		case *cdplog.EventEntryAdded:
			if e.Entry.Level != cdplog.EntryLevelError {
				return
			}
			msg = fmt.Sprintf("%s: %s (%s)", e.Entry.Source, e.Entry.Text, e.Entry.URL)
		default:
			return
		}
		b.mu.Lock()
		b.errors = append(b.errors, msg)
		b.mu.Unlock()
	}))
	_, err := chromedp.Call(bctx, cdplog.Enable, cdp.Empty{})
	require.NoError(t, err)
	return b
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, steps...), "browser errors so far: %v", b.errorsSoFar())
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
	require.NoError(b.t, err, "text of %s", sel)
	return strings.TrimSpace(s)
}

func (b *browser) eval(js string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	require.NoError(b.t, err, "evaluate %s", js)
	return s
}

// waitFor evaluates js every 200 ms until it is true (chromedp's Poll compiles its
// predicate with new Function, which the console's CSP forbids).
func (b *browser) waitFor(js, what string) {
	b.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js))
		require.NoError(b.t, err, "evaluate %s", js)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("timed out waiting for %s (%s); browser errors: %v", what, js, b.errorsSoFar())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (b *browser) sidebarHidden() bool {
	b.t.Helper()
	hidden, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.getElementById('sidebar').hidden`))
	require.NoError(b.t, err)
	return hidden
}

func (b *browser) hash(h string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf("location.hash = %q", h)))
}

func (b *browser) login(email, password string) {
	b.t.Helper()
	b.do(
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#login-submit")),
	)
}

// shot saves a screenshot of the viewport as <dir>/<name>.png, after the page has
// settled (fonts, a frame).
func (b *browser) shot(dir, name string) {
	b.t.Helper()
	time.Sleep(400 * time.Millisecond)
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	require.NoError(b.t, err)
	require.NoError(b.t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

func (b *browser) errorsSoFar() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

func (b *browser) noErrors() {
	b.t.Helper()
	require.Empty(b.t, b.errorsSoFar(), "the browser reported errors")
}
