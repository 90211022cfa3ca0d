package bench

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/domain/product"
	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/eventstore/record"
	"github.com/ordo-platform/ordo/internal/kafka"
	"github.com/ordo-platform/ordo/internal/stopwatch"
	"github.com/ordo-platform/ordo/internal/topic"
	"github.com/ordo-platform/ordo/projections"
)

func init() {
	Register(Scenario{
		Name: "rebuild", Unit: "events/s",
		Doc: "projections.Rebuild (ordo replay) of the orders and the products read models from a store of " +
			"commerce events (each rebuild reads the whole store); ceiling: raw COPY of the same events out of the " +
			"store (binary, once per read model) plus raw COPY of the resulting rows into identical tables",
		Run: runRebuild,
	})
	Register(Scenario{
		Name: "project", Unit: "events/s",
		Doc: "the live projectors (orders, products: consumer groups, decoding, the read-model transactions with " +
			"their offsets) consuming a Kafka backlog of commerce events; ceiling: raw franz-go consuming the same " +
			"records plus raw COPY of the resulting rows into identical tables",
		Run: runProject,
	})
	Register(Scenario{
		Name: "project-lag", Unit: "s to zero lag (lower is better)", LowerIsBetter: true,
		Doc: "seconds from the end of a burst of 100k events on Kafka until the live projectors have applied all " +
			"of it (lag back to zero); ceiling: the 5 s that issue 5 allows, not a library (ratio = 5 s / ours, " +
			"at least 1 meets it)",
		Run: runProjectLag,
	})
}

// readModels are the tables a projection writes and the columns a COPY writes (a
// generated column, stock_available, is left out).
var readModels = []struct {
	projection, view, raw string
	columns               []string
}{
	{projections.Orders, "read_orders", "raw_orders", []string{"id", "customer_id", "status", "status_reason", "status_detail",
		"items", "total_cents", "currency", "version", "position", "placed_at", "updated_at", "confirmed_at", "cancelled_at"}},
	{projections.Products, "read_products", "raw_products", []string{"id", "sku", "name", "description", "price_cents",
		"currency", "discontinued", "on_hand", "reserved", "product_version", "inventory_version", "position", "created_at",
		"updated_at"}},
}

// rowSet is a read model's rows as the ceiling COPYs them.
type rowSet [][][]any

// snapshotRows reads the rows of the active versions of pool's read models, and
// creates in target (when not nil) the ceiling's tables, identical to the active ones.
func snapshotRows(ctx context.Context, pool *pgxpool.Pool, target *pgxpool.Pool) (rowSet, error) {
	var schema string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return nil, err
	}
	statuses, err := projections.List(ctx, pool)
	if err != nil {
		return nil, err
	}
	out := make(rowSet, len(readModels))
	for i, m := range readModels {
		rows, err := pool.Query(ctx, `SELECT `+strings.Join(m.columns, ", ")+` FROM `+m.view)
		if err != nil {
			return nil, err
		}
		out[i], err = pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]any, error) { return r.Values() })
		if err != nil {
			return nil, err
		}
		if target == nil {
			continue
		}
		version := 0
		for _, st := range statuses {
			if v, ok := st.Active(); ok && st.Name == m.projection {
				version = v.Version
			}
		}
		table := pgx.Identifier{schema, fmt.Sprintf("read_%s_v%d", m.projection, version)}.Sanitize()
		if _, err := target.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+m.raw+` (LIKE `+table+` INCLUDING ALL)`); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// copyRows COPYs rows into the ceiling's tables (emptied first, not timed) and returns
// the time the COPYs took.
func copyRows(ctx context.Context, pool *pgxpool.Pool, rows rowSet) (time.Duration, error) {
	for _, m := range readModels {
		if _, err := pool.Exec(ctx, `TRUNCATE `+m.raw); err != nil {
			return 0, err
		}
	}
	sw := stopwatch.Start(ctx)
	for i, m := range readModels {
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{m.raw}, m.columns, pgx.CopyFromRows(rows[i])); err != nil {
			return 0, fmt.Errorf("copy %s: %w", m.raw, err)
		}
	}
	return sw.Stop(), nil
}

func runRebuild(ctx context.Context, env Env) (float64, float64, int, error) {
	pool, drop, err := ScratchSchema(ctx, env, postgres.Migrations(), projections.Migrations())
	if err != nil {
		return 0, 0, 0, err
	}
	defer drop()
	store, err := postgres.New(ctx, pool)
	if err != nil {
		return 0, 0, 0, err
	}
	defer store.Close()
	if err := projections.Setup(ctx, pool); err != nil {
		return 0, 0, 0, err
	}
	head, err := seedCommerce(ctx, store, env.N(200_000))
	if err != nil {
		return 0, 0, 0, err
	}
	if err := waitVisible(ctx, store, head); err != nil {
		return 0, 0, 0, err
	}

	var rows rowSet
	ours := func(ctx context.Context, _ int) (int, time.Duration, error) {
		var (
			n int
			d time.Duration
		)
		for _, m := range readModels {
			sw := stopwatch.Start(ctx) // for --cpu; the rebuild times itself
			res, err := projections.Rebuild(ctx, pool, store, m.projection, projections.RebuildOptions{})
			sw.Stop()
			if err != nil {
				return 0, 0, err
			}
			n, d = n+int(res.Events), d+res.Duration
			if _, err := projections.DropRetired(ctx, pool, m.projection); err != nil {
				return 0, 0, err
			}
		}
		if rows == nil {
			var err error
			if rows, err = snapshotRows(ctx, pool, pool); err != nil {
				return 0, 0, err
			}
		}
		return n, d, nil
	}
	ceiling := func(ctx context.Context, _ int) (int, time.Duration, error) {
		if rows == nil {
			return 0, 0, fmt.Errorf("rebuild ceiling before a rebuild")
		}
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return 0, 0, err
		}
		defer conn.Release()
		n := 0
		sw := stopwatch.Start(ctx)
		for range readModels { // each rebuild reads the whole store
			tag, err := conn.Conn().PgConn().CopyTo(ctx, io.Discard, `COPY (SELECT position, id, stream_id, stream_type,
				version, type, schema_version, schema_fingerprint, occurred_at, recorded_at, correlation_id, causation_id,
				actor, traceparent, payload FROM events ORDER BY position) TO STDOUT (FORMAT binary)`)
			if err != nil {
				return 0, 0, err
			}
			n += int(tag.RowsAffected())
		}
		d := sw.Stop()
		cd, err := copyRows(ctx, pool, rows)
		return n, d + cd, err
	}
	return Alternate(ctx, 2, ours, ceiling)
}

func waitVisible(ctx context.Context, store eventstore.Store, position int64) error {
	deadline := time.Now().Add(time.Minute)
	for {
		head, err := store.HeadPosition(ctx)
		if err != nil {
			return err
		}
		if head >= position {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("position %d not visible after a minute (a transaction left open?)", position)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// projectEnv is a store with commerce events, the same events as records on Kafka, and
// what the projectors need around them.
type projectEnv struct {
	env     Env
	pool    *pgxpool.Pool // the store's schema, also holding the ceiling's tables
	store   *postgres.Store
	names   topic.Names
	topics  []string
	adm     *kadm.Client
	raw     *kgo.Client // raw producer and admin
	factory *kafka.Factory
	records int
	cleanup []func()
}

func newProjectEnv(ctx context.Context, env Env) (*projectEnv, error) {
	p := &projectEnv{env: env, names: topic.Names{Prefix: RandomName("bench")}}
	pool, drop, err := ScratchSchema(ctx, env, postgres.Migrations())
	if err != nil {
		return nil, err
	}
	p.cleanup = append(p.cleanup, drop)
	p.pool = pool
	if p.store, err = postgres.New(ctx, pool); err != nil {
		p.close()
		return nil, err
	}
	p.cleanup = append(p.cleanup, p.store.Close)
	if p.raw, err = kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(env.KafkaBrokers...)}, kafka.ProducerOptions()...)...); err != nil {
		p.close()
		return nil, err
	}
	p.cleanup = append(p.cleanup, p.raw.Close)
	p.adm = kadm.NewClient(p.raw)
	if _, err := topic.Ensure(ctx, p.adm, p.names, topic.DefaultConfig()); err != nil {
		p.close()
		return nil, err
	}
	p.cleanup = append(p.cleanup, func() {
		_, _ = p.adm.DeleteTopics(context.Background(), append(p.names.Events(), p.names.DeadLetter())...)
	})
	for _, st := range []string{order.StreamType, product.StreamType, product.InventoryStreamType} {
		t, err := p.names.ForStreamType(st)
		if err != nil {
			p.close()
			return nil, err
		}
		p.topics = append(p.topics, t)
	}
	p.factory = &kafka.Factory{Brokers: env.KafkaBrokers, Registerer: prometheus.NewRegistry(), Tracing: env.Tracing}
	return p, nil
}

func (p *projectEnv) close() {
	for i := len(p.cleanup) - 1; i >= 0; i-- {
		p.cleanup[i]()
	}
}

// seed appends n commerce events to the store and returns their records, not produced.
func (p *projectEnv) seed(ctx context.Context, n int) ([]*kgo.Record, error) {
	from, err := p.store.HeadPosition(ctx)
	if err != nil {
		return nil, err
	}
	head, err := seedCommerce(ctx, p.store, n)
	if err != nil {
		return nil, err
	}
	evs, err := readAllEvents(ctx, p.store, from, head)
	if err != nil {
		return nil, err
	}
	recs := make([]*kgo.Record, len(evs))
	for i, e := range evs {
		if recs[i], err = record.FromEvent(e, p.names); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

func (p *projectEnv) produce(ctx context.Context, recs []*kgo.Record) error {
	if err := p.raw.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return err
	}
	p.records += len(recs)
	return nil
}

// projectors runs the live projectors of both read models into a read-model schema of
// its own; stop stops them.
type projectors struct {
	pool *pgxpool.Pool
	stop func()
	errc chan error
}

func (p *projectEnv) startProjectors(ctx context.Context, pool *pgxpool.Pool, group string) (*projectors, error) {
	cfg := projections.DefaultConfig()
	cfg.Topics = p.names
	cfg.GroupPrefix = group + "-"
	newClient := func(opts ...kgo.Opt) (*kgo.Client, error) { return p.factory.New("project", opts...) }
	rctx, cancel := context.WithCancel(ctx)
	pr := &projectors{pool: pool, errc: make(chan error, len(readModels))}
	var roles []*projections.Projector
	for _, m := range readModels {
		r, err := projections.NewProjector(m.projection, cfg, pool, p.store, newClient, p.env.Log)
		if err != nil {
			cancel()
			return nil, err
		}
		roles = append(roles, r)
		go func() { pr.errc <- r.Start(rctx) }()
	}
	pr.stop = func() {
		cancel()
		for _, r := range roles {
			r.Stop()
		}
		for range roles {
			<-pr.errc //nolint:errcheck // stopping: what a role returned then is of no use
		}
	}
	return pr, nil
}

// readModelSchema is a fresh schema with the projection registry and active (empty)
// read models.
func (p *projectEnv) readModelSchema(ctx context.Context) (*pgxpool.Pool, func(), error) {
	pool, drop, err := ScratchSchema(ctx, p.env, projections.Migrations())
	if err != nil {
		return nil, nil, err
	}
	if err := projections.Setup(ctx, pool); err != nil {
		drop()
		return nil, nil, err
	}
	return pool, drop, nil
}

// caughtUp reports whether the projectors have applied every record on their topics.
func (p *projectEnv) waitCaughtUp(ctx context.Context, pr *projectors, timeout time.Duration) error {
	ends, err := p.adm.ListEndOffsets(ctx, p.topics...)
	if err != nil {
		return err
	}
	var want int64
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	deadline := time.Now().Add(timeout)
	for {
		var got int64
		if err := pr.pool.QueryRow(ctx, `SELECT coalesce(sum(o.next_offset), 0)::bigint FROM projection_offsets o
			JOIN projection_versions v ON v.name = o.name AND v.version = o.version AND v.state = 'active'`).Scan(&got); err != nil {
			return err
		}
		if got >= want {
			return nil
		}
		select {
		case err := <-pr.errc:
			return fmt.Errorf("projector stopped: %w", err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("projectors at %d of %d records after %s", got, want, timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func runProject(ctx context.Context, env Env) (float64, float64, int, error) {
	p, err := newProjectEnv(ctx, env)
	if err != nil {
		return 0, 0, 0, err
	}
	defer p.close()
	recs, err := p.seed(ctx, env.N(200_000))
	if err != nil {
		return 0, 0, 0, err
	}
	if err := p.produce(ctx, recs); err != nil {
		return 0, 0, 0, err
	}

	var rows rowSet
	ours := func(ctx context.Context, round int) (int, time.Duration, error) {
		// The clock runs from the projectors' start (joining their groups included) to
		// the last offset stored; the read model's fresh schema is set up before.
		rm, drop, err := p.readModelSchema(ctx)
		if err != nil {
			return 0, 0, err
		}
		defer drop()
		sw := stopwatch.Start(ctx)
		pr, err := p.startProjectors(ctx, rm, fmt.Sprintf("%s-r%d", p.names.Prefix, round))
		if err != nil {
			return 0, 0, err
		}
		err = p.waitCaughtUp(ctx, pr, 10*time.Minute)
		d := sw.Stop()
		pr.stop()
		if err != nil {
			return 0, 0, err
		}
		if rows == nil {
			if rows, err = snapshotRows(ctx, pr.pool, p.pool); err != nil {
				return 0, 0, err
			}
		}
		return len(recs), d, nil
	}
	ceiling := func(ctx context.Context, _ int) (int, time.Duration, error) {
		if rows == nil {
			return 0, 0, fmt.Errorf("project ceiling before a projection")
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(env.KafkaBrokers...), kgo.ConsumeTopics(p.topics...),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			return 0, 0, err
		}
		defer cl.Close()
		sw := stopwatch.Start(ctx)
		for n := 0; n < len(recs); {
			fs := cl.PollRecords(ctx, 10000)
			if err := fs.Err0(); err != nil {
				return 0, 0, err
			}
			n += fs.NumRecords()
		}
		d := sw.Stop()
		cd, err := copyRows(ctx, p.pool, rows)
		return len(recs), d + cd, err
	}
	return Alternate(ctx, 2, ours, ceiling)
}

// projectLagTarget is issue 5's bound on the lag after a burst.
const projectLagTarget = 5 * time.Second

func runProjectLag(ctx context.Context, env Env) (float64, float64, int, error) {
	p, err := newProjectEnv(ctx, env)
	if err != nil {
		return 0, 0, 0, err
	}
	defer p.close()
	// A caught-up live projection first, then a burst it has not seen.
	warm, err := p.seed(ctx, 5_000)
	if err != nil {
		return 0, 0, 0, err
	}
	burst, err := p.seed(ctx, env.N(100_000))
	if err != nil {
		return 0, 0, 0, err
	}
	if err := p.produce(ctx, warm); err != nil {
		return 0, 0, 0, err
	}
	rm, drop, err := p.readModelSchema(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	defer drop()
	pr, err := p.startProjectors(ctx, rm, p.names.Prefix)
	if err != nil {
		return 0, 0, 0, err
	}
	defer pr.stop()
	if err := p.waitCaughtUp(ctx, pr, 5*time.Minute); err != nil {
		return 0, 0, 0, err
	}
	if err := p.produce(ctx, burst); err != nil {
		return 0, 0, 0, err
	}
	end := time.Now()
	if err := p.waitCaughtUp(ctx, pr, 5*time.Minute); err != nil {
		return 0, 0, 0, err
	}
	lag := time.Since(end)
	return lag.Seconds(), projectLagTarget.Seconds(), len(burst), nil
}
