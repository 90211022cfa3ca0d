package projections

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// listener hears the projectors' NOTIFY (sent in each batch's transaction, so delivered
// at its commit) on one dedicated connection and wakes every waiter. It starts on first
// use and reconnects with backoff; waiters also poll, so a gap costs latency only.
type listener struct {
	pool *pgxpool.Pool

	mu      sync.Mutex
	wake    chan struct{} // closed and replaced on every notification
	started bool
	closed  bool
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

func newListener(pool *pgxpool.Pool) *listener {
	return &listener{pool: pool, wake: make(chan struct{})}
}

// next returns a channel closed at the next notification. Take it before looking at
// the read model, then wait on it: nothing is missed.
func (l *listener) next() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.started && !l.closed {
		l.started = true
		ctx, cancel := context.WithCancel(context.Background())
		l.cancel = cancel
		l.done.Go(func() { l.loop(ctx) })
	}
	return l.wake
}

func (l *listener) broadcast() {
	l.mu.Lock()
	close(l.wake)
	l.wake = make(chan struct{})
	l.mu.Unlock()
}

func (l *listener) loop(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		_ = l.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		l.broadcast() // notifications may have been missed while disconnected
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (l *listener) listen(ctx context.Context) error {
	c, err := l.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// Dedicated to LISTEN for its whole life: never back to the pool with it registered.
	conn := c.Hijack()
	defer conn.Close(context.Background())
	var channel string
	if err := conn.QueryRow(ctx, `SELECT 'ordo_projections_' || current_schema()`).Scan(&channel); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	l.broadcast()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		l.broadcast()
	}
}

func (l *listener) close() {
	l.mu.Lock()
	l.closed = true
	cancel := l.cancel
	l.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	l.done.Wait()
}
