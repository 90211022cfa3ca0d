package consumer_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/ordo-platform/ordo/internal/consumer"
	"github.com/ordo-platform/ordo/internal/testenv"
)

// buffering is a Flusher: Handle only buffers; Flush "writes" the buffer, failing while
// failing is set, and records how many records each successful flush made durable.
type buffering struct {
	recorder
	mu       sync.Mutex
	buffered int
	since    time.Time
	every    time.Duration
	failing  bool
	flushes  []int
	flushErr int
}

func (b *buffering) Handle(ctx context.Context, batch consumer.Batch) error {
	if err := b.recorder.Handle(ctx, batch); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buffered == 0 {
		b.since = time.Now()
	}
	b.buffered += len(batch.Records)
	return nil
}

func (b *buffering) FlushIn() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.every - time.Since(b.since)
}

func (b *buffering) Flush(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failing {
		b.flushErr++
		return errors.New("clickhouse is down")
	}
	if b.buffered > 0 {
		b.flushes = append(b.flushes, b.buffered)
	}
	b.buffered = 0
	return nil
}

func (b *buffering) set(f func(b *buffering)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(b)
}

func (b *buffering) get(f func(b *buffering)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(b)
}

func committed(t *testing.T, group string) int64 {
	t.Helper()
	offs, err := kadm.NewClient(testenv.KafkaClient(t)).FetchOffsets(context.Background(), group)
	require.NoError(t, err)
	var n int64
	offs.Each(func(o kadm.OffsetResponse) { n += o.At })
	return n
}

func TestFlusherCommitsOnlyAfterAFlushAndBuffersAcrossPolls(t *testing.T) {
	t.Parallel()
	names := testenv.KafkaTopics(t)
	cfg := config(names, "g-flush")
	cfg.MaxPollRecords = 50 // many polls per flush
	b := &buffering{every: 2 * time.Second, failing: true}
	stop := start(t, cfg, b)

	produce(t, names, 0, 500)
	require.Eventually(t, func() bool { return b.count() == 500 }, 60*time.Second, 20*time.Millisecond)
	// Handled but not durable: the flush keeps failing, so nothing may be committed.
	require.Eventually(t, func() bool {
		var n int
		b.get(func(b *buffering) { n = b.flushErr })
		return n >= 2
	}, 30*time.Second, 20*time.Millisecond)
	require.Zero(t, committed(t, "g-flush"), "offsets committed before the effects were durable")

	b.set(func(b *buffering) { b.failing = false })
	require.Eventually(t, func() bool { return committed(t, "g-flush") == 500 }, 30*time.Second, 50*time.Millisecond)
	b.get(func(b *buffering) {
		require.Equal(t, []int{500}, b.flushes, "one flush of everything buffered across polls")
	})

	// Time-based flush: a few records with no more traffic are flushed when due.
	produce(t, names, 500, 3)
	require.Eventually(t, func() bool { return committed(t, "g-flush") == 503 }, 30*time.Second, 50*time.Millisecond)

	// A clean stop flushes what is buffered and commits it.
	b.set(func(b *buffering) { b.every = time.Hour })
	produce(t, names, 503, 7)
	require.Eventually(t, func() bool { return b.count() == 510 }, 30*time.Second, 20*time.Millisecond)
	stop()
	require.Equal(t, int64(510), committed(t, "g-flush"))
	b.get(func(b *buffering) { require.Equal(t, 510, sum(b.flushes)) })
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}
