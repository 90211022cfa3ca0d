package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/eventstoretest"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	pgpool "github.com/ordo-platform/ordo/internal/postgres"
)

// TestGapSafeGlobalOrder is the adversarial test of the global order: many writers on
// many streams, each transaction pausing at random while open (some taking their
// transaction id early, before the pause, so that they commit long after younger ones),
// some rolling back, while a reader follows ReadAll. The reader must see every committed
// event exactly once, in strictly increasing positions, per-stream versions without a
// hole, and nothing from a rolled-back transaction.
func TestGapSafeGlobalOrder(t *testing.T) {
	t.Parallel()
	target := 100_000
	if testing.Short() {
		target = 10_000
	}
	testGapSafe(t, target, 300, func(w int) writeFunc { return oneTx })
}

// TestGapSafeGlobalOrderMixedAppends is the same adversarial test with other kinds of
// writers beside the transactions that take their id early, on the same few streams:
// Append with an exact expected version (its own transaction, the statement without a
// version lookup or ordering guard), and, in "queued", QueueAppend on a PipeTx (sent
// with the commit, at the versions the streams had when read, so often refused there).
// Per-stream order must still equal position order, with no hole.
func TestGapSafeGlobalOrderMixedAppends(t *testing.T) {
	t.Parallel()
	target := 30_000
	if testing.Short() {
		target = 5_000
	}
	for _, c := range []struct {
		name    string
		writers []writeFunc
	}{
		{"append", []writeFunc{oneTx, ownTx}},
		{"queued", []writeFunc{oneTx, ownTx, queuedTx}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			testGapSafe(t, target, 40, func(w int) writeFunc { return c.writers[w%len(c.writers)] })
		})
	}
}

// writeFunc is one writer's step: it returns the ids it tried to append and whether
// they committed.
type writeFunc func(ctx context.Context, s *postgres.Store, pool *pgxpool.Pool, rng *rand.Rand, streams []eventstore.Stream) ([]uuid.UUID, bool, error)

func testGapSafe(t *testing.T, target, nStreams int, writer func(w int) writeFunc) {
	s := newStore(t)
	pool := s.Pool()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	const writers = 24
	streams := make([]eventstore.Stream, nStreams)
	for i := range streams {
		streams[i] = eventstoretest.Stream("order")
	}

	var (
		committedMu sync.Mutex
		committed   = map[uuid.UUID]bool{}
		rolledBack  = map[uuid.UUID]bool{}
		total       atomic.Int64
		conflicts   atomic.Int64
		writersDone = make(chan struct{})
	)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			write := writer(w)
			for total.Load() < int64(target) && ctx.Err() == nil {
				ids, ok, err := write(ctx, s, pool, rng, streams)
				if errors.Is(err, eventstore.ErrVersionConflict) {
					conflicts.Add(1)
				} else if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				committedMu.Lock()
				for _, id := range ids {
					if ok {
						committed[id] = true
					} else {
						rolledBack[id] = true
					}
				}
				committedMu.Unlock()
				if ok {
					total.Add(int64(len(ids)))
				}
			}
		})
	}
	go func() { wg.Wait(); close(writersDone) }()

	// The reader follows the global order while the writers run, then drains.
	seen := make(map[uuid.UUID]bool, target+1000)
	lastVersion := map[string]int64{}
	var after int64
	read := func() int {
		page, err := s.ReadAll(ctx, after, 2000)
		require.NoError(t, err)
		for _, e := range page {
			require.Greater(t, e.Position, after, "positions strictly increase")
			require.False(t, seen[e.ID], "event %s seen twice", e.ID)
			seen[e.ID] = true
			require.Equal(t, lastVersion[e.StreamID]+1, e.Version, "stream %s: no hole, no reordering", e.StreamID)
			lastVersion[e.StreamID] = e.Version
			after = e.Position
		}
		return len(page)
	}
	for running := true; running; {
		select {
		case <-writersDone:
			running = false
		default:
			if read() == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	// Drain. An empty read does not mean the end: a transaction open anywhere in the
	// cluster (other tests) holds the visible bound back for a while. Read until every
	// committed event is seen; one the reader skipped would never come, and the wait
	// would end at the deadline with the assertions below failing.
	committedMu.Lock()
	want := len(committed)
	committedMu.Unlock()
	for deadline := time.Now().Add(time.Minute); len(seen) < want && time.Now().Before(deadline); {
		if read() == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	for read() > 0 { // nothing beyond the committed events may appear
	}
	require.NoError(t, ctx.Err())

	committedMu.Lock()
	defer committedMu.Unlock()
	t.Logf("%d committed events in %d streams, %d rolled back, %d conflicts", len(committed), len(lastVersion), len(rolledBack), conflicts.Load())
	require.GreaterOrEqual(t, len(committed), target)
	require.Equal(t, len(committed), len(seen), "the reader saw every committed event")
	for id := range committed {
		require.True(t, seen[id], "committed event %s never read", id)
	}
	for id := range rolledBack {
		require.False(t, seen[id], "rolled-back event %s was read", id)
	}
}

// oneTx runs one adversarial transaction (adversarialTx) of one to three appends of up
// to ten events, each to a random stream at whatever version it has (Any).
func oneTx(ctx context.Context, s *postgres.Store, pool *pgxpool.Pool, rng *rand.Rand, streams []eventstore.Stream) ([]uuid.UUID, bool, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, false, err
	}
	return adversarialTx(ctx, tx, rng, 1+rng.IntN(3), func(int) ([]uuid.UUID, error) {
		batch, ids := noted(rng, 10)
		_, err := s.AppendTx(ctx, tx, streams[rng.IntN(len(streams))], eventstore.Any, batch...)
		return ids, err
	})
}

// adversarialTx runs the shape of the transaction writers: maybe take a transaction id
// early, pause, run the appends (each returning the ids it tried), pausing now and then,
// pause, then commit (90%) or roll back. It ends tx either way.
func adversarialTx(ctx context.Context, tx pgx.Tx, rng *rand.Rand, appends int, appendOne func(i int) ([]uuid.UUID, error)) (ids []uuid.UUID, committed bool, err error) {
	defer func() { _ = tx.Rollback(ctx) }()
	if rng.IntN(2) == 0 {
		if _, err := tx.Exec(ctx, "SELECT pg_current_xact_id()"); err != nil {
			return nil, false, err
		}
	}
	pause(rng)
	for i := range appends {
		tried, err := appendOne(i)
		ids = append(ids, tried...)
		if err != nil {
			return ids, false, err
		}
		if rng.IntN(3) == 0 {
			pause(rng)
		}
	}
	pause(rng)
	if rng.IntN(10) == 0 {
		return ids, false, tx.Rollback(ctx)
	}
	if err := tx.Commit(ctx); err != nil {
		return ids, false, err
	}
	return ids, true, nil
}

// noted is one to max new events and their ids.
func noted(rng *rand.Rand, max int) ([]eventstore.NewEvent, []uuid.UUID) {
	batch := make([]eventstore.NewEvent, 1+rng.IntN(max))
	ids := make([]uuid.UUID, len(batch))
	for i := range batch {
		batch[i] = eventstoretest.Event("order.noted", fmt.Sprint(i))
		ids[i] = batch[i].ID
	}
	return batch, ids
}

func pause(rng *rand.Rand) {
	time.Sleep(time.Duration(rng.IntN(1500)) * time.Microsecond)
}

// ownTx appends one to five events with Append (a transaction of its own) at the version
// the stream has now (or, now and then, one ahead of it); losing the race, or being
// ahead, is a version conflict.
func ownTx(ctx context.Context, s *postgres.Store, _ *pgxpool.Pool, rng *rand.Rand, streams []eventstore.Stream) ([]uuid.UUID, bool, error) {
	st := streams[rng.IntN(len(streams))]
	v, err := s.StreamVersion(ctx, st.ID)
	if err != nil {
		return nil, false, err
	}
	batch, ids := noted(rng, 5)
	switch rng.IntN(10) {
	case 0:
		v += 1 + int64(rng.IntN(2)) // a version the stream has not reached: refused, never a hole
	case 1, 2, 3, 4:
		pause(rng) // let the version go stale
	}
	if _, err := s.Append(ctx, st, eventstore.Exact(v), batch...); err != nil {
		return ids, false, err
	}
	return ids, true, nil
}

// queuedTx runs one adversarial transaction (adversarialTx) on a PipeTx that queues
// appends of up to five events to one to three distinct streams, each at the version
// the stream has when read: a stale version, or a younger transaction's event on the
// stream, refuses the commit.
func queuedTx(ctx context.Context, s *postgres.Store, pool *pgxpool.Pool, rng *rand.Rand, streams []eventstore.Stream) ([]uuid.UUID, bool, error) {
	tx, err := pgpool.BeginPipe(ctx, pool)
	if err != nil {
		return nil, false, err
	}
	picked := rng.Perm(len(streams))[:1+rng.IntN(3)]
	return adversarialTx(ctx, tx, rng, len(picked), func(i int) ([]uuid.UUID, error) {
		st := streams[picked[i]]
		v, err := s.StreamVersion(ctx, st.ID)
		if err != nil {
			return nil, err
		}
		batch, ids := noted(rng, 5)
		_, err = s.QueueAppend(tx, st, eventstore.Exact(v), batch...)
		return ids, err
	})
}
