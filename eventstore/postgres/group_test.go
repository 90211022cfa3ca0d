package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/eventstoretest"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/internal/testenv"
)

// groupCommits is how many groups the group committer has written so far (all stores
// of this process).
func groupCommits(t *testing.T) (groups uint64, requests float64) {
	t.Helper()
	for _, c := range postgres.Collectors() {
		ch := make(chan prometheus.Metric, 16)
		c.Collect(ch)
		close(ch)
		for m := range ch {
			if !strings.Contains(m.Desc().String(), `"ordo_eventstore_append_group_requests"`) {
				continue
			}
			var out dto.Metric
			require.NoError(t, m.Write(&out))
			return out.GetHistogram().GetSampleCount(), out.GetHistogram().GetSampleSum()
		}
	}
	t.Fatal("no append_group_requests metric")
	return 0, 0
}

// TestGroupCommitKeepsEachAppendsOutcome: 48 writers on 12 streams (four racing on each,
// so that groups fail on unique violations and fall back to appending one by one), each
// appending one to three events at the version it last read, with a retry of an
// already committed append, and an append ahead of the stream (which would leave a hole),
// mixed in now and then. Appends must be grouped (fewer groups
// than requests), and every outcome must be what a transaction of its own would give:
// a winner's result names exactly the stored events, a retry gets the first result, a
// loser stores nothing, and every stream's versions are contiguous.
func TestGroupCommitKeepsEachAppendsOutcome(t *testing.T) {
	ctx := context.Background()
	pool := testenv.PostgresSchema(t, postgres.Migrations())
	s, err := postgres.New(ctx, pool, postgres.WithGroupCommit(1))
	require.NoError(t, err)
	t.Cleanup(s.Close)

	const streams, perStream, appends = 12, 4, 40
	groupsBefore, requestsBefore := groupCommits(t)
	type won struct {
		res eventstore.AppendResult
		ids []uuid.UUID
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins = map[string][]won{}
		errs []error
		fail = func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
	)
	sts := make([]eventstore.Stream, streams)
	for i := range sts {
		sts[i] = eventstoretest.Stream("order")
	}
	for w := range streams * perStream {
		wg.Go(func() {
			st := sts[w%streams]
			var last []eventstore.NewEvent // this writer's last committed append
			var lastRes eventstore.AppendResult
			for i := range appends {
				if last != nil && i%7 == 0 {
					// A retry of a committed append: stores nothing, gets the first result.
					res, err := s.Append(ctx, st, eventstore.Exact(lastRes.FirstVersion-1), last...)
					if err != nil {
						fail(fmt.Errorf("retry: %w", err))
						return
					}
					if res != lastRes {
						fail(fmt.Errorf("retry of %+v got %+v", lastRes, res))
						return
					}
				}
				v, err := s.StreamVersion(ctx, st.ID)
				if err != nil {
					fail(err)
					return
				}
				if i%5 == 0 {
					// Ahead of the stream: would leave a hole, stores nothing.
					_, err := s.Append(ctx, st, eventstore.Exact(v+1000), eventstoretest.Event("order.noted", "ahead"))
					if !errors.Is(err, eventstore.ErrVersionConflict) {
						fail(fmt.Errorf("append ahead of the stream at %d: %w", v+1000, err))
						return
					}
				}
				evs := make([]eventstore.NewEvent, 1+(w+i)%3)
				ids := make([]uuid.UUID, len(evs))
				for k := range evs {
					evs[k] = eventstoretest.Event("order.noted", fmt.Sprintf("w%d-%d-%d", w, i, k))
					ids[k] = evs[k].ID
				}
				res, err := s.Append(ctx, st, eventstore.Exact(v), evs...)
				switch {
				case errors.Is(err, eventstore.ErrVersionConflict):
					continue
				case err != nil:
					fail(err)
					return
				}
				if res.FirstVersion != v+1 || res.LastVersion != v+int64(len(evs)) ||
					res.LastPosition-res.FirstPosition != int64(len(evs)-1) {
					fail(fmt.Errorf("append at %d of %d events: result %+v", v, len(evs), res))
					return
				}
				last, lastRes = evs, res
				mu.Lock()
				wins[st.ID] = append(wins[st.ID], won{res, ids})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Empty(t, errs)

	groups, requests := groupCommits(t)
	require.Less(t, groups-groupsBefore, uint64(requests-requestsBefore), "some appends were written together")

	for _, st := range sts {
		stored, err := s.ReadStream(ctx, st.ID, 1, 10_000)
		require.NoError(t, err)
		byVersion := map[int64]eventstore.Event{}
		for i, e := range stored {
			require.EqualValues(t, i+1, e.Version, "versions are contiguous")
			byVersion[e.Version] = e
			if i > 0 {
				require.Greater(t, e.Position, stored[i-1].Position, "per-stream order is position order")
			}
		}
		n := 0
		for _, w := range wins[st.ID] {
			for k, id := range w.ids {
				e := byVersion[w.res.FirstVersion+int64(k)]
				require.Equal(t, id, e.ID, "the winner's events are stored at its versions")
				require.Equal(t, w.res.FirstPosition+int64(k), e.Position)
				n++
			}
		}
		require.Len(t, stored, n, "only winners' events are stored")
	}
}

// TestGroupCommitCloseAnswersEveryAppend: closing the store while appends are queued
// answers every one of them (written on its own after the committer stops) and leaves
// no goroutine behind (TestMain checks).
func TestGroupCommitCloseAnswersEveryAppend(t *testing.T) {
	ctx := context.Background()
	pool := testenv.PostgresSchema(t, postgres.Migrations())
	s, err := postgres.New(ctx, pool, postgres.WithGroupCommit(1))
	require.NoError(t, err)

	var wg sync.WaitGroup
	type result struct {
		res eventstore.AppendResult
		err error
	}
	results := make(chan result, 64)
	for range 64 {
		wg.Go(func() {
			res, err := s.Append(ctx, eventstoretest.Stream("order"), eventstore.NoStream, eventstoretest.Event("order.noted", "x"))
			results <- result{res, err}
		})
	}
	s.Close()
	wg.Wait()
	close(results)
	var head int64
	n := 0
	for r := range results {
		require.NoError(t, r.err)
		head = max(head, r.res.LastPosition)
		n++
	}
	require.Equal(t, 64, n)
	eventstoretest.WaitVisible(t, s, head)
	all, err := s.ReadAll(ctx, 0, 1000)
	require.NoError(t, err)
	require.Len(t, all, 64)
	require.Equal(t, head, all[63].Position)
}
