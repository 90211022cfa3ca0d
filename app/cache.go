package app

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ordo-platform/ordo/eventstore"
)

// Cache keeps folded aggregates of long, hot streams (a product's inventory grows with
// every order) in memory, so a command reads only the events appended since, instead of
// folding the whole stream again. It also serialises the commands of one stream within
// the process, which spares them most version conflicts; across processes optimistic
// concurrency still decides. Only committed state is ever cached. Bounded (LRU).
//
// Inside a tracked transaction (WithTrackedTx) a stream stays serialised until the
// transaction ends, not only until its append: otherwise the next command of the stream
// would append at the same version, wait on the store's unique index for the first
// transaction to end, and then fail with a version conflict.
type Cache struct {
	mu      sync.Mutex
	max     int
	order   *list.List // of *cacheEntry, most recent at the front
	entries map[string]*cacheEntry
	// LockWait bounds how long a command waits for a stream that another command of this
	// process holds; past it the command fails with eventstore.ErrVersionConflict (and is
	// retried like any lost race). It keeps a wait cycle, which Postgres cannot see, from
	// lasting.
	LockWait time.Duration
}

type cacheEntry struct {
	key string
	// lock (a one-slot channel, so that waiting can give up) is held for a whole command
	// on the stream, or until the end of the tracked transaction that holds it.
	lock    chan struct{}
	agg     any // nil: nothing cached
	version int64
	// head: this process wrote the stream's last event as far as it knows (version is
	// the head unless another process appended since, which the next append finds out).
	head bool
	elem *list.Element
}

// NewCache returns a cache of at most max streams.
func NewCache(max int) *Cache {
	return &Cache{max: max, order: list.New(), entries: map[string]*cacheEntry{}, LockWait: 5 * time.Second}
}

// get returns the entry of a stream, making one if needed, without locking it.
func (c *Cache) get(key string) *cacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if ok {
		c.order.MoveToFront(e.elem)
		return e
	}
	e = &cacheEntry{key: key, lock: make(chan struct{}, 1)}
	e.elem = c.order.PushFront(e)
	c.entries[key] = e
	for c.order.Len() > c.max {
		old := c.order.Back().Value.(*cacheEntry)
		c.order.Remove(old.elem)
		delete(c.entries, old.key)
		// A command may still hold old; it finishes on its own copy of the state.
	}
	return e
}

// entry returns the locked entry of a stream, making one if needed. The caller unlocks.
func (c *Cache) entry(ctx context.Context, key string) (*cacheEntry, error) {
	e := c.get(key)
	select {
	case e.lock <- struct{}{}:
		return e, nil
	default:
	}
	wait := c.LockWait
	if wait <= 0 {
		wait = 5 * time.Second
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case e.lock <- struct{}{}:
		return e, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, fmt.Errorf("%w: stream %s is held by another command of this process for over %s", eventstore.ErrVersionConflict, key, wait)
	}
}

func (e *cacheEntry) unlock() { <-e.lock }

// Len returns how many streams are cached.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
