package analytics_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/analytics"
	"github.com/ordo-platform/ordo/eventstore/record"
	"github.com/ordo-platform/ordo/internal/testenv"
)

// BenchmarkVisibility measures how long an event takes from Kafka to an analyst's query
// under steady traffic: a background producer sends shop events at a fixed rate while,
// every 200 ms, a probe event is produced and ClickHouse polled until it is visible.
// It reports the p50 and p99 delays; b.N is ignored (one 20 s run).
//
//	go test -run '^$' -bench Visibility -benchtime 1x ./analytics/
func BenchmarkVisibility(b *testing.B) {
	const rate, seconds = 5000, 20
	p := newPipeline(b)
	events := shop(b, 21, 50, 500, rate*seconds/9)
	probes, background := events[:200], events[200:]
	cfg := p.sinkConfig()
	d := analytics.DefaultConfig()
	cfg.FlushRows, cfg.FlushInterval = d.FlushRows, d.FlushInterval // as deployed
	run(b, analytics.NewSink(cfg, p.conn, p.names, newKafkaClient, quiet))
	cl := testenv.KafkaClient(b, kgo.ProducerLinger(5*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < len(background) && ctx.Err() == nil; {
			<-tick.C
			for j := 0; j < rate/100 && i < len(background); j, i = j+1, i+1 {
				e := background[i]
				e.RecordedAt = time.Now()
				r, _ := record.FromEvent(e, p.names)
				cl.Produce(ctx, r, nil)
			}
		}
	}()
	var delays []time.Duration
	deadline := time.Now().Add(seconds * time.Second)
	for i := 0; time.Now().Before(deadline) && i < len(probes); i++ {
		e := probes[i]
		r, err := record.FromEvent(e, p.names)
		require.NoError(b, err)
		sent := time.Now()
		require.NoError(b, cl.ProduceSync(ctx, r).FirstErr())
		for {
			var n uint64
			require.NoError(b, p.conn.QueryRow(ctx, "SELECT count() FROM events WHERE stream_id = ? AND version = ?", e.StreamID, uint64(e.Version)).Scan(&n))
			if n > 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		delays = append(delays, time.Since(sent))
		time.Sleep(200 * time.Millisecond)
	}
	slices.Sort(delays)
	b.ReportMetric(delays[len(delays)/2].Seconds(), "p50-s")
	b.ReportMetric(delays[len(delays)*99/100].Seconds(), "p99-s")
	b.ReportMetric(float64(len(delays)), "probes")
}
