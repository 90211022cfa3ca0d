package app

import (
	"container/list"
	"sync"
)

// Cache keeps folded aggregates of long, hot streams (a product's inventory grows with
// every order) in memory, so a command reads only the events appended since, instead of
// folding the whole stream again. It also serialises the commands of one stream within
// the process, which spares them most version conflicts; across processes optimistic
// concurrency still decides. Only committed state is ever cached. Bounded (LRU).
type Cache struct {
	mu      sync.Mutex
	max     int
	order   *list.List // of *cacheEntry, most recent at the front
	entries map[string]*cacheEntry
}

type cacheEntry struct {
	key string
	// mu is held for a whole command on the stream.
	mu      sync.Mutex
	agg     any // nil: nothing cached
	version int64
	elem    *list.Element
}

// NewCache returns a cache of at most max streams.
func NewCache(max int) *Cache {
	return &Cache{max: max, order: list.New(), entries: map[string]*cacheEntry{}}
}

// entry returns the locked entry of a stream, making one if needed. The caller unlocks.
func (c *Cache) entry(key string) *cacheEntry {
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok {
		c.order.MoveToFront(e.elem)
	} else {
		e = &cacheEntry{key: key}
		e.elem = c.order.PushFront(e)
		c.entries[key] = e
		for c.order.Len() > c.max {
			old := c.order.Back().Value.(*cacheEntry)
			c.order.Remove(old.elem)
			delete(c.entries, old.key)
			// A command may still hold old; it finishes on its own copy of the state.
		}
	}
	c.mu.Unlock()
	e.mu.Lock()
	return e
}

// Len returns how many streams are cached.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
