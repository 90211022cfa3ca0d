package sagas_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/ordo-platform/ordo/app"
	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/domain/payment"
	"github.com/ordo-platform/ordo/domain/product"
	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/eventstore/relay"
	"github.com/ordo-platform/ordo/internal/testenv"
	"github.com/ordo-platform/ordo/internal/topic"
	"github.com/ordo-platform/ordo/sagas"
	"github.com/ordo-platform/ordo/sagas/psp"
	"github.com/ordo-platform/ordo/sagas/psp/pspsim"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		// A child process of TestCrash: run one worker until killed.
		os.Exit(runHelperWorker())
	}
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.NewTextHandler(logOut(), nil))

func logOut() io.Writer {
	if os.Getenv("SAGA_TEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}

// harness is one isolated installation: a Postgres schema, random Kafka topics, a relay
// publishing the event store, and the payment simulator. Workers are started per test.
type harness struct {
	pool   *pgxpool.Pool
	store  *postgres.Store
	env    *app.Env
	names  topic.Names
	sim    *pspsim.Simulator
	q      *sagas.Queries
	cfg    sagas.Config
	schema string
}

type harnessOpt func(*sagas.Config)

// testConfig is the saga configuration of the tests: a short lease and fast timers, so
// that takeovers run in seconds, and timeouts generous enough for a loaded machine
// (the race detector, every test in parallel); tests of the timeout path shorten them.
func testConfig(names topic.Names) sagas.Config {
	cfg := sagas.DefaultConfig()
	cfg.Topics = names
	cfg.ReserveTimeout = 10 * time.Second
	cfg.PaymentTimeout = 20 * time.Second
	cfg.CaptureTimeout = 10 * time.Second
	cfg.ConfirmTimeout = 10 * time.Second
	cfg.CompensationTimeout = 5 * time.Second
	cfg.CompensationMaxAttempts = 3
	cfg.ReservationTTL = 2 * time.Minute
	cfg.Lease = time.Second
	cfg.PollInterval = 50 * time.Millisecond
	cfg.SweepInterval = 200 * time.Millisecond
	cfg.RetryBackoff = 10 * time.Millisecond
	cfg.MaxRetryBackoff = 100 * time.Millisecond
	return cfg
}

func newHarness(t *testing.T, withRelay bool, opts ...harnessOpt) *harness {
	t.Helper()
	ctx := context.Background()
	pool := testenv.PostgresSchema(t, postgres.Migrations(), sagas.Migrations(), pspsim.Migrations())
	store, err := postgres.New(ctx, pool)
	require.NoError(t, err)
	t.Cleanup(store.Close)
	var schema string
	require.NoError(t, pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema))
	h := &harness{pool: pool, store: store, env: app.NewEnv(store), names: testenv.KafkaTopics(t),
		sim: pspsim.New(pool, pspsim.Options{}), q: sagas.NewQueries(store), schema: schema}
	h.cfg = testConfig(h.names)
	for _, o := range opts {
		o(&h.cfg)
	}
	require.NoError(t, h.cfg.Validate())
	if withRelay {
		rcfg := relay.DefaultConfig()
		rcfg.Topics = h.names
		// The leader lock is database-wide: a relay name per test, or the tests' relays
		// (and anyone else's) would take turns.
		rcfg.Name = schema
		rcfg.StandbyRetry = 100 * time.Millisecond
		rcfg.PollInterval = 20 * time.Millisecond
		r := relay.New(rcfg, store, pool, testenv.KafkaClient(t), quiet)
		start(t, r.Start, r.Stop)
	}
	return h
}

// start runs a role in the background until the test ends (or the returned stop).
func start(t *testing.T, run func(context.Context) error, stopRole func()) func() {
	t.Helper()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := run(context.Background()); err != nil {
			t.Errorf("role failed: %v", err)
		}
	})
	var once sync.Once
	stop := func() { once.Do(func() { stopRole(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// kafkaClients makes the workers' clients. A short session lets the group notice a
// killed member in seconds (the broker's minimum is 6 s) rather than 45.
func kafkaClients(opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{kgo.SeedBrokers(testenv.KafkaBrokers()...), kgo.SessionTimeout(6 * time.Second),
		kgo.RebalanceTimeout(10 * time.Second)}
	return kgo.NewClient(append(base, opts...)...)
}

// worker starts a saga worker over the harness with provider p (the simulator when
// nil); the returned func stops it.
func (h *harness) worker(t *testing.T, p psp.Provider, id string) (*sagas.Worker, func()) {
	t.Helper()
	if p == nil {
		p = h.sim
	}
	cfg := h.cfg
	cfg.WorkerID = id
	w := sagas.New(cfg, sagas.Deps{Store: h.store, TxConns: 4, PSP: p, NewKafkaClient: kafkaClients, Log: quiet})
	return w, start(t, w.Start, w.Stop)
}

func newID() domain.ID { return domain.ID(uuid.Must(uuid.NewV7())) }

func eur(c int64) domain.Money { return domain.Money{Cents: c, Currency: "EUR"} }

// product creates a catalogue product with stock units on hand.
func (h *harness) product(t *testing.T, stock int64, priceCents int64) domain.ID {
	t.Helper()
	ctx := context.Background()
	id := newID()
	_, _, err := app.Execute(ctx, h.env, app.Command[*product.Product]{
		Stream: eventstore.Stream{Type: product.StreamType, ID: product.StreamID(id)},
		New:    func() *product.Product { return &product.Product{} },
		Decide: func(p *product.Product) ([]domain.Event, error) {
			return p.DecideCreate(product.Create{ProductID: id, SKU: "SKU-" + id.String()[24:], Name: "Thing " + id.String()[24:], Price: eur(priceCents)})
		},
	})
	require.NoError(t, err)
	if stock > 0 {
		h.adjust(t, id, stock)
	}
	return id
}

func (h *harness) adjust(t *testing.T, id domain.ID, delta int64) {
	t.Helper()
	_, _, err := app.Execute(context.Background(), h.env, app.Command[*product.Inventory]{
		Stream: eventstore.Stream{Type: product.InventoryStreamType, ID: product.InventoryStreamID(id)},
		New:    func() *product.Inventory { return &product.Inventory{} },
		Decide: func(inv *product.Inventory) ([]domain.Event, error) {
			return inv.DecideAdjustStock(product.AdjustStock{ProductID: id, Delta: delta, Reason: "delivery"})
		},
	})
	require.NoError(t, err)
}

type line struct {
	product  domain.ID
	quantity int64
	price    int64
}

// place places an order the way the HTTP edge does, and returns its id.
func (h *harness) place(t *testing.T, customer domain.ID, token string, lines ...line) domain.ID {
	t.Helper()
	id := newID()
	items := make([]order.PricedItem, len(lines))
	for i, l := range lines {
		items[i] = order.PricedItem{ProductID: l.product, SKU: "SKU-" + l.product.String()[24:], Name: "Thing", UnitPrice: eur(l.price), Quantity: l.quantity}
	}
	_, _, err := app.Execute(context.Background(), h.env, app.Command[*order.Order]{
		Stream: eventstore.Stream{Type: order.StreamType, ID: order.StreamID(id)},
		New:    func() *order.Order { return &order.Order{} },
		Decide: func(o *order.Order) ([]domain.Event, error) {
			return o.DecidePlace(order.Place{OrderID: id, CustomerID: customer, Items: items, PaymentToken: token, At: time.Now()})
		},
		Meta: eventstore.Metadata{CorrelationID: uuid.Must(uuid.NewV7()), Actor: "user:" + customer.String()},
	})
	require.NoError(t, err)
	return id
}

// cancel cancels an order as its customer.
// placeConcurrently places n orders of one line, each by a new customer paying with
// tok_visa, all at once, and returns their ids.
func (h *harness) placeConcurrently(t *testing.T, n int, l line) []domain.ID {
	t.Helper()
	ids := make([]domain.ID, n)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() { ids[i] = h.place(t, newID(), pspsim.TokenVisa, l) })
	}
	wg.Wait()
	return ids
}

func (h *harness) cancel(t *testing.T, id domain.ID) {
	t.Helper()
	_, _, err := app.Execute(context.Background(), h.env, app.Command[*order.Order]{
		Stream: eventstore.Stream{Type: order.StreamType, ID: order.StreamID(id)},
		New:    func() *order.Order { return &order.Order{} },
		Decide: func(o *order.Order) ([]domain.Event, error) {
			return o.DecideCancel(order.Cancel{Reason: order.ReasonCancelledByUser, Detail: "changed my mind"})
		},
	})
	require.NoError(t, err)
}

func (h *harness) order(t *testing.T, id domain.ID) *order.Order {
	t.Helper()
	o, _, err := app.Load(context.Background(), h.env, order.StreamID(id), func() *order.Order { return &order.Order{} })
	require.NoError(t, err)
	return o
}

func (h *harness) inventory(t *testing.T, id domain.ID) *product.Inventory {
	t.Helper()
	inv, _, err := app.Load(context.Background(), h.env, product.InventoryStreamID(id), func() *product.Inventory { return &product.Inventory{} })
	require.NoError(t, err)
	return inv
}

func (h *harness) payment(t *testing.T, id domain.ID) []string {
	t.Helper()
	evs, err := h.store.ReadStream(context.Background(), payment.StreamID(id), 1, 100)
	require.NoError(t, err)
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	return types
}

// ledger returns an order's provider ledger as "operation:outcome" entries.
func (h *harness) ledger(t *testing.T, id domain.ID) []string {
	t.Helper()
	ops, err := h.sim.Ledger(context.Background(), id)
	require.NoError(t, err)
	var out []string
	for _, op := range ops {
		out = append(out, op.Operation+":"+op.Outcome)
	}
	return out
}

func (h *harness) saga(t *testing.T, id domain.ID) (sagas.SagaView, bool) {
	t.Helper()
	v, err := h.q.Saga(context.Background(), id)
	if domain.HasCode(err, sagas.CodeSagaNotFound) {
		return v, false
	}
	require.NoError(t, err)
	return v, true
}

// settled reports whether a saga has reached a resting state: confirmed (with no
// cancellation pending), cancelled or compensation_failed.
func settled(v sagas.SagaView) bool {
	switch v.State {
	case sagas.StateConfirmed:
		return !v.CancelRequested
	case sagas.StateCancelled, sagas.StateCompensationFailed:
		return true
	}
	return false
}

// waitSettled waits until every order's saga has settled and returns them.
func (h *harness) waitSettled(t *testing.T, ids ...domain.ID) map[domain.ID]sagas.SagaView {
	t.Helper()
	return h.waitFor(t, settled, ids...)
}

func (h *harness) waitFor(t *testing.T, cond func(sagas.SagaView) bool, ids ...domain.ID) map[domain.ID]sagas.SagaView {
	t.Helper()
	out := make(map[domain.ID]sagas.SagaView, len(ids))
	deadline := time.Now().Add(90 * time.Second)
	for _, id := range ids {
		for {
			v, ok := h.saga(t, id)
			if ok && cond(v) {
				out[id] = v
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("order %s: saga did not get there in time; last seen %+v (exists: %v)", id, v, ok)
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
	return out
}

// gate is a provider that holds chosen calls until released, and can be told to fail.
type gate struct {
	psp.Provider
	mu            sync.Mutex
	holdAuth      chan struct{}
	authCalled    chan struct{}
	holdCapture   chan struct{} // closed: the capture goes through
	captureCalled chan struct{} // told when the saga asks for a capture
	captured      chan struct{} // told when a capture went through
	failCapture   error
	failVoid      error
}

func (g *gate) Authorize(ctx context.Context, req psp.AuthorizeRequest) (psp.Authorization, error) {
	g.mu.Lock()
	hold, called := g.holdAuth, g.authCalled
	g.mu.Unlock()
	if called != nil {
		select {
		case called <- struct{}{}:
		default:
		}
	}
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return psp.Authorization{}, ctx.Err()
		}
	}
	return g.Provider.Authorize(ctx, req)
}

func (g *gate) Capture(ctx context.Context, req psp.CaptureRequest) (psp.Capture, error) {
	g.mu.Lock()
	err, hold, captured, called := g.failCapture, g.holdCapture, g.captured, g.captureCalled
	g.mu.Unlock()
	if called != nil {
		select {
		case called <- struct{}{}:
		default:
		}
	}
	if err != nil {
		return psp.Capture{}, err
	}
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return psp.Capture{}, ctx.Err()
		}
	}
	c, err := g.Provider.Capture(ctx, req)
	if err == nil && captured != nil {
		select {
		case captured <- struct{}{}:
		default:
		}
	}
	return c, err
}

func (g *gate) Void(ctx context.Context, req psp.VoidRequest) (psp.Void, error) {
	g.mu.Lock()
	err := g.failVoid
	g.mu.Unlock()
	if err != nil {
		return psp.Void{}, err
	}
	return g.Provider.Void(ctx, req)
}

func (g *gate) set(f func(g *gate)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(g)
}
