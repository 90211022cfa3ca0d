// Package ratelimit keeps token buckets per key (a user id, a client IP) in memory.
//
// Buckets live in the process: with several API replicas each replica limits on its own,
// so the effective limit is the configured one times the number of replicas that a
// client's requests reach. That is the usual trade for not putting a shared store on
// every request's path; the limits exist to stop floods and password guessing, not to
// meter usage exactly. Idle buckets are evicted, so memory stays bounded however many
// distinct keys arrive.
package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Bucket is the shape of one kind of bucket: Rate tokens per second refill up to Burst.
type Bucket struct {
	Rate  rate.Limit
	Burst int
}

// Validate reports a bucket that would never allow anything.
func (b Bucket) Validate(name string) error {
	var errs []error
	if b.Rate <= 0 || math.IsInf(float64(b.Rate), 0) || math.IsNaN(float64(b.Rate)) {
		errs = append(errs, fmt.Errorf("%s: rate must be a positive number", name))
	}
	if b.Burst < 1 {
		errs = append(errs, fmt.Errorf("%s: burst must be at least 1", name))
	}
	return errors.Join(errs...)
}

// Limiter holds one Bucket-shaped token bucket per key. It is safe for concurrent use.
type Limiter struct {
	bucket  Bucket
	idle    time.Duration
	maxKeys int
	now     func() time.Time

	mu        sync.Mutex
	entries   map[string]*entry
	lastSweep time.Time
}

type entry struct {
	lim  *rate.Limiter
	last time.Time
}

// Option configures a Limiter.
type Option func(*Limiter)

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(l *Limiter) { l.now = now } }

// WithMaxKeys bounds the number of buckets kept (default 100 000). When it is reached
// and no bucket is idle, an arbitrary bucket is dropped: its key starts over with a
// full bucket, which errs on the side of letting a request through.
func WithMaxKeys(n int) Option { return func(l *Limiter) { l.maxKeys = max(n, 1) } }

// New returns a Limiter of buckets shaped b. A bucket unused for longer than it takes
// to refill completely (at least a minute) is evicted: a fresh one would be identical.
func New(b Bucket, opts ...Option) *Limiter {
	refill := time.Duration(float64(b.Burst) / float64(b.Rate) * float64(time.Second))
	l := &Limiter{
		bucket:  b,
		idle:    max(refill, time.Minute),
		maxKeys: 100_000,
		now:     time.Now,
		entries: make(map[string]*entry),
	}
	for _, o := range opts {
		o(l)
	}
	l.lastSweep = l.now()
	return l
}

// Allow takes one token from key's bucket. When the bucket is empty it takes nothing and
// returns false with how long until a token is available.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// The clock is read under the lock: a time read before it could be older than the
	// one the bucket last saw, and x/time/rate then counts that refill twice.
	now := l.now()
	l.sweep(now)
	e, ok := l.entries[key]
	if !ok {
		if len(l.entries) >= l.maxKeys {
			for k := range l.entries { // map order is random: drop any one
				delete(l.entries, k)
				break
			}
		}
		e = &entry{lim: rate.NewLimiter(l.bucket.Rate, l.bucket.Burst)}
		l.entries[key] = e
	}
	e.last = now
	r := e.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, l.idle
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Len returns the number of buckets kept.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// sweep evicts idle buckets, at most once per idle period; l.mu must be held.
func (l *Limiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < l.idle {
		return
	}
	l.lastSweep = now
	for k, e := range l.entries {
		if now.Sub(e.last) >= l.idle {
			delete(l.entries, k)
		}
	}
}

// RetryAfter renders a wait as the value of a Retry-After header: whole seconds, rounded
// up, at least 1.
func RetryAfter(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
