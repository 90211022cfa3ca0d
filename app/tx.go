package app

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/eventstore/postgres"
)

type txKey struct{}

// outerTx is a caller's transaction that commands append in. A tracked one (made by
// WithTrackedTx) also holds the cached streams its commands touched until it ends.
type outerTx struct {
	tx      pgx.Tx
	tracked bool
	queue   postgres.Queuer // set: appends are queued on tx (WithQueuedTx)

	mu   sync.Mutex
	held map[*cacheEntry]*heldEntry
	keys []*cacheEntry // in the order taken
}

// heldEntry is what a tracked transaction did to a cached stream: the events its
// command appended on top of the committed state, applied to the cache at commit.
type heldEntry struct {
	base    int64 // the committed version the events follow
	events  []domain.Event
	applied bool
}

// WithTx returns a context whose commands append inside tx (an outer transaction the
// caller commits), for example to store an idempotency record with the events.
func WithTx(ctx context.Context, tx pgx.Tx) context.Context {
	return context.WithValue(ctx, txKey{}, &outerTx{tx: tx})
}

// WithTrackedTx is WithTx for a caller that reports how the transaction ended: it
// must call end exactly once, after the commit or rollback, with whether it committed.
// Commands on cached streams (Command.Cached) then keep their stream to themselves
// until the end, so other commands of this process on the stream wait for the commit
// instead of colliding with it in the store, and the cache takes the committed events
// without reading them back.
func WithTrackedTx(ctx context.Context, tx pgx.Tx) (_ context.Context, end func(committed bool)) {
	o := &outerTx{tx: tx, tracked: true, held: map[*cacheEntry]*heldEntry{}}
	return context.WithValue(ctx, txKey{}, o), o.end
}

// QueuedTx is a transaction that can queue statements (internal/postgres.PipeTx).
type QueuedTx interface {
	pgx.Tx
	postgres.Queuer
}

// WithQueuedTx is WithTrackedTx whose commands queue their appends on tx
// (postgres.Store.QueueAppend) instead of sending each on its own: the appends travel
// with the transaction's next statement, at the latest with its commit, so a
// transaction of several commands costs no round trip per append. A refused append
// then fails that statement (the commit: eventstore.ErrVersionConflict, retry the
// transaction) rather than its command; after a transaction that did not commit, the
// next command on each stream it appended to reads the stream again.
func WithQueuedTx(ctx context.Context, tx QueuedTx) (_ context.Context, end func(committed bool)) {
	o := &outerTx{tx: tx, tracked: true, queue: tx, held: map[*cacheEntry]*heldEntry{}}
	return context.WithValue(ctx, txKey{}, o), o.end
}

func outerFrom(ctx context.Context) *outerTx {
	o, _ := ctx.Value(txKey{}).(*outerTx)
	return o
}

func txFrom(ctx context.Context) pgx.Tx {
	if o := outerFrom(ctx); o != nil {
		return o.tx
	}
	return nil
}

// hold records that the transaction holds e (locked by the caller).
func (o *outerTx) hold(e *cacheEntry) *heldEntry {
	o.mu.Lock()
	defer o.mu.Unlock()
	h := &heldEntry{}
	o.held[e] = h
	o.keys = append(o.keys, e)
	return h
}

// holding returns what the transaction holds of e, or nil.
func (o *outerTx) holding(e *cacheEntry) *heldEntry {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.held[e]
}

func (o *outerTx) end(committed bool) {
	o.mu.Lock()
	keys, held := o.keys, o.held
	o.keys, o.held = nil, map[*cacheEntry]*heldEntry{}
	o.mu.Unlock()
	for i := len(keys) - 1; i >= 0; i-- {
		e, h := keys[i], held[keys[i]]
		if !committed && h.applied && o.queue != nil {
			// The append may have been refused because another process wrote the stream.
			e.head = false
		}
		if committed && h.applied && e.agg != nil && e.version == h.base {
			if a, ok := e.agg.(Aggregate); ok {
				for _, ev := range h.events {
					if err := a.Evolve(ev); err != nil {
						e.agg = nil // half applied: forget it, the next command folds again
						break
					}
				}
				if e.agg != nil {
					e.version, e.head = h.base+int64(len(h.events)), true
				}
			}
		}
		e.unlock()
	}
}

// Hold takes the cached streams for the tracked transaction in ctx, in the order given,
// until it ends, as its cached commands would. A transaction that appends to several
// contended streams takes them all first, in one order shared by every writer: then it
// waits for the others before its first write, and so gets a younger transaction id
// than any writer it waited for (the store refuses an append that would sort before
// the stream's last event). Without a tracked transaction it does nothing.
func Hold(ctx context.Context, env *Env, streamIDs ...string) error {
	o := outerFrom(ctx)
	if o == nil || !o.tracked || env.Cache == nil {
		return nil
	}
	for _, id := range streamIDs {
		if o.holding(env.Cache.get(id)) != nil {
			continue
		}
		e, err := env.Cache.entry(ctx, id)
		if err != nil {
			return err
		}
		o.hold(e)
	}
	return nil
}
