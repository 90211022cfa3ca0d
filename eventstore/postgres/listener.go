package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// listener tells subscribers that events may have been appended. It sends NOTIFY on
// the store's channel after this process's appends (coalesced, outside the appending
// transactions) and LISTENs on one dedicated connection to hear every process's
// notifications. Both goroutines start on first use.
type listener struct {
	pool    *pgxpool.Pool
	channel string

	mu       sync.Mutex
	wake     chan struct{} // closed and replaced on every notification
	pending  chan struct{} // capacity 1: a NOTIFY is owed
	started  bool
	closed   bool
	cancel   context.CancelFunc
	finished sync.WaitGroup
}

func newListener(pool *pgxpool.Pool, channel string) *listener {
	return &listener{pool: pool, channel: channel, wake: make(chan struct{}), pending: make(chan struct{}, 1)}
}

// start launches the goroutines once; l.mu must be held.
func (l *listener) start() {
	if l.started || l.closed {
		return
	}
	l.started = true
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.finished.Add(2)
	go func() { defer l.finished.Done(); l.listenLoop(ctx) }()
	go func() { defer l.finished.Done(); l.notifyLoop(ctx) }()
}

// appended returns a channel closed at the next notification.
func (l *listener) appended() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.start()
	return l.wake
}

// signal records that this process appended; a NOTIFY follows shortly.
func (l *listener) signal() {
	l.mu.Lock()
	l.start()
	l.mu.Unlock()
	l.broadcast() // local subscribers need no round trip through Postgres
	select {
	case l.pending <- struct{}{}:
	default: // one is already owed; it covers this append too
	}
}

func (l *listener) broadcast() {
	l.mu.Lock()
	close(l.wake)
	l.wake = make(chan struct{})
	l.mu.Unlock()
}

func (l *listener) notifyLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.pending:
		}
		// Best effort: a lost NOTIFY only delays other processes until their next poll.
		nctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, _ = l.pool.Exec(nctx, "SELECT pg_notify($1, '')", l.channel)
		cancel()
		select { // coalesce bursts: at most one NOTIFY per 2 ms
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func (l *listener) listenLoop(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		_ = l.listen(ctx) // the connection dropped: wake everyone (appends may be missed), retry
		if ctx.Err() != nil {
			return
		}
		l.broadcast()
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (l *listener) listen(ctx context.Context) error {
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection is dedicated to LISTEN for as long as it lives: hijack it so that it
	// never goes back to the pool with a LISTEN registered.
	pc := conn.Hijack()
	defer pc.Close(context.Background())
	if _, err := pc.Exec(ctx, "LISTEN "+pgx.Identifier{l.channel}.Sanitize()); err != nil {
		return err
	}
	l.broadcast() // anything appended before LISTEN took effect
	for {
		if _, err := pc.WaitForNotification(ctx); err != nil {
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
	l.finished.Wait()
}
