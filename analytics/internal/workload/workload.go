// Package workload generates the events of a small shop for the analytics tests and
// benchmark: a catalogue with stock, customers, and orders that go the way the order
// saga takes them (reserve stock, take payment, confirm; or cancel and compensate). Every
// event comes from the domain's own decide functions on aggregates folded in memory, so
// the workload only contains what the real system could store. It is deterministic for
// a seed.
package workload

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/domain/payment"
	"github.com/ordo-platform/ordo/domain/product"
	"github.com/ordo-platform/ordo/domain/user"
	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/schemas"
)

// Append is one command's outcome: events for one stream at an expected version.
type Append struct {
	Stream   eventstore.Stream
	Expected int64
	Events   []domain.Event
	At       time.Time
	Meta     eventstore.Metadata
}

type catalogueItem struct {
	id        domain.ID
	agg       *product.Product
	inventory *product.Inventory
}

// Generator produces appends. It is not safe for concurrent use.
type Generator struct {
	rng       *rand.Rand
	clock     time.Time
	versions  map[string]int64
	products  map[string][]*catalogueItem // by currency
	customers []domain.ID
	seq       uint64
}

// New returns a generator whose simulated clock starts at start.
func New(seed uint64, start time.Time) *Generator {
	return &Generator{
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		clock:    start.UTC().Truncate(time.Microsecond),
		versions: map[string]int64{},
		products: map[string][]*catalogueItem{},
	}
}

func (g *Generator) id() domain.ID {
	// Deterministic UUIDv7-shaped ids from the seeded source.
	var b [16]byte
	hi, lo := g.rng.Uint64(), g.rng.Uint64()
	for i := range 8 {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	return domain.ID(b)
}

func (g *Generator) emit(out *[]Append, stream eventstore.Stream, meta eventstore.Metadata, events []domain.Event, err error) {
	if err != nil {
		panic(fmt.Sprintf("workload: %s: the domain refused a generated command: %v", stream.ID, err))
	}
	if len(events) == 0 {
		return
	}
	v := g.versions[stream.ID]
	*out = append(*out, Append{Stream: stream, Expected: v, Events: events, At: g.clock, Meta: meta})
	g.versions[stream.ID] = v + int64(len(events))
}

func evolve(a interface{ Evolve(domain.Event) error }, events []domain.Event) {
	for _, e := range events {
		if err := a.Evolve(e); err != nil {
			panic(err)
		}
	}
}

func (g *Generator) tick(lo, hi time.Duration) {
	g.clock = g.clock.Add(lo + time.Duration(g.rng.Int64N(int64(hi-lo)+1))).Truncate(time.Microsecond)
}

const passwordHash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"

// Setup registers customers and creates products (80% priced in EUR, 20% in USD) with
// their first delivery of stock.
func (g *Generator) Setup(products, customers int) []Append {
	var out []Append
	system := eventstore.Metadata{Actor: "system", CorrelationID: uuid.UUID(g.id())}
	for i := range customers {
		id := g.id()
		u := &user.User{}
		evs, err := u.DecideRegister(user.Register{UserID: id, Email: fmt.Sprintf("customer%d@example.com", i),
			Name: fmt.Sprintf("Customer %d", i), Role: user.RoleCustomer, PasswordHash: passwordHash, At: g.clock})
		g.emit(&out, eventstore.Stream{Type: user.StreamType, ID: user.StreamID(id)}, system, evs, err)
		g.customers = append(g.customers, id)
		g.tick(time.Second, 10*time.Second)
	}
	for i := range products {
		currency := "EUR"
		if i%5 == 4 {
			currency = "USD"
		}
		id := g.id()
		p := &product.Product{}
		evs, err := p.DecideCreate(product.Create{ProductID: id, SKU: fmt.Sprintf("SKU-%04d", i),
			Name: fmt.Sprintf("Product %d", i), Description: "A fine product.",
			Price: domain.Money{Cents: 199 + g.rng.Int64N(9800), Currency: currency}})
		g.emit(&out, eventstore.Stream{Type: product.StreamType, ID: product.StreamID(id)}, system, evs, err)
		evolve(p, evs)
		item := &catalogueItem{id: id, agg: p, inventory: &product.Inventory{}}
		g.products[currency] = append(g.products[currency], item)
		g.restock(&out, item, 50+g.rng.Int64N(100))
		g.tick(time.Second, 10*time.Second)
	}
	return out
}

func (g *Generator) restock(out *[]Append, it *catalogueItem, units int64) {
	evs, err := it.inventory.DecideAdjustStock(product.AdjustStock{ProductID: it.id, Delta: units, Reason: "delivery"})
	g.emit(out, eventstore.Stream{Type: product.InventoryStreamType, ID: product.InventoryStreamID(it.id)},
		eventstore.Metadata{Actor: "user:admin", CorrelationID: uuid.UUID(g.id())}, evs, err)
	evolve(it.inventory, evs)
}

// Outcome is how an order story ends, by payment token.
var tokens = []struct {
	token  string
	weight int
}{
	{"tok_visa", 70}, {"tok_mastercard", 10}, {"tok_chargeDeclined", 8}, {"tok_riskLevelHighest", 4},
	{"tok_timeout", 4}, {"pending", 4},
}

func (g *Generator) token() string {
	total := 0
	for _, t := range tokens {
		total += t.weight
	}
	n := g.rng.IntN(total)
	for _, t := range tokens {
		if n < t.weight {
			return t.token
		}
		n -= t.weight
	}
	return tokens[0].token
}

// Orders generates n order stories. Stock runs out now and then (out_of_stock), and is
// delivered again (an adjustment) once it runs low.
func (g *Generator) Orders(n int) []Append {
	var out []Append
	for range n {
		g.order(&out)
	}
	return out
}

func (g *Generator) order(out *[]Append) {
	g.tick(5*time.Second, 90*time.Second)
	currency := "EUR"
	if g.rng.IntN(5) == 0 && len(g.products["USD"]) > 0 {
		currency = "USD"
	}
	catalogue := g.products[currency]
	customer := g.customers[g.rng.IntN(len(g.customers))]
	orderID := g.id()
	token := g.token()
	placeToken := token
	if token == "pending" {
		placeToken = "tok_visa"
	}
	customerMeta := eventstore.Metadata{Actor: "user:" + customer.String(), CorrelationID: uuid.UUID(orderID)}
	saga := eventstore.Metadata{Actor: "saga:order", CorrelationID: uuid.UUID(orderID)}

	// A few distinct products; now and then more than is in stock.
	lines := 1 + g.rng.IntN(4)
	picked := map[int]bool{}
	var items []order.PricedItem
	var chosen []*catalogueItem
	for len(items) < lines && len(picked) < len(catalogue) {
		i := g.rng.IntN(len(catalogue))
		if picked[i] {
			continue
		}
		picked[i] = true
		it := catalogue[i]
		qty := 1 + g.rng.Int64N(3)
		if g.rng.IntN(40) == 0 {
			qty = 1 + it.inventory.Available() // more than available: out of stock
		}
		items = append(items, order.PricedItem{ProductID: it.id, SKU: it.agg.SKU(), Name: it.agg.Name(), UnitPrice: it.agg.Price(), Quantity: min(qty, order.MaxQuantity)})
		chosen = append(chosen, it)
	}
	o := &order.Order{}
	orderStream := eventstore.Stream{Type: order.StreamType, ID: order.StreamID(orderID)}
	evs, err := o.DecidePlace(order.Place{OrderID: orderID, CustomerID: customer, Items: items, PaymentToken: placeToken, At: g.clock})
	g.emit(out, orderStream, customerMeta, evs, err)
	evolve(o, evs)

	// Reserve each line.
	g.tick(100*time.Millisecond, 2*time.Second)
	var reserved []*catalogueItem
	outOfStock := false
	for i, it := range chosen {
		evs, err := it.inventory.DecideReserve(product.Reserve{ProductID: it.id, OrderID: orderID, Quantity: items[i].Quantity, ExpiresAt: g.clock.Add(15 * time.Minute)})
		if domain.HasCode(err, product.CodeInsufficientStock) {
			outOfStock = true
			break
		}
		g.emit(out, inventoryStream(it.id), saga, evs, err)
		evolve(it.inventory, evs)
		reserved = append(reserved, it)
	}
	cancel := func(reason order.CancelReason, detail string) {
		for _, it := range reserved {
			evs, err := it.inventory.DecideRelease(product.Release{OrderID: orderID, Reason: string(reason)})
			g.emit(out, inventoryStream(it.id), saga, evs, err)
			evolve(it.inventory, evs)
		}
		evs, err := o.DecideCancel(order.Cancel{Reason: reason, Detail: detail})
		g.emit(out, orderStream, saga, evs, err)
		evolve(o, evs)
	}
	defer func() {
		// Deliveries when stock runs low.
		for _, it := range chosen {
			if it.inventory.Available() < 10 {
				g.restock(out, it, 100+g.rng.Int64N(100))
			}
		}
	}()
	if outOfStock {
		cancel(order.ReasonOutOfStock, "")
		return
	}

	g.tick(100*time.Millisecond, 3*time.Second)
	pay := &payment.Payment{}
	payStream := eventstore.Stream{Type: payment.StreamType, ID: payment.StreamID(orderID)}
	switch token {
	case "pending":
		return // still waiting for the payment provider
	case "tok_timeout":
		cancel(order.ReasonTimeout, "the payment provider did not answer")
		return
	case "tok_chargeDeclined":
		evs, err := pay.DecideDecline(payment.Decline{OrderID: orderID, Reason: "card_declined", ProviderCode: "card_declined"})
		g.emit(out, payStream, saga, evs, err)
		cancel(order.ReasonPaymentDeclined, "card_declined")
		return
	case "tok_riskLevelHighest":
		evs, err := pay.DecideFlagFraud(payment.FlagFraud{OrderID: orderID, Reasons: []string{"highest_risk_level"}, Score: 90 + g.rng.IntN(11)})
		g.emit(out, payStream, saga, evs, err)
		cancel(order.ReasonFraudSuspected, "")
		return
	}
	g.seq++
	ref := fmt.Sprintf("sim_%d", g.seq)
	evs, err = pay.DecideAuthorize(payment.Authorize{OrderID: orderID, Amount: o.Total(), Provider: "simulator", ProviderReference: ref, At: g.clock})
	g.emit(out, payStream, saga, evs, err)
	evolve(pay, evs)
	evs, err = pay.DecideCapture(payment.Capture{Amount: o.Total(), ProviderReference: ref + "_capture"})
	g.emit(out, payStream, saga, evs, err)
	evolve(pay, evs)
	for _, it := range reserved {
		evs, err := it.inventory.DecideCommit(product.Commit{OrderID: orderID})
		g.emit(out, inventoryStream(it.id), saga, evs, err)
		evolve(it.inventory, evs)
	}
	evs, err = o.DecideConfirm()
	g.emit(out, orderStream, saga, evs, err)
	evolve(o, evs)

	if g.rng.IntN(20) == 0 { // the customer changes their mind
		at := g.clock
		g.clock = g.clock.Add(time.Hour)
		evs, err := pay.DecideRefund(payment.Refund{Amount: o.Total()})
		g.emit(out, payStream, saga, evs, err)
		evolve(pay, evs)
		evs, err = o.DecideCancel(order.Cancel{Reason: order.ReasonCancelledByUser, Detail: "changed my mind"})
		g.emit(out, orderStream, customerMeta, evs, err)
		evolve(o, evs)
		g.clock = at
	}
	if g.rng.IntN(50) == 0 { // a price change
		it := chosen[0]
		price := it.agg.Price()
		price.Cents += 100
		evs, err := it.agg.DecideReprice(product.Reprice{Price: price})
		g.emit(out, eventstore.Stream{Type: product.StreamType, ID: product.StreamID(it.id)}, eventstore.Metadata{Actor: "user:admin"}, evs, err)
		evolve(it.agg, evs)
	}
}

func inventoryStream(id domain.ID) eventstore.Stream {
	return eventstore.Stream{Type: product.InventoryStreamType, ID: product.InventoryStreamID(id)}
}

// NewEvents encodes a's events for the store, with ids derived from the stream and
// version (so that encoding twice gives the same ids).
func (a Append) NewEvents(codec *schemas.Codec) ([]eventstore.NewEvent, error) {
	out := make([]eventstore.NewEvent, len(a.Events))
	for i, e := range a.Events {
		enc, err := codec.Encode(e)
		if err != nil {
			return nil, err
		}
		out[i] = eventstore.NewEvent{
			ID:   uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%s@%d", a.Stream.ID, a.Expected+int64(i)+1)),
			Type: enc.Type, SchemaVersion: enc.Version, SchemaFingerprint: enc.Fingerprint, Payload: enc.Payload,
			OccurredAt: a.At, Metadata: a.Meta,
		}
	}
	return out, nil
}

// Stored returns the appends as stored events, as if appended in order to an empty
// store whose clock is the simulated one: for tests and benchmarks without Postgres.
func Stored(appends []Append, codec *schemas.Codec) ([]eventstore.Event, error) {
	var out []eventstore.Event
	for _, a := range appends {
		nes, err := a.NewEvents(codec)
		if err != nil {
			return nil, err
		}
		for i, ne := range nes {
			out = append(out, eventstore.Event{
				ID: ne.ID, StreamID: a.Stream.ID, StreamType: a.Stream.Type, Version: a.Expected + int64(i) + 1,
				Position: int64(len(out)) + 1, Type: ne.Type, SchemaVersion: ne.SchemaVersion,
				SchemaFingerprint: ne.SchemaFingerprint, OccurredAt: ne.OccurredAt, RecordedAt: ne.OccurredAt,
				Metadata: ne.Metadata, Payload: ne.Payload,
			})
		}
	}
	return out, nil
}

// Count returns the number of events in appends.
func Count(appends []Append) int {
	n := 0
	for _, a := range appends {
		n += len(a.Events)
	}
	return n
}

// Load appends to store with workers goroutines, quickly: the appends of each stream
// are merged into as few store appends as possible (at most 5000 events each), in
// order, and streams are spread over the workers by a hash of their id. Events keep
// their own occurred-at times. It returns the first error.
func Load(ctx context.Context, store eventstore.Store, appends []Append, workers int) error {
	codec := schemas.Default()
	type streamQueue struct {
		stream   eventstore.Stream
		expected int64
		events   []eventstore.NewEvent
	}
	queues := make([][]*streamQueue, workers)
	byStream := map[string]*streamQueue{}
	for _, a := range appends {
		nes, err := a.NewEvents(codec)
		if err != nil {
			return err
		}
		q := byStream[a.Stream.ID]
		if q == nil {
			q = &streamQueue{stream: a.Stream, expected: a.Expected}
			byStream[a.Stream.ID] = q
			h := fnv.New32a()
			h.Write([]byte(a.Stream.ID))
			w := int(h.Sum32() % uint32(workers))
			queues[w] = append(queues[w], q)
		}
		q.events = append(q.events, nes...)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for _, qs := range queues {
		wg.Go(func() {
			for _, q := range qs {
				for from := 0; from < len(q.events); from += 5000 {
					chunk := q.events[from:min(from+5000, len(q.events))]
					if _, err := store.Append(ctx, q.stream, eventstore.Exact(q.expected+int64(from)), chunk...); err != nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = fmt.Errorf("append %s@%d: %w", q.stream.ID, q.expected+int64(from), err)
						}
						mu.Unlock()
						return
					}
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}
