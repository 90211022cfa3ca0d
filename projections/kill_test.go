package projections

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/ordo-platform/ordo/internal/testenv"
)

// TestProjectorSurvivesKill9 is issue 5's crash test: `ordo project`, a real child
// process running both projectors, is killed with SIGKILL 20 times while 100k events
// stream from the store through the relay and Kafka. Afterwards each partition's stored
// offset is at the end of its topic, nothing went to the dead-letter topic, and every
// read model equals a fold of the store by the domain's own Evolve functions, row
// versions included: an event applied twice would show in the stock counts (sums of
// deltas) or in a row's version, and one applied never would show as a missing or
// stale row.
//
// ORDO_PROJECTOR_KILL_EVENTS (default 100000) and ORDO_PROJECTOR_KILL_KILLS (default 20)
// size it.
func TestProjectorSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test: about two minutes; skipped with -short")
	}
	t.Parallel()
	total, kills := envInt("ORDO_PROJECTOR_KILL_EVENTS", 100_000), envInt("ORDO_PROJECTOR_KILL_KILLS", 20)
	began := time.Now()
	bin := testenv.BuildOrdo(t)
	f := newFixture(t)
	ctx := context.Background()
	var schema string
	require.NoError(t, f.pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema))
	level := os.Getenv("ORDO_TEST_CHILD_LOG_LEVEL")
	if level == "" {
		level = "warn"
	}
	env := testenv.Env(
		"ORDO_POSTGRES_URL="+testenv.SchemaURL(t, schema),
		"ORDO_KAFKA_BROKERS="+testenv.KafkaBrokers()[0],
		"ORDO_KAFKA_TOPIC_PREFIX="+f.names.Prefix,
		"ORDO_CLICKHOUSE_ADDR="+testenv.ClickHouseAddr(),
		// Static members: a restarted projector takes its partitions back at once instead
		// of waiting out the killed one's session.
		"ORDO_KAFKA_INSTANCE_ID=kill-"+f.names.Prefix,
		"ORDO_METRICS_ADDR=127.0.0.1:0",
		"ORDO_LOG_LEVEL="+level,
	)
	f.startRelay(t)

	// Four generators of their own customers, products and orders, appending at once.
	gens := make([]*traffic, 4)
	for i := range gens {
		gens[i] = newTraffic(t, f.store, uint64(100+i))
	}
	appended := func() int {
		n := 0
		for _, g := range gens {
			n += g.count()
		}
		return n
	}
	loaded := make(chan error, 1)
	go func() {
		var wg sync.WaitGroup
		var once sync.Once
		var first error
		for _, g := range gens {
			wg.Go(func() {
				for appended() < total {
					if err := g.step(ctx); err != nil {
						once.Do(func() { first = err })
						return
					}
				}
			})
		}
		wg.Wait()
		loaded <- first
	}()

	// applied changes whenever a batch of either projection commits.
	applied := func() int64 {
		var n int64
		require.NoError(t, f.pool.QueryRow(ctx, `SELECT coalesce(sum(next_offset), 0) FROM projection_offsets`).Scan(&n))
		return n
	}
	loadDone := false
	waitFor := func(cond func() bool, limit time.Duration) {
		for deadline := time.Now().Add(limit); !cond() && time.Now().Before(deadline); {
			select {
			case err := <-loaded:
				loadDone = true
				require.NoError(t, err)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	// The i-th kill comes once about i/(kills+1) of the events are appended. Odd kills
	// strike up to 0.3 s after a batch commits (the next one is being applied); even
	// ones at a random moment from 0.2 s after the start (joining the group, fetching,
	// applying, committing).
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	for i := 1; i <= kills; i++ {
		p := testenv.StartOrdo(t, bin, "project", env, "project")
		started := time.Now()
		waitFor(func() bool { return loadDone || appended() >= i*total/(kills+1) }, 5*time.Minute)
		how := "at random"
		if i%2 == 1 {
			n := applied()
			waitFor(func() bool { return applied() > n }, 30*time.Second)
			waitFor(func() bool { return false }, time.Duration(rng.IntN(300))*time.Millisecond)
			how = "after a batch"
		} else {
			waitFor(func() bool { return false }, time.Duration(rng.IntN(1300))*time.Millisecond)
			waitFor(func() bool { return time.Since(started) > 200*time.Millisecond }, time.Second)
		}
		p.Kill(t)
		t.Logf("kill %2d (%-13s after %6s): %6d events appended, %6d records applied", i, how,
			time.Since(started).Round(time.Millisecond), appended(), applied())
	}
	if !loadDone {
		require.NoError(t, <-loaded)
	}
	for _, g := range gens {
		g.visible(t)
	}
	loadedAt := time.Since(began)

	// The last projector catches up; its offsets reach the end of every partition once
	// the relay has published everything.
	final := testenv.StartOrdo(t, bin, "project", env, "project")
	finalStart := time.Now()
	head, err := f.store.HeadPosition(ctx)
	require.NoError(t, err)
	adm := kadm.NewClient(testenv.KafkaClient(t))
	behind := func() int64 {
		var relayed int64
		require.NoError(t, f.pool.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM relay_checkpoints`).Scan(&relayed))
		if relayed < head {
			return -1
		}
		ends, err := adm.ListEndOffsets(ctx, f.names.Events()...)
		require.NoError(t, err)
		rows, err := f.pool.Query(ctx, `SELECT o.name, o.topic, o.partition, o.next_offset FROM projection_offsets o
			JOIN projection_versions v ON v.name = o.name AND v.version = o.version AND v.state = 'active'`)
		require.NoError(t, err)
		next := map[string]map[string]map[int32]int64{}
		for rows.Next() {
			var (
				name, topic string
				part        int32
				off         int64
			)
			require.NoError(t, rows.Scan(&name, &topic, &part, &off))
			if next[name] == nil {
				next[name] = map[string]map[int32]int64{}
			}
			if next[name][topic] == nil {
				next[name][topic] = map[int32]int64{}
			}
			next[name][topic][part] = off
		}
		require.NoError(t, rows.Err())
		var lag int64
		for _, m := range models {
			for _, st := range m.streamTypes() {
				topic, err := f.names.ForStreamType(st)
				require.NoError(t, err)
				ends.Each(func(o kadm.ListedOffset) {
					if o.Topic == topic {
						lag += o.Offset - next[m.name()][topic][o.Partition]
					}
				})
			}
		}
		return lag
	}
	deadline := time.Now().Add(3 * time.Minute)
	for lag := behind(); lag != 0; lag = behind() {
		require.True(t, time.Now().Before(deadline), "the read models did not catch up within 3 minutes (%d records behind):\n%s", lag, final.Tail(30))
		time.Sleep(100 * time.Millisecond)
	}
	caughtUp := time.Since(began)
	if d := f.diff(t); d != "" {
		t.Fatalf("after %d kills the read models differ from the store:\n%s", kills, d)
	}
	ends, err := adm.ListEndOffsets(ctx, f.names.DeadLetter())
	require.NoError(t, err)
	ends.Each(func(o kadm.ListedOffset) { require.Zero(t, o.Offset, "records in the dead-letter topic") })

	var orders, products int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM read_orders`).Scan(&orders))
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM read_products`).Scan(&products))
	t.Logf("%d events (%d orders, %d products), %d kills: appends done after %s, read models caught up after %s, checked after %s",
		appended(), orders, products, kills, loadedAt.Round(time.Second), caughtUp.Round(time.Second), time.Since(began).Round(time.Second))

	time.Sleep(time.Until(finalStart.Add(2 * time.Second))) // its signal handler is installed
	final.Stop(t, 30*time.Second)
}

func envInt(key string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(key)); err == nil && n > 0 {
		return n
	}
	return def
}
