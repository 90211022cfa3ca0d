package postgres

import (
	"cmp"
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordo-platform/ordo/eventstore"
)

// Group commit. Appends with an exact expected version (or NoStream) that arrive while
// others are being written wait in a queue; a committer takes all of them (to the
// limits below) and writes them with one statement in one transaction: one round trip,
// one commit and one WAL flush for the lot, instead of one each. With nothing else in
// flight an append is written at once, alone, as before; the queue only fills when the
// committers are all busy, so grouping costs no latency it does not win back.
//
// Each request stays all or nothing, and the group never changes an outcome:
//   - The statement checks each request's expected version with an EXISTS on (stream,
//     expected), the same for all of its rows, so a request inserts all its events or
//     none; one with none goes through the single path's conflict resolution (a retry
//     of a committed append gets the first result, anything else is a conflict).
//   - Any error aborts the whole statement, and then every request of the group is
//     written again on its own, with the single statement (appendOwnTx). That covers a
//     unique violation (a racing writer took a version, or an id is stored already) and
//     a deadlock, whose outcome must be decided per request. A group never holds two
//     requests for one stream: the second waits for the next group.
//   - Requests are written in stream id order, so two groups that race on the same
//     streams take their index locks in the same order and do not deadlock.
//   - Positions are (transaction id << 16) + the event's index in the statement, and
//     appendOwnTx's argument for the ordering guard holds unchanged: the statement is
//     the transaction's only one. See doc.go.
//
// A caller whose context ends while its request is queued gets the context's error and
// its request is dropped if no committer took it yet. Once taken, it runs under the
// committer's context: like a connection that fails after sending, the caller cannot
// know whether it committed, and a retry with the same event ids tells.
const (
	groupMaxRequests = 256
	groupMaxEvents   = 4096
)

// appendGroupSQL is appendManySQL for a group of requests on distinct streams: one row
// per event, with its request's stream, expected version and index in the request. The
// version check is a lateral subquery kept from being pulled up (OFFSET 0) so that it
// stays one index probe per row: as a plain correlated EXISTS under the OR, the planner
// hashes the whole events table instead ("hashed SubPlan" over a sequential scan).
const appendGroupSQL = `
INSERT INTO events (position, id, stream_id, stream_type, version, type, schema_version, schema_fingerprint,
                    occurred_at, correlation_id, causation_id, actor, traceparent, payload)
SELECT (pg_current_xact_id()::text::bigint << 16) + u.ord, u.id, u.stream_id, u.stream_type,
       u.expected + u.k, u.type, u.schema_version, u.fingerprint, u.occurred_at, u.correlation_id,
       u.causation_id, u.actor, u.traceparent, u.payload
FROM unnest($1::text[], $2::text[], $3::bigint[], $4::int[], $5::uuid[], $6::text[], $7::int[], $8::bytea[],
            $9::timestamptz[], $10::uuid[], $11::uuid[], $12::text[], $13::text[], $14::bytea[])
     WITH ORDINALITY AS u(stream_id, stream_type, expected, k, id, type, schema_version, fingerprint,
                          occurred_at, correlation_id, causation_id, actor, traceparent, payload, ord)
     CROSS JOIN LATERAL (SELECT u.expected = 0 OR EXISTS (
         SELECT FROM events e WHERE e.stream_id = u.stream_id AND e.version = u.expected) AS at_expected
         OFFSET 0) c
WHERE c.at_expected
RETURNING stream_id, position`

var metricGroupRequests = prometheus.NewHistogram(prometheus.HistogramOpts{
	Namespace: "ordo", Subsystem: "eventstore", Name: "append_group_requests",
	Help:    "Appends written together in one transaction by the group committer.",
	Buckets: prometheus.ExponentialBuckets(1, 2, 9),
})

type appendRequest struct {
	ctx      context.Context
	stream   eventstore.Stream
	expected eventstore.ExpectedVersion
	events   []eventstore.NewEvent
	done     chan appendResult // capacity 1: answered once, read or not
}

type appendResult struct {
	res eventstore.AppendResult
	err error
}

// committer runs the group commit: workers goroutines, each taking what is queued when
// it is free, so up to workers groups are in flight at once.
type committer struct {
	store   *Store
	workers int
	queue   chan *appendRequest
	start   sync.Once
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu     sync.RWMutex // held for reading while queueing, for writing to close
	closed bool
}

func newCommitter(s *Store, workers int) *committer {
	ctx, cancel := context.WithCancel(context.Background())
	return &committer{store: s, workers: workers, queue: make(chan *appendRequest, groupMaxRequests),
		ctx: ctx, cancel: cancel}
}

// submit queues an append and waits for its result. ok is false when the committer is
// closed or off (no workers): the caller then writes on its own.
func (c *committer) submit(ctx context.Context, stream eventstore.Stream, expected eventstore.ExpectedVersion, events []eventstore.NewEvent) (appendResult, bool) {
	r := &appendRequest{ctx: ctx, stream: stream, expected: expected, events: events, done: make(chan appendResult, 1)}
	c.mu.RLock()
	if c.closed || c.workers < 1 {
		c.mu.RUnlock()
		return appendResult{}, false
	}
	c.start.Do(func() {
		for range c.workers {
			c.wg.Add(1)
			go func() { defer c.wg.Done(); c.run(c.ctx) }()
		}
	})
	select {
	case c.queue <- r:
		c.mu.RUnlock()
	case <-ctx.Done():
		c.mu.RUnlock()
		return appendResult{err: ctx.Err()}, true
	}
	select {
	case out := <-r.done:
		return out, true
	case <-ctx.Done():
		// Still queued, a committer drops it; taken, it may commit, as a cancelled query
		// may have: a retry with the same event ids tells.
		return appendResult{err: ctx.Err()}, true
	}
}

// close stops the workers once their groups are written and writes what is still
// queued, each request on its own. Appends after close do not queue.
func (c *committer) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	for {
		select {
		case r := <-c.queue:
			c.store.finish(r)
		default:
			return
		}
	}
}

func (c *committer) run(ctx context.Context) {
	var carry []*appendRequest // requests for a stream already in the last group
	for {
		var group []*appendRequest
		streams := map[string]bool{}
		events := 0
		add := func(r *appendRequest) bool {
			if r.ctx.Err() != nil {
				r.done <- appendResult{err: r.ctx.Err()}
				return true
			}
			if streams[r.stream.ID] || events+len(r.events) > groupMaxEvents && len(group) > 0 {
				return false
			}
			streams[r.stream.ID] = true
			events += len(r.events)
			group = append(group, r)
			return true
		}
		var rest []*appendRequest
		for _, r := range carry {
			if len(group) >= groupMaxRequests || !add(r) {
				rest = append(rest, r)
			}
		}
		carry = rest
		if len(group) == 0 && len(carry) == 0 {
			select {
			case r := <-c.queue:
				add(r)
			case <-ctx.Done():
				return
			}
			// Let the writers that are about to queue do so before the group is cut: the
			// ones this worker's last group just answered are runnable and submit at once.
			// Without it the group often held only the first of them, and the rest waited a
			// whole statement (1 writer: no change; 4 and 16 writers: 18-32 % more appends
			// a second, docs/PERFORMANCE.md).
			runtime.Gosched()
		}
	drain:
		for len(group) < groupMaxRequests && events < groupMaxEvents {
			select {
			case r := <-c.queue:
				if !add(r) {
					carry = append(carry, r)
				}
			default:
				break drain
			}
		}
		if len(group) > 0 {
			c.store.writeGroup(group)
		}
	}
}

// finish writes r on its own and answers it.
func (s *Store) finish(r *appendRequest) {
	res, err := s.appendOwnTx(r.ctx, r.stream, r.expected, r.events)
	r.done <- appendResult{res: res, err: err}
}

// writeGroup writes the group in one statement, or each request on its own when the
// statement fails, and answers every request.
func (s *Store) writeGroup(group []*appendRequest) {
	metricGroupRequests.Observe(float64(len(group)))
	if len(group) == 1 {
		s.finish(group[0])
		return
	}
	slices.SortFunc(group, func(a, b *appendRequest) int { return cmp.Compare(a.stream.ID, b.stream.ID) })
	// The statement carries the first request's trace; its deadline is not the group's.
	ctx := context.WithoutCancel(group[0].ctx)
	results, err := s.insertGroup(ctx, group)
	if err != nil {
		for _, r := range group {
			s.finish(r)
		}
		return
	}
	for i, r := range group {
		if results[i].FirstPosition != 0 {
			r.done <- appendResult{res: results[i]}
			continue
		}
		// Nothing inserted: the stream is not at the expected version. It may be a retry
		// of an append that did commit.
		res, err := s.resolveConflict(r.ctx, r.stream, eventIDs(r.events), fmt.Errorf("stream %s is not at %s", r.stream, r.expected))
		r.done <- appendResult{res: res, err: err}
	}
}

// insertGroup runs appendGroupSQL for the group (sorted by stream id) and returns each
// request's result, zero for a request that inserted nothing.
func (s *Store) insertGroup(ctx context.Context, group []*appendRequest) ([]eventstore.AppendResult, error) {
	n := 0
	for _, r := range group {
		n += len(r.events)
	}
	var (
		streamIDs   = make([]string, 0, n)
		streamTypes = make([]string, 0, n)
		expected    = make([]int64, 0, n)
		index       = make([]int32, 0, n)
		c           = newColumns(n)
		byStream    = make(map[string]int, len(group))
	)
	for i, r := range group {
		byStream[r.stream.ID] = i
		for k, e := range r.events {
			streamIDs, streamTypes = append(streamIDs, r.stream.ID), append(streamTypes, r.stream.Type)
			expected, index = append(expected, int64(r.expected)), append(index, int32(k+1))
			c.add(e)
		}
	}
	rows, err := s.groupPool.Query(ctx, appendGroupSQL, streamIDs, streamTypes, expected, index, c.ids, c.types,
		c.versions, c.fingerprints, c.occurred, c.correlations, c.causations, c.actors, c.traces, c.payloads)
	if err != nil {
		return nil, err
	}
	results := make([]eventstore.AppendResult, len(group))
	var (
		stream string
		pos    int64
	)
	_, err = pgx.ForEachRow(rows, []any{&stream, &pos}, func() error {
		i, ok := byStream[stream]
		if !ok {
			return fmt.Errorf("group append returned stream %q, not in the group", stream)
		}
		res := &results[i]
		if res.FirstPosition == 0 || pos < res.FirstPosition {
			res.FirstPosition = pos
		}
		res.LastPosition = max(res.LastPosition, pos)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, r := range group {
		if results[i].FirstPosition != 0 {
			results[i].FirstVersion = int64(r.expected) + 1
			results[i].LastVersion = int64(r.expected) + int64(len(r.events))
		}
	}
	return results, nil
}
