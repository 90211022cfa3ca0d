package analytics_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/analytics/internal/workload"
	"github.com/ordo-platform/ordo/internal/testenv"
)

// buildOrdo builds the ordo binary into a temporary directory.
func buildOrdo(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ordo")
	start := time.Now()
	out, err := exec.Command("go", "build", "-o", bin, "github.com/ordo-platform/ordo/cmd/ordo").CombinedOutput()
	require.NoError(t, err, "go build ./cmd/ordo:\n%s", out)
	t.Logf("built ordo in %s", time.Since(start).Round(time.Millisecond))
	return bin
}

// child is an `ordo analytics` process.
type child struct {
	cmd *exec.Cmd
	log *bytes.Buffer
}

func startChild(t *testing.T, bin string, env []string) *child {
	t.Helper()
	var log bytes.Buffer
	cmd := exec.Command(bin, "analytics")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &log, &log
	require.NoError(t, cmd.Start())
	return &child{cmd: cmd, log: &log}
}

// The sink is killed with SIGKILL 20 times at random moments while 100k events stream
// through the store, the relay and Kafka; afterwards ClickHouse holds exactly the events
// of the store, none twice as analysts count (FINAL, the views), and every guide query
// agrees with the store.
func TestSinkSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test: about two minutes; skipped with -short")
	}
	t.Parallel()
	began := time.Now()
	bin := buildOrdo(t)
	p := newPipeline(t)

	g := workload.New(42, time.Now().Add(-72*time.Hour))
	appends := g.Setup(100, 1000)
	for workload.Count(appends) < 100_000 {
		appends = append(appends, g.Orders(200)...)
	}
	total := workload.Count(appends)
	p.relay(t)
	loaded := make(chan error, 1)
	go func() { loaded <- workload.Load(context.Background(), p.store, appends, 8) }()

	var id [4]byte
	_, _ = rand.Read(id[:])
	env := append(os.Environ(),
		"ORDO_POSTGRES_URL="+p.pgURL,
		"ORDO_KAFKA_BROKERS="+testenv.KafkaBrokers()[0],
		"ORDO_KAFKA_TOPIC_PREFIX="+p.names.Prefix,
		"ORDO_CLICKHOUSE_ADDR="+testenv.ClickHouseAddr(),
		"ORDO_CLICKHOUSE_DATABASE="+p.db,
		"ORDO_ANALYTICS_FLUSH_ROWS=20000",
		"ORDO_ANALYTICS_FLUSH_INTERVAL=250ms",
		// A static member: a restarted sink takes its partitions back at once instead of
		// waiting out the killed one's session.
		"ORDO_ANALYTICS_INSTANCE_ID=kill-test-"+hex.EncodeToString(id[:]),
		"ORDO_METRICS_ADDR=127.0.0.1:0",
		"ORDO_LOG_LEVEL=warn",
	)
	// Kills are spread over the stream: the i-th comes once ClickHouse holds about i/21 of
	// the events (or after 20 s), plus a random delay, so that they hit every phase: start
	// up, joining the group, decoding, inserting, committing.
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var maxDup uint64
	for i := 1; i <= 20; i++ {
		c := startChild(t, bin, env)
		target := uint64(i * total / 21)
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if count(t, p.conn, "SELECT uniqExact(stream_id, version) FROM events") >= target {
				break
			}
		}
		time.Sleep(time.Duration(rng.Int64N(int64(700 * time.Millisecond))))
		require.NoError(t, c.cmd.Process.Signal(syscall.SIGKILL))
		err := c.cmd.Wait()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "kill %d: the sink had already stopped:\n%s", i, c.log.String())
		distinct := count(t, p.conn, "SELECT uniqExact(stream_id, version) FROM events")
		rows := count(t, p.conn, "SELECT count() FROM events")
		maxDup = max(maxDup, rows-distinct)
		t.Logf("kill %2d: %6d distinct events in ClickHouse, %6d rows", i, distinct, rows)
	}
	require.NoError(t, <-loaded)
	loadedAt := time.Since(began)

	final := startChild(t, bin, env)
	o := newOracle(t, readStore(t, p.store, total))
	waitIngested(t, p.conn, o, 4*time.Minute)
	caughtUp := time.Since(began)

	// Exactly the store's events: the same ids, each once as analysts count.
	want := map[uuid.UUID]bool{}
	for _, e := range o.events {
		want[e.ID] = true
	}
	got := map[uuid.UUID]int{}
	for _, row := range runQuery(t, p.conn, "SELECT event_id FROM events FINAL") {
		got[row[0].(uuid.UUID)]++
	}
	require.Len(t, got, len(want))
	for id, n := range got {
		require.True(t, want[id], "event %s is not in the store", id)
		require.Equal(t, 1, n, "event %s counted %d times with FINAL", id, n)
	}
	t.Logf("%d events; up to %d duplicate rows seen between kills; loaded after %s, ClickHouse caught up after %s",
		total, maxDup, loadedAt.Round(time.Second), caughtUp.Round(time.Second))
	require.Positive(t, maxDup, "no kill ever caused a redelivery: the test did not test much")
	checkGuide(t, p.conn, o)

	// A clean stop of the last one: SIGTERM, exit status 0.
	require.NoError(t, final.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, final.cmd.Wait(), "clean stop:\n%s", final.log.String())
}
