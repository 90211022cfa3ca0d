package projections

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/domain/product"
	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/eventstoretest"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/eventstore/relay"
	"github.com/ordo-platform/ordo/internal/testenv"
	"github.com/ordo-platform/ordo/internal/topic"
	"github.com/ordo-platform/ordo/schemas"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.DiscardHandler)

// fixture is one test's world: its own Postgres schema (event store + registry), its
// own Kafka topics, and the query side.
type fixture struct {
	pool  *pgxpool.Pool
	store *postgres.Store
	names topic.Names
	q     *Queries
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool := testenv.PostgresSchema(t, postgres.Migrations(), Migrations())
	store, err := postgres.New(context.Background(), pool)
	require.NoError(t, err)
	t.Cleanup(store.Close)
	require.NoError(t, Setup(context.Background(), pool))
	q := NewQueries(pool)
	t.Cleanup(q.Close)
	return &fixture{pool: pool, store: store, names: testenv.KafkaTopics(t), q: q}
}

// background runs start in a goroutine; the returned func stops the role and waits.
func background(t *testing.T, start func(context.Context) error, stop func()) func() {
	t.Helper()
	var wg sync.WaitGroup
	wg.Go(func() { require.NoError(t, start(context.Background())) })
	var once sync.Once
	s := func() { once.Do(func() { stop(); wg.Wait() }) }
	t.Cleanup(s)
	return s
}

func (f *fixture) startRelay(t *testing.T) func() {
	t.Helper()
	cfg := relay.DefaultConfig()
	cfg.Topics = f.names
	// The relay's leader lock is database-wide, not per schema: a name of its own keeps
	// this test's relay from standing by behind another test's (or a developer's) relay.
	cfg.Name = f.names.Prefix
	cfg.PollInterval = 20 * time.Millisecond
	cfg.StandbyRetry = 100 * time.Millisecond
	r := relay.New(cfg, f.store, f.pool, testenv.KafkaClient(t), quiet)
	return background(t, r.Start, r.Stop)
}

func (f *fixture) projector(t *testing.T, name string) *Projector {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Topics = f.names
	cfg.GroupPrefix = f.names.Prefix + "-"
	cfg.MaxRetryBackoff = 200 * time.Millisecond
	newClient := func(opts ...kgo.Opt) (*kgo.Client, error) {
		return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(testenv.KafkaBrokers()...)}, opts...)...)
	}
	p, err := NewProjector(name, cfg, f.pool, f.store, newClient, quiet)
	require.NoError(t, err)
	return p
}

func (f *fixture) startProjector(t *testing.T, name string) (*Projector, func()) {
	t.Helper()
	p := f.projector(t, name)
	return p, background(t, p.Start, p.Stop)
}

// traffic makes plausible commerce events straight into the store (no HTTP, no saga):
// products with stock, orders that reserve stock and are then confirmed (stock
// committed) or cancelled (stock released), renames, reprices, stock adjustments.
type traffic struct {
	t     testing.TB
	store eventstore.Store
	codec *schemas.Codec
	rnd   *rand.Rand

	mu        sync.Mutex
	customers []domain.ID
	products  []domain.ID
	versions  map[string]int64
	pending   []pendingOrder
	events    int
	last      int64 // position of the last event appended
}

type pendingOrder struct {
	id    domain.ID
	items []order.Item
}

func newTraffic(t testing.TB, store eventstore.Store, seed uint64) *traffic {
	g := &traffic{t: t, store: store, codec: schemas.Default(), rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		versions: map[string]int64{}}
	for range 5 {
		g.customers = append(g.customers, g.newID())
	}
	return g
}

func (g *traffic) newID() domain.ID {
	var id domain.ID
	for i := range id {
		id[i] = byte(g.rnd.UintN(256))
	}
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

func (g *traffic) append(ctx context.Context, streamType, streamID string, evs ...domain.Event) error {
	batch := make([]eventstore.NewEvent, len(evs))
	for i, e := range evs {
		enc, err := g.codec.Encode(e)
		if err != nil {
			return err
		}
		batch[i] = eventstore.NewEvent{ID: eventstore.NewID(), Type: enc.Type, SchemaVersion: enc.Version,
			SchemaFingerprint: enc.Fingerprint, Payload: enc.Payload, OccurredAt: time.Now().UTC()}
	}
	res, err := g.store.Append(ctx, eventstore.Stream{Type: streamType, ID: streamID}, eventstore.Exact(g.versions[streamID]), batch...)
	if err != nil {
		return err
	}
	g.versions[streamID] = res.LastVersion
	g.events += len(evs)
	g.last = res.LastPosition
	return nil
}

// step appends one random business action's events.
func (g *traffic) step(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.rnd.IntN(100)
	switch {
	case len(g.products) < 3 || r < 8:
		id := g.newID()
		g.products = append(g.products, id)
		if err := g.append(ctx, product.StreamType, product.StreamID(id), product.Created{ProductID: id,
			SKU: fmt.Sprintf("SKU-%05d", len(g.products)), Name: "Product", Description: "A thing",
			Price: domain.Money{Cents: int64(100 + g.rnd.IntN(5000)), Currency: "EUR"}}); err != nil {
			return err
		}
		return g.append(ctx, product.InventoryStreamType, product.InventoryStreamID(id),
			product.StockAdjusted{ProductID: id, Delta: 1000, Reason: "delivery", OnHand: 1000})
	case r < 12:
		id := g.products[g.rnd.IntN(len(g.products))]
		return g.append(ctx, product.StreamType, product.StreamID(id), product.Renamed{ProductID: id, Name: fmt.Sprintf("Renamed %d", g.rnd.IntN(1000))})
	case r < 15:
		id := g.products[g.rnd.IntN(len(g.products))]
		return g.append(ctx, product.StreamType, product.StreamID(id), product.Repriced{ProductID: id,
			Price: domain.Money{Cents: int64(100 + g.rnd.IntN(5000)), Currency: "EUR"}})
	case r < 20:
		id := g.products[g.rnd.IntN(len(g.products))]
		inv := product.InventoryStreamID(id)
		return g.append(ctx, product.InventoryStreamType, inv, product.StockAdjusted{ProductID: id, Delta: 10, Reason: "delivery", OnHand: 1000 + int64(g.rnd.IntN(100))})
	case r < 60 || len(g.pending) == 0:
		id := g.newID()
		var items []order.Item
		var total int64
		for _, i := range g.rnd.Perm(len(g.products))[:1+g.rnd.IntN(min(3, len(g.products)))] {
			q := int64(1 + g.rnd.IntN(3))
			items = append(items, order.Item{ProductID: g.products[i], SKU: "SKU", Name: "Product", UnitPriceCents: 250, Quantity: q, LineTotalCents: 250 * q})
			total += 250 * q
		}
		if err := g.append(ctx, order.StreamType, order.StreamID(id), order.Placed{OrderID: id,
			CustomerID: g.customers[g.rnd.IntN(len(g.customers))], Items: items, TotalCents: total, Currency: "EUR",
			PaymentToken: "tok_visa", PlacedAt: time.Now().UTC().Truncate(time.Microsecond)}); err != nil {
			return err
		}
		for _, it := range items {
			if err := g.append(ctx, product.InventoryStreamType, product.InventoryStreamID(it.ProductID),
				product.Reserved{ProductID: it.ProductID, OrderID: id, Quantity: it.Quantity, ExpiresAt: time.Now().Add(time.Hour).UTC()}); err != nil {
				return err
			}
		}
		g.pending = append(g.pending, pendingOrder{id: id, items: items})
		return nil
	default:
		i := g.rnd.IntN(len(g.pending))
		o := g.pending[i]
		g.pending = append(g.pending[:i], g.pending[i+1:]...)
		confirm := g.rnd.IntN(3) > 0
		var e domain.Event = order.Confirmed{OrderID: o.id}
		if !confirm {
			e = order.Cancelled{OrderID: o.id, Reason: order.ReasonPaymentDeclined, Detail: "card declined"}
		}
		if err := g.append(ctx, order.StreamType, order.StreamID(o.id), e); err != nil {
			return err
		}
		for _, it := range o.items {
			var ie domain.Event = product.Committed{ProductID: it.ProductID, OrderID: o.id, Quantity: it.Quantity}
			if !confirm {
				ie = product.Released{ProductID: it.ProductID, OrderID: o.id, Quantity: it.Quantity, Reason: "order_cancelled"}
			}
			if err := g.append(ctx, product.InventoryStreamType, product.InventoryStreamID(it.ProductID), ie); err != nil {
				return err
			}
		}
		return nil
	}
}

// run appends at least n events.
func (g *traffic) run(t testing.TB, n int) {
	t.Helper()
	start := g.count()
	for g.count()-start < n {
		require.NoError(t, g.step(context.Background()))
	}
	g.visible(t)
}

// visible waits until every event appended so far can be read: other transactions in the
// database (other tests' schemas included) hold back what ReadAll returns until they end.
func (g *traffic) visible(t testing.TB) {
	t.Helper()
	g.mu.Lock()
	last := g.last
	g.mu.Unlock()
	eventstoretest.WaitVisible(t, g.store, last)
}

func (g *traffic) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.events
}

// live keeps appending until the returned stop func is called; stop returns how many
// events it appended.
func (g *traffic) live(t testing.TB) func() int {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	n := 0
	wg.Go(func() {
		start := g.count()
		for ctx.Err() == nil {
			if err := g.step(context.Background()); err != nil {
				t.Errorf("traffic: %v", err)
				return
			}
			time.Sleep(time.Millisecond)
		}
		n = g.count() - start
	})
	var once sync.Once
	stop := func() int { once.Do(func() { cancel(); wg.Wait() }); return n }
	t.Cleanup(func() { stop() })
	return stop
}

// fold is what the read models must say: every stream of the store folded with the
// domain's own Evolve functions (not the projection code).
type fold struct {
	orders   map[domain.ID]*order.Order
	versions map[string]int64
	products map[domain.ID]*product.Product
	stock    map[domain.ID]*product.Inventory
}

func foldStore(t testing.TB, store eventstore.Store) fold {
	t.Helper()
	ctx := context.Background()
	f := fold{orders: map[domain.ID]*order.Order{}, versions: map[string]int64{}, products: map[domain.ID]*product.Product{}, stock: map[domain.ID]*product.Inventory{}}
	codec := schemas.Default()
	for after := int64(0); ; {
		evs, err := store.ReadAll(ctx, after, 5000)
		require.NoError(t, err)
		if len(evs) == 0 {
			return f
		}
		for _, e := range evs {
			after = e.Position
			typ, id, err := domain.ParseStreamID(e.StreamID)
			if err != nil {
				continue
			}
			d, err := codec.Decode(e.Type, e.SchemaVersion, e.Payload)
			require.NoError(t, err)
			f.versions[e.StreamID] = e.Version
			switch typ {
			case order.StreamType:
				if f.orders[id] == nil {
					f.orders[id] = &order.Order{}
				}
				require.NoError(t, f.orders[id].Evolve(d))
			case product.StreamType:
				if f.products[id] == nil {
					f.products[id] = &product.Product{}
				}
				require.NoError(t, f.products[id].Evolve(d))
			case product.InventoryStreamType:
				if f.stock[id] == nil {
					f.stock[id] = &product.Inventory{}
				}
				require.NoError(t, f.stock[id].Evolve(d))
			}
		}
	}
}

// diff compares the read models (through the public queries, so through the views of
// the active versions) with a fold of the store; "" means equal.
func (f *fixture) diff(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	want := foldStore(t, f.store)
	var out []string
	var nOrders, nProducts int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM read_orders WHERE status <> ''`).Scan(&nOrders); err != nil {
		return err.Error()
	}
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM read_products WHERE product_version > 0`).Scan(&nProducts); err != nil {
		return err.Error()
	}
	if nOrders != len(want.orders) {
		out = append(out, fmt.Sprintf("orders: %d in the read model, %d in the store", nOrders, len(want.orders)))
	}
	if nProducts != len(want.products) {
		out = append(out, fmt.Sprintf("products: %d in the read model, %d in the store", nProducts, len(want.products)))
	}
	for id, o := range want.orders {
		got, err := f.q.GetOrder(ctx, id)
		if err != nil {
			out = append(out, fmt.Sprintf("order %s: %v", id, err))
			continue
		}
		var items []OrderItem
		for _, it := range o.Items() {
			items = append(items, OrderItem{ProductID: it.ProductID, SKU: it.SKU, Name: it.Name, UnitPriceCents: it.UnitPriceCents, Quantity: it.Quantity, LineTotalCents: it.LineTotalCents})
		}
		wantView := fmt.Sprintf("%s %s %s %q %d %s %v %s v%d", o.CustomerID(), o.Status(), o.CancelReason(), o.CancelDetail(),
			o.Total().Cents, o.Total().Currency, items, o.PlacedAt().UTC().Format(time.RFC3339Nano), want.versions[order.StreamID(id)])
		gotView := fmt.Sprintf("%s %s %s %q %d %s %v %s v%d", got.CustomerID, got.Status, got.StatusReason, got.StatusDetail,
			got.TotalCents, got.Currency, got.Items, got.PlacedAt.UTC().Format(time.RFC3339Nano), got.Version)
		if wantView != gotView {
			out = append(out, fmt.Sprintf("order %s:\n  read model %s\n  store      %s", id, gotView, wantView))
		}
	}
	for id, p := range want.products {
		got, err := f.q.GetProduct(ctx, id)
		if err != nil {
			out = append(out, fmt.Sprintf("product %s: %v", id, err))
			continue
		}
		inv := want.stock[id]
		if inv == nil {
			inv = &product.Inventory{}
		}
		wantView := fmt.Sprintf("%s %s %s %d %s %v on_hand=%d reserved=%d available=%d v%d/%d", p.SKU(), p.Name(), p.Description(),
			p.Price().Cents, p.Price().Currency, p.Discontinued(), inv.OnHand(), inv.Reserved(), inv.Available(),
			want.versions[product.StreamID(id)], want.versions[product.InventoryStreamID(id)])
		gotView := fmt.Sprintf("%s %s %s %d %s %v on_hand=%d reserved=%d available=%d v%d/%d", got.SKU, got.Name, got.Description,
			got.PriceCents, got.Currency, got.Discontinued, got.OnHand, got.Reserved, got.StockAvailable, got.Version, got.StockVersion)
		if wantView != gotView {
			out = append(out, fmt.Sprintf("product %s:\n  read model %s\n  store      %s", id, gotView, wantView))
		}
	}
	sort.Strings(out)
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("... and %d more", len(out)-10))
	}
	return strings.Join(out, "\n")
}

// requireConverges waits until the read models equal the fold of the store.
func (f *fixture) requireConverges(t *testing.T) {
	t.Helper()
	var last string
	ok := assertEventually(func() bool { last = f.diff(t); return last == "" }, 90*time.Second)
	require.True(t, ok, "read models never equalled the store:\n%s", last)
}

func assertEventually(cond func() bool, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return cond()
}

func cancelEvent(id domain.ID) domain.Event {
	return order.Cancelled{OrderID: id, Reason: order.ReasonTimeout, Detail: "zombie"}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
