package postgres_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/eventstoretest"
	"github.com/ordo-platform/ordo/eventstore/postgres"
)

// readCounter counts the reads in global order that found events.
type readCounter struct {
	*postgres.Store
	reads, found atomic.Int64
}

func (c *readCounter) ReadAll(ctx context.Context, after int64, limit int) ([]eventstore.Event, error) {
	evs, err := c.Store.ReadAll(ctx, after, limit)
	c.reads.Add(1)
	if len(evs) > 0 {
		c.found.Add(1)
	}
	return evs, err
}

// Under a steady stream of appends, a lingering subscription reads no more often than
// once per Linger (counting the reads that found events), and still delivers every
// event once, in order.
func TestSubscribeLingerSpacesReads(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := &readCounter{Store: newStore(t)}
	const n, linger = 60, 100 * time.Millisecond
	got := make(chan int64, n)
	done := make(chan error, 1)
	go func() {
		done <- eventstore.Subscribe(ctx, s, 0, eventstore.SubscribeOptions{BatchSize: 1000, PollInterval: time.Second, Linger: linger},
			func(_ context.Context, evs []eventstore.Event) error {
				for _, e := range evs {
					got <- e.Position
				}
				if len(got) == n {
					return eventstore.ErrStop
				}
				return nil
			})
	}()
	start := time.Now()
	for i := 0; i < n; i++ {
		_, err := s.Append(ctx, eventstoretest.Stream("order"), eventstore.NoStream, eventstoretest.Event("order.placed", "x"))
		require.NoError(t, err)
	}
	require.NoError(t, <-done)
	elapsed := time.Since(start)
	close(got)
	var prev int64
	count := 0
	for p := range got {
		require.Greater(t, p, prev)
		prev, count = p, count+1
	}
	require.Equal(t, n, count)
	require.LessOrEqual(t, s.found.Load(), int64(elapsed/linger)+2,
		"%d reads found events in %s with a linger of %s", s.found.Load(), elapsed, linger)
}

// An idle lingering subscription reads as soon as it is notified: the linger only
// follows a read that found events.
func TestSubscribeLingerIdleReadsAtOnce(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := &readCounter{Store: newStore(t)}
	done := make(chan error, 1)
	go func() {
		// A linger far beyond the test's deadline: a read that waited for it fails the test.
		// The poll stays short: a transaction another test holds open can keep the event
		// invisible past its notification (the visible bound is cluster-wide).
		done <- eventstore.Subscribe(ctx, s, 0, eventstore.SubscribeOptions{BatchSize: 1000, PollInterval: 100 * time.Millisecond, Linger: time.Hour},
			func(context.Context, []eventstore.Event) error { return eventstore.ErrStop })
	}()
	for s.reads.Load() == 0 && ctx.Err() == nil { // the first read finds nothing
		time.Sleep(5 * time.Millisecond)
	}
	_, err := s.Append(ctx, eventstoretest.Stream("order"), eventstore.NoStream, eventstoretest.Event("order.placed", "x"))
	require.NoError(t, err)
	require.NoError(t, <-done, "the event was not delivered before the deadline")
}
