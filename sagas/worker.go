package sagas

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/app"
	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/eventstore/record"
	"github.com/ordo-platform/ordo/internal/consumer"
	"github.com/ordo-platform/ordo/internal/lifecycle"
	pgpool "github.com/ordo-platform/ordo/internal/postgres"
	"github.com/ordo-platform/ordo/sagas/psp"
)

// Deps are what a worker runs on.
type Deps struct {
	// Store is the event store; its pool also holds the saga tables.
	Store *postgres.Store
	// TxPool, when set, is the pool the saga's step transactions run on. It must not
	// be Store's pool: a step transaction holds a connection of TxPool while app.Load
	// reads streams through Store's pool, and sharing one pool could exhaust it with
	// transactions that each wait for a second connection. When nil, the worker opens
	// one (a copy of Store's pool configuration with TxConns connections) and closes
	// it when it stops.
	TxPool *pgxpool.Pool
	// TxConns sizes the pool the worker opens when TxPool is nil (default 32: a step
	// transaction is a few round trips, and under load the sagas queue for these
	// connections, not for the database's CPU).
	TxConns int32
	// PSP is the payment provider.
	PSP psp.Provider
	// NewKafkaClient makes the consumer's franz-go client (brokers and base options
	// included).
	NewKafkaClient func(opts ...kgo.Opt) (*kgo.Client, error)
	Log            *slog.Logger
}

// Worker is the saga role: it takes orders in from Kafka, runs their sagas and the
// timer loop. Any number of workers run side by side (see the package comment).
type Worker struct {
	lifecycle.Stopper
	cfg   Config
	deps  Deps
	env   *app.Env
	store *store
	log   *slog.Logger
	id    string

	txPool   *pgxpool.Pool
	mu       sync.Mutex
	consumer *consumer.Consumer
	group    string

	slots chan struct{}
	runs  sync.WaitGroup
	// dueLeft: sagas were left due for want of a slot (an intake beyond MaxInFlight, or a
	// claim that filled the slots), so freed slots wake the timer loop (wake) instead of
	// idling until its next tick.
	dueLeft atomic.Bool
	wake    chan struct{}
	runCtx  atomic.Pointer[context.Context]
	seq     atomic.Int64
}

// New returns a worker. Start validates the configuration.
func New(cfg Config, d Deps) *Worker {
	if cfg.WorkerID == "" {
		host, _ := os.Hostname()
		var b [3]byte
		_, _ = crand.Read(b[:])
		cfg.WorkerID = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	w := &Worker{
		cfg:   cfg,
		deps:  d,
		log:   d.Log.With("role", "saga", "worker", cfg.WorkerID),
		id:    cfg.WorkerID,
		slots: make(chan struct{}, max(cfg.MaxInFlight, 1)),
		wake:  make(chan struct{}, 1),
	}
	if d.Store != nil { // else Start reports it
		w.env, w.store = app.NewEnv(d.Store), &store{pool: d.Store.Pool()}
	}
	return w
}

// Name implements lifecycle.Role.
func (w *Worker) Name() string { return "saga" }

// Assigned returns the orders topic's partitions this worker takes orders from now.
func (w *Worker) Assigned() []int32 {
	w.mu.Lock()
	c := w.consumer
	w.mu.Unlock()
	if c == nil {
		return nil
	}
	var out []int32
	for _, ps := range c.Assigned() {
		out = append(out, ps...)
	}
	return out
}

// ID returns the worker's id, as it appears in leases and the step log.
func (w *Worker) ID() string { return w.id }

// Start runs the worker until it is stopped: the Kafka intake, the sagas it takes,
// and the timer loop. On a stop it finishes nothing half-way: running steps are
// abandoned (their effects are idempotent) and the sagas it held are handed back at
// once.
func (w *Worker) Start(ctx context.Context) error {
	ctx, done := w.Begin(ctx)
	defer done()
	if err := w.cfg.Validate(); err != nil {
		return err
	}
	var errs []error
	if w.deps.Store == nil {
		errs = append(errs, errors.New("saga: no event store"))
	}
	if w.deps.PSP == nil {
		errs = append(errs, errors.New("saga: no payment provider"))
	}
	if w.deps.NewKafkaClient == nil {
		errs = append(errs, errors.New("saga: no kafka client constructor"))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	w.txPool = w.deps.TxPool
	if w.txPool == nil {
		pcfg := w.deps.Store.Pool().Config().Copy()
		pcfg.MaxConns = w.deps.TxConns
		if pcfg.MaxConns <= 0 {
			pcfg.MaxConns = 32
		}
		pcfg.MinConns = 0
		pool, err := pgxpool.NewWithConfig(ctx, pcfg)
		if err != nil {
			return fmt.Errorf("saga: transaction pool: %w", err)
		}
		defer pool.Close()
		w.txPool = pool
	}
	// Everything runs under cctx: a stop, or the consumer failing, ends it all.
	cctx, stopAll := context.WithCancel(ctx)
	defer stopAll()
	w.runCtx.Store(&cctx)

	orders, err := w.cfg.Topics.ForStreamType(order.StreamType)
	if err != nil {
		return err
	}
	w.group = GroupFor(w.cfg.Topics)
	cons := consumer.New(consumer.Config{
		Group:           w.group,
		Topics:          []string{orders},
		DeadLetterTopic: w.cfg.Topics.DeadLetter(),
		Offsets:         w.store,
		MaxPollRecords:  1000,
		MaxRetryBackoff: w.cfg.MaxRetryBackoff,
		// Each partition's intake is a transaction of its own (rows and offset): they
		// need not wait for each other.
		ParallelPartitions: true,
	}, consumer.HandlerFunc(w.intake), w.deps.NewKafkaClient, w.log)
	w.mu.Lock()
	w.consumer = cons
	w.mu.Unlock()

	w.log.Info("saga worker starting")
	var (
		bg      sync.WaitGroup
		consErr error
	)
	bg.Go(func() {
		consErr = cons.Start(cctx)
		stopAll() // the consumer failing stops the worker
	})
	bg.Go(func() { w.timers(cctx) })
	<-cctx.Done()
	cons.Stop()
	bg.Wait()
	stopAll()
	// Running sagas see the stop (their context is cctx) and return; then hand back
	// whatever this worker still holds, so other workers go on at once instead of
	// waiting for the leases to run out.
	w.stopRuns()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if n, err := w.store.releaseOwned(rctx, w.id+"#"); err != nil {
		w.log.Warn("could not hand back sagas; their leases will run out", "err", err)
	} else if n > 0 {
		w.log.Info("handed back sagas", "sagas", n)
	}
	if consErr != nil && !errors.Is(consErr, context.Canceled) {
		return consErr
	}
	return nil
}

func (w *Worker) stopRuns() {
	w.runs.Wait()
}

// token returns a new lease token: the worker id and a sequence number, so that two
// claims of the same saga by one worker are still told apart.
func (w *Worker) token() string {
	return fmt.Sprintf("%s#%d", w.id, w.seq.Add(1))
}

// tryAcquire reserves up to n run slots without waiting and returns how many it got.
func (w *Worker) tryAcquire(n int) int {
	got := 0
	for ; got < n; got++ {
		select {
		case w.slots <- struct{}{}:
		default:
			return got
		}
	}
	return got
}

func (w *Worker) release(n int) {
	for range n {
		<-w.slots
	}
	w.wakeIfRoom()
}

// leftDue records that sagas were left due for want of a slot. The slots may all have
// been freed meanwhile (before the flag was up), hence the check of its own.
func (w *Worker) leftDue() {
	w.dueLeft.Store(true)
	w.wakeIfRoom()
}

// wakeIfRoom wakes the timer loop when sagas were left due and enough slots are free
// for a claim worth its statement.
func (w *Worker) wakeIfRoom() {
	if w.dueLeft.Load() && cap(w.slots)-len(w.slots) >= wakeSlots(cap(w.slots)) {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// wakeSlots is how many free slots make the timer loop claim due sagas before its tick.
func wakeSlots(capacity int) int { return max(1, min(32, capacity/8)) }

// run drives a claimed saga in its own goroutine, holding one slot (already acquired).
func (w *Worker) run(s *Saga) {
	ctxp := w.runCtx.Load()
	if ctxp == nil || (*ctxp).Err() != nil {
		w.release(1)
		return
	}
	ctx := *ctxp
	w.runs.Add(1)
	metricInFlight.Inc()
	go func() {
		defer w.runs.Done()
		defer metricInFlight.Dec()
		defer w.release(1)
		w.drive(ctx, s)
	}()
}

// kick claims and runs a saga made due, if this worker has a free slot; otherwise
// the timer loop of some worker takes it.
func (w *Worker) kick(orderID domain.ID) {
	if w.tryAcquire(1) == 0 {
		return
	}
	ctxp := w.runCtx.Load()
	if ctxp == nil || (*ctxp).Err() != nil {
		w.release(1)
		return
	}
	s, err := w.store.claim(*ctxp, orderID, w.token(), w.cfg.Lease)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			w.log.Warn("claim saga", "order_id", orderID, "err", err)
		}
		w.release(1)
		return
	}
	w.run(s)
}

// intake is the Kafka handler: one transaction per batch creates the sagas of the
// placed orders, flags the sagas of orders cancelled by someone else, and stores the
// partition's offset, so intake is exactly-once. The new sagas this worker has room
// for are created leased to it and run at once; the rest are created due, for any
// worker's timer loop.
func (w *Worker) intake(ctx context.Context, b consumer.Batch) error {
	var (
		placed  []*Saga
		cancels []domain.ID
	)
	now := time.Now().UTC()
	for _, r := range b.Records {
		s, cancelled, err := w.decode(r, now)
		if err != nil {
			if err := b.DeadLetter(ctx, r, err); err != nil {
				return err
			}
			continue
		}
		switch {
		case s != nil:
			placed = append(placed, s)
		case !cancelled.IsZero():
			cancels = append(cancels, cancelled)
		}
	}
	got := w.tryAcquire(len(placed))
	owned := make(map[domain.ID]string, got)
	for _, s := range placed[:got] {
		owned[s.OrderID] = w.token()
	}
	var (
		created []*Saga
		due     []domain.ID
	)
	// The shared pool: intake holds one connection and needs no other, and must not wait
	// behind the step transactions. BEGIN goes with the inserts, the offset with COMMIT.
	err := pgpool.InPipe(ctx, w.store.pool, func(tx *pgpool.PipeTx) (*pgx.Batch, error) {
		var err error
		if created, err = w.store.insert(ctx, tx, placed, owned, w.cfg.Lease); err != nil {
			return nil, err
		}
		if due, err = w.store.requestCancel(ctx, tx, cancels); err != nil {
			return nil, err
		}
		offset := &pgx.Batch{}
		queueOffset(offset, w.group, b.Topic, b.Partition, b.Records[len(b.Records)-1].Offset+1)
		return offset, nil
	})
	if err != nil {
		w.release(got)
		return fmt.Errorf("saga intake %s/%d: %w", b.Topic, b.Partition, err)
	}
	if got < len(placed) { // committed: some sagas were created due
		w.leftDue()
	}
	started := 0
	for _, s := range created {
		if s.Owner != "" {
			w.run(s)
			started++
		}
	}
	w.release(got - started)
	for _, id := range due {
		w.kick(id)
	}
	return nil
}

// decode reads one record of the orders topic: a new saga for order.placed, the order
// id for order.cancelled, nothing for the rest. An error means the record cannot be
// handled (it goes to the dead-letter topic).
func (w *Worker) decode(r *kgo.Record, now time.Time) (*Saga, domain.ID, error) {
	e, err := record.ToEvent(r)
	if err != nil {
		return nil, domain.ID{}, err
	}
	if e.Type != order.TypePlaced && e.Type != order.TypeCancelled {
		return nil, domain.ID{}, nil
	}
	ev, err := w.env.Codec.Decode(e.Type, e.SchemaVersion, e.Payload)
	if err != nil {
		return nil, domain.ID{}, fmt.Errorf("decode %s %s@%d: %w", e.Type, e.StreamID, e.Version, err)
	}
	switch ev := ev.(type) {
	case order.Placed:
		items := make([]Item, len(ev.Items))
		for i, it := range ev.Items {
			items[i] = Item{ProductID: it.ProductID, Quantity: it.Quantity}
		}
		sort.Slice(items, func(i, j int) bool { return items[i].ProductID.String() < items[j].ProductID.String() })
		corr := e.Metadata.CorrelationID
		if corr == uuid.Nil {
			corr = uuid.UUID(ev.OrderID)
		}
		return &Saga{
			OrderID: ev.OrderID, CustomerID: ev.CustomerID, Items: items,
			Total: domain.Money{Cents: ev.TotalCents, Currency: ev.Currency}, PaymentToken: ev.PaymentToken,
			PlacedAt: ev.PlacedAt, CorrelationID: corr, CausationID: e.ID, TraceParent: e.Metadata.TraceParent,
			State: StateReserving, Step: StepReserve, Deadline: now.Add(w.cfg.ReserveTimeout),
		}, domain.ID{}, nil
	case order.Cancelled:
		return nil, ev.OrderID, nil
	}
	return nil, domain.ID{}, fmt.Errorf("decode %s: unexpected %T", e.Type, ev)
}

// timers is the timer loop: it claims due sagas (retries, timers, sagas of workers that
// died), sweeps expired reservations and refreshes the compensation_failed and
// oldest-pending gauges.
func (w *Worker) timers(ctx context.Context) {
	poll := time.NewTicker(w.cfg.PollInterval)
	defer poll.Stop()
	sweep := time.NewTicker(w.cfg.SweepInterval)
	defer sweep.Stop()
	w.refreshGauge(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
			w.pollDue(ctx)
		case <-w.wake:
			w.pollDue(ctx)
		case <-sweep.C:
			w.sweep(ctx)
			w.refreshGauge(ctx)
		}
	}
}

func (w *Worker) pollDue(ctx context.Context) {
	for ctx.Err() == nil {
		n := w.tryAcquire(100)
		if n == 0 {
			w.leftDue() // there may be more; freed slots wake this loop
			return
		}
		sagas, err := w.store.claimDue(ctx, w.token(), w.cfg.Lease, n)
		if err != nil {
			w.release(n)
			if ctx.Err() == nil {
				w.log.Warn("timer loop: claim due sagas", "err", err)
			}
			return
		}
		if len(sagas) < n {
			w.dueLeft.Store(false) // nothing else due now (until an intake leaves some)
		}
		w.release(n - len(sagas))
		for _, s := range sagas {
			w.run(s)
		}
		if len(sagas) < n {
			return
		}
	}
}

func (w *Worker) refreshGauge(ctx context.Context) {
	var n int64
	if err := w.store.pool.QueryRow(ctx, `SELECT count(*) FROM order_sagas WHERE state = 'compensation_failed'`).Scan(&n); err != nil {
		if ctx.Err() == nil {
			w.log.Warn("count compensation_failed sagas", "err", err)
		}
		return
	}
	metricCompensationFailed.Set(float64(n))
	// The oldest saga still on its way (the states of order_sagas_state_idx that are not
	// an end): what the OrdoSagaStuck alert watches.
	var age float64
	if err := w.store.pool.QueryRow(ctx, `SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
		FROM order_sagas WHERE state IN ('reserving', 'authorizing', 'capturing', 'confirming', 'compensating')`).Scan(&age); err != nil {
		if ctx.Err() == nil {
			w.log.Warn("age of the oldest pending saga", "err", err)
		}
		return
	}
	metricOldestPending.Set(max(age, 0))
}

// backoff returns the wait before attempt n+1 (n >= 1): doubling from RetryBackoff,
// capped, with full jitter on the upper half.
func (w *Worker) backoff(n int) time.Duration {
	d := w.cfg.RetryBackoff
	for i := 1; i < n && d < w.cfg.MaxRetryBackoff; i++ {
		d *= 2
	}
	d = min(d, w.cfg.MaxRetryBackoff)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
