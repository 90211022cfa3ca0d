package analytics_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/analytics"
	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/record"
	"github.com/ordo-platform/ordo/internal/consumer"
	"github.com/ordo-platform/ordo/internal/testenv"
)

// Under a trickle the sink's fetches linger (a sixth of the flush interval), so it
// handles the records of one partition in a few batches instead of one per record, and
// still ingests every one of them.
func TestSinkFetchesLingerUnderATrickle(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	cfg := p.sinkConfig()
	cfg.FlushInterval = 1200 * time.Millisecond // a linger of 200 ms
	const linger = 200 * time.Millisecond
	run(t, analytics.NewSink(cfg, p.conn, p.names, newKafkaClient, quiet))

	// The longest stream of a generated shop: one key, one partition.
	byStream := map[string][]eventstore.Event{}
	longest := ""
	for _, e := range shop(t, 5, 3, 20, 300) {
		byStream[e.StreamID] = append(byStream[e.StreamID], e)
		if len(byStream[e.StreamID]) > len(byStream[longest]) {
			longest = e.StreamID
		}
	}
	events := byStream[longest]
	require.GreaterOrEqual(t, len(events), 41, "stream %s", longest)
	events = events[:41]
	cl := testenv.KafkaClient(t)
	ctx := context.Background()
	produce := func(e eventstore.Event) {
		r, err := record.FromEvent(e, p.names)
		require.NoError(t, err)
		require.NoError(t, cl.ProduceSync(ctx, r).FirstErr())
	}
	stored := func(n int) func() bool {
		q := fmt.Sprintf("SELECT count() FROM events WHERE stream_id = '%s'", longest)
		return func() bool { return count(t, p.conn, q) == uint64(n) }
	}
	produce(events[0]) // the sink has joined once this one is in ClickHouse
	require.Eventually(t, stored(1), 60*time.Second, 50*time.Millisecond)

	group := analytics.GroupFor(p.names)
	first := sinkBatches(t, group)
	begin := time.Now()
	for _, e := range events[1:] {
		produce(e)
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(begin)
	require.Eventually(t, stored(len(events)), 30*time.Second, 50*time.Millisecond)
	batches := sinkBatches(t, group) - first
	require.LessOrEqual(t, batches, uint64(elapsed/linger)+3, "%d batches for %d records in %s", batches, len(events)-1, elapsed)
}

// sinkBatches is how many batches the consumer group has handled, from its metrics.
func sinkBatches(t *testing.T, group string) uint64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(consumer.Collectors()...)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "ordo_consumer_batch_records" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "group" && l.GetValue() == group {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

// A backlog's tail is inserted as soon as the sink has read every partition to its end,
// not when the flush interval (a minute here) has passed since its first event: after
// full flushes (flushRows 1,000), and for a backlog smaller than one flush.
func TestSinkFlushesABacklogsTailAtOnce(t *testing.T) {
	t.Parallel()
	for name, flushRows := range map[string]int{"after full flushes": 1000, "smaller than a flush": 1_000_000} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newPipeline(t)
			events := shop(t, 11, 10, 40, 200)
			require.Greater(t, len(events), 1500)
			cl := testenv.KafkaClient(t)
			records := make([]*kgo.Record, len(events))
			for i, e := range events {
				var err error
				records[i], err = record.FromEvent(e, p.names)
				require.NoError(t, err)
			}
			require.NoError(t, cl.ProduceSync(context.Background(), records...).FirstErr())

			cfg := p.sinkConfig()
			cfg.FlushRows = flushRows
			cfg.MaxPollRecords = 300 // a backlog read in several polls
			cfg.FlushInterval = time.Minute
			var log testenv.LogBuffer // what the sink did, shown if the test fails
			sinkLog := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
			run(t, analytics.NewSink(cfg, p.conn, p.names, newKafkaClient, sinkLog))
			// Counted as analysts count (FINAL): a rebalance may deliver a batch twice,
			// which the table absorbs.
			var n uint64
			assert.Eventually(t, func() bool {
				n = count(t, p.conn, "SELECT count() FROM events FINAL")
				return n == uint64(len(events))
			}, 30*time.Second, 50*time.Millisecond)
			if n != uint64(len(events)) {
				t.Logf("the sink's log:\n%s", log.String())
			}
			require.Equal(t, uint64(len(events)), n, "events in ClickHouse (FINAL) after 30 s: the tail waits for the flush interval")
		})
	}
}
