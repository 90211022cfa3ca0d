package projections

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A rebuild runs while events stream in and the live projectors write the old version;
// queries keep answering from the old version, the switch is atomic, and afterwards
// the new version (fed by the live projector from the handed-over offsets) equals the
// store.
func TestReplayUnderLiveTrafficSwitchesAtomically(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := newTraffic(t, f.store, 10)
	g.run(t, 3000)
	f.startRelay(t)
	f.startProjector(t, Orders)
	f.startProjector(t, Products)
	f.requireConverges(t)
	g.mu.Lock()
	someOrder := g.pending[0].id
	g.mu.Unlock()

	// The API side: reads that must succeed all along.
	ctx := context.Background()
	var (
		reads    atomic.Int64
		failures atomic.Int64
		firstErr atomic.Value
	)
	readCtx, stopReads := context.WithCancel(ctx)
	var readers sync.WaitGroup
	readers.Go(func() {
		for readCtx.Err() == nil {
			_, err := f.q.GetOrder(ctx, someOrder)
			if err == nil {
				var page ProductPage
				page, err = f.q.ListProducts(ctx, "", 5)
				if err == nil && len(page.Products) == 0 {
					err = errors.New("empty catalogue")
				}
			}
			reads.Add(1)
			if err != nil {
				failures.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			}
		}
	})

	stopTraffic := g.live(t)
	for _, name := range []string{Orders, Products} {
		res, err := Rebuild(ctx, f.pool, f.store, name, RebuildOptions{PageSize: 500})
		require.NoError(t, err)
		require.Equal(t, 2, res.Version)
		require.Equal(t, 1, res.Previous)
		require.False(t, res.Resumed)
		require.Positive(t, res.Events)
	}
	require.Positive(t, stopTraffic(), "events were appended during the rebuilds")
	stopReads()
	readers.Wait()
	require.Zero(t, failures.Load(), "queries failed during the rebuild (of %d): %v", reads.Load(), firstErr.Load())
	require.Positive(t, reads.Load())

	g.run(t, 100) // after the switch: the live projectors now write version 2
	f.requireConverges(t)
	st, err := List(ctx, f.pool)
	require.NoError(t, err)
	for _, s := range st {
		a, ok := s.Active()
		require.True(t, ok)
		require.Equal(t, 2, a.Version, s.Name)
		require.NotEmpty(t, a.Offsets, "%s: the live projector's offsets moved to version 2", s.Name)
		require.Equal(t, "retired", s.Versions[1].State)
	}
	dropped, err := DropRetired(ctx, f.pool, Orders)
	require.NoError(t, err)
	require.Equal(t, []int{1}, dropped)
	f.requireConverges(t)
}

// A rebuild killed in the middle (here: its context cancelled after two checkpoints)
// resumes from its checkpoint on the next run and ends equal to the store.
func TestReplayResumesAfterKill(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := newTraffic(t, f.store, 11)
	g.run(t, 3000)
	ctx, kill := context.WithCancel(context.Background())
	pages := 0
	_, err := Rebuild(ctx, f.pool, f.store, Orders, RebuildOptions{PageSize: 400, Progress: func(p RebuildProgress) {
		if p.Phase == PhaseRebuild && p.RunEvents > 0 {
			if pages++; pages == 2 {
				kill()
			}
		}
	}})
	require.ErrorIs(t, err, context.Canceled)

	st, err := List(context.Background(), f.pool)
	require.NoError(t, err)
	b, ok := st[0].Building()
	require.True(t, ok, "the interrupted version stays registered as building")
	require.Equal(t, 2, b.Version)
	require.Positive(t, b.Position)
	require.EqualValues(t, 800, b.Events, "two pages were checkpointed")

	// The killed run's session may outlive it by a moment (a closed connection's backend
	// ends asynchronously, its lock with it): as a user would, try again until it is gone.
	var res RebuildResult
	for deadline := time.Now().Add(30 * time.Second); ; {
		res, err = Rebuild(context.Background(), f.pool, f.store, Orders, RebuildOptions{PageSize: 400})
		if !errors.Is(err, ErrRebuildRunning) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, err)
	require.True(t, res.Resumed)
	require.Equal(t, 2, res.Version)
	var total int64
	require.NoError(t, f.pool.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&total))
	require.Equal(t, total-800, res.Events, "the second run read only what the first had not checkpointed")

	_, err = Rebuild(context.Background(), f.pool, f.store, Products, RebuildOptions{PageSize: 1000})
	require.NoError(t, err)
	require.Empty(t, f.diff(t))
}

// Two rebuilds of the same projection never run at once; other projections may.
func TestSecondConcurrentReplayIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := newTraffic(t, f.store, 12)
	g.run(t, 1000)
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	var firstErr error
	wg.Go(func() {
		_, firstErr = Rebuild(context.Background(), f.pool, f.store, Orders, RebuildOptions{PageSize: 100, Progress: func(p RebuildProgress) {
			if p.Phase == PhaseRebuild && p.RunEvents > 0 {
				once.Do(func() { close(started); <-release })
			}
		}})
	})
	<-started
	_, err := Rebuild(context.Background(), f.pool, f.store, Orders, RebuildOptions{})
	require.ErrorIs(t, err, ErrRebuildRunning)
	_, err = Rebuild(context.Background(), f.pool, f.store, Products, RebuildOptions{})
	require.NoError(t, err, "another projection's rebuild is not blocked")
	close(release)
	wg.Wait()
	require.NoError(t, firstErr)
	require.Empty(t, f.diff(t))
}

// The replay path writes read-model tables only: the package cannot even reach the
// code that sends notifications, emails, payments or saga commands.
func TestReplayPathCannotReachSideEffects(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	require.NoError(t, err, string(out))
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"/sagas", "/notify", "/api", "/app", "/analytics", "net/smtp"} {
			require.False(t, strings.Contains(dep, "ordo-platform/ordo"+banned) || dep == banned,
				"projections depends on %s", dep)
		}
	}
}
