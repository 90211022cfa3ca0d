package ratelimit_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/internal/ratelimit"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func TestBurstThenWait(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Unix(1_700_000_000, 0)}
	l := ratelimit.New(ratelimit.PerMinute(10), ratelimit.WithClock(c.Now))
	for i := 0; i < 10; i++ {
		ok, _ := l.Allow("ip:1")
		require.True(t, ok, "request %d is within the burst", i+1)
	}
	ok, wait := l.Allow("ip:1")
	require.False(t, ok)
	require.InDelta(t, 6*time.Second, wait, float64(time.Millisecond))
	require.Equal(t, 6, ratelimit.RetryAfter(wait))

	ok, _ = l.Allow("ip:2")
	require.True(t, ok, "buckets are per key")

	c.Add(6 * time.Second)
	ok, _ = l.Allow("ip:1")
	require.True(t, ok, "one token refilled")
	ok, _ = l.Allow("ip:1")
	require.False(t, ok, "a refused request took nothing, but there is only one token per 6 s")
}

func TestIdleBucketsAreEvicted(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Unix(1_700_000_000, 0)}
	l := ratelimit.New(ratelimit.Bucket{Rate: 10, Burst: 5}, ratelimit.WithClock(c.Now))
	for i := 0; i < 1000; i++ {
		l.Allow(fmt.Sprintf("ip:%d", i))
	}
	require.Equal(t, 1000, l.Len())
	c.Add(2 * time.Minute)
	l.Allow("ip:new")
	require.Equal(t, 1, l.Len(), "idle buckets are gone")
}

func TestMaxKeysBoundsMemory(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(ratelimit.Bucket{Rate: 1, Burst: 1}, ratelimit.WithMaxKeys(100))
	for i := 0; i < 10_000; i++ {
		l.Allow(fmt.Sprintf("ip:%d", i))
	}
	require.LessOrEqual(t, l.Len(), 100)
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(ratelimit.Bucket{Rate: 0.001, Burst: 50})
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for i := 0; i < 8; i++ {
		wg.Go(func() {
			for j := 0; j < 100; j++ {
				if ok, _ := l.Allow("user:1"); ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	require.Equal(t, 50, allowed, "exactly the burst")
}

func TestRetryAfterRoundsUp(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]int{0: 1, time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, 59500 * time.Millisecond: 60} {
		require.Equal(t, want, ratelimit.RetryAfter(d), d.String())
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, ratelimit.DefaultConfig().Validate())
	c := ratelimit.DefaultConfig()
	c.User.Rate = 0
	c.IP.Burst = 0
	err := c.Validate()
	require.ErrorContains(t, err, "ORDO_RATE_USER_RPS")
	require.ErrorContains(t, err, "ORDO_RATE_IP_RPS")
	c.Disabled = true
	require.NoError(t, c.Validate())
}

// A request that read the clock before another one but takes the bucket after it must
// not refill the bucket twice (x/time/rate counts the refill since the time it is given,
// and a time older than the bucket's last one moves the bucket back).
func TestClockReadUnderTheLock(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var (
		calls    atomic.Int32
		aInClock = make(chan struct{})
		bDone    = make(chan struct{})
	)
	clock := func() time.Time {
		switch calls.Add(1) {
		case 1, 2: // New, then the first request
			return base
		case 3: // request A: the clock is slow; B goes meanwhile if it can
			close(aInClock)
			select {
			case <-bDone:
			case <-time.After(300 * time.Millisecond): // B waits for the lock A holds
			}
			return base.Add(500 * time.Millisecond)
		case 4: // request B
			return base.Add(time.Second)
		default: // request C
			return base.Add(1500 * time.Millisecond)
		}
	}
	l := ratelimit.New(ratelimit.Bucket{Rate: 1, Burst: 1}, ratelimit.WithClock(clock))
	allowed := 0
	count := func(ok bool, _ time.Duration) {
		if ok {
			allowed++
		}
	}
	count(l.Allow("k")) // at 0: the one token
	var wg sync.WaitGroup
	var a bool
	wg.Go(func() { a, _ = l.Allow("k") }) // at 0.5 s: half a token
	<-aInClock
	b, _ := l.Allow("k") // at 1 s: a token
	close(bDone)
	wg.Wait()
	count(a, 0)
	count(b, 0)
	count(l.Allow("k")) // at 1.5 s: half a token since B's
	require.Equal(t, 2, allowed, "1 token/s from a full bucket of 1: two requests in 1.5 s")
}
