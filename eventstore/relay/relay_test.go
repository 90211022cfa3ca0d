package relay_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/eventstoretest"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/eventstore/record"
	"github.com/ordo-platform/ordo/eventstore/relay"
	"github.com/ordo-platform/ordo/internal/testenv"
	"github.com/ordo-platform/ordo/internal/topic"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type fixture struct {
	store *postgres.Store
	names topic.Names
	kafka *kgo.Client
}

func setup(t *testing.T) fixture {
	t.Helper()
	pool := testenv.PostgresSchema(t, postgres.Migrations())
	s, err := postgres.New(context.Background(), pool)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return fixture{store: s, names: testenv.KafkaTopics(t), kafka: testenv.KafkaClient(t)}
}

func (f fixture) relay(t *testing.T, batch int) *relay.Relay {
	cfg := relay.DefaultConfig()
	cfg.Topics = f.names
	cfg.BatchSize = batch
	cfg.StandbyRetry = 100 * time.Millisecond
	cfg.PollInterval = 50 * time.Millisecond
	require.NoError(t, cfg.Validate())
	return relay.New(cfg, f.store, f.store.Pool(), f.kafka, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// run starts r in the background; the returned func stops it and waits.
func run(t *testing.T, r *relay.Relay) func() {
	var wg sync.WaitGroup
	wg.Go(func() { require.NoError(t, r.Start(context.Background())) })
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			r.Stop()
			wg.Wait()
		}
	}
	t.Cleanup(stop)
	return stop
}

func appendSome(t *testing.T, s eventstore.Store, streamType string, streams, perStream int) []uuid.UUID {
	t.Helper()
	var ids []uuid.UUID
	for i := 0; i < streams; i++ {
		st := eventstoretest.Stream(streamType)
		for v := 0; v < perStream; v++ {
			e := eventstoretest.Event(streamType+".happened", "x")
			_, err := s.Append(context.Background(), st, eventstore.Exact(int64(v)), e)
			require.NoError(t, err)
			ids = append(ids, e.ID)
		}
	}
	return ids
}

// checkPublished reads the topics and checks that exactly the wanted events are there,
// once each (duplicates counted), with each stream's versions in order within its
// partition.
func checkPublished(t *testing.T, f fixture, want []uuid.UUID, allowDuplicates bool) {
	t.Helper()
	recs := testenv.ConsumeN(t, f.names.Events(), len(want), 60*time.Second)
	seen := map[uuid.UUID]int{}
	last := map[string]int64{}
	for _, r := range recs {
		e, err := record.ToEvent(r)
		require.NoError(t, err)
		seen[e.ID]++
		if seen[e.ID] == 1 {
			require.Equal(t, last[e.StreamID]+1, e.Version, "stream %s in order", e.StreamID)
			last[e.StreamID] = e.Version
		}
	}
	for _, id := range want {
		require.Contains(t, seen, id, "event %s published", id)
		if !allowDuplicates {
			require.Equal(t, 1, seen[id], "event %s published once", id)
		}
	}
	require.Len(t, seen, len(want), "nothing else published")
}

func TestPublishesEveryEventInStreamOrder(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var want []uuid.UUID
	for _, typ := range []string{"order", "inventory", "payment", "user", "product"} {
		want = append(want, appendSome(t, f.store, typ, 5, 4)...)
	}
	r := f.relay(t, 7)
	run(t, r)
	more := appendSome(t, f.store, "order", 3, 3) // while it runs
	want = append(want, more...)
	checkPublished(t, f, want, false)
}

func TestResumesFromCheckpoint(t *testing.T) {
	t.Parallel()
	f := setup(t)
	want := appendSome(t, f.store, "order", 4, 5)
	r1 := f.relay(t, 100)
	stop := run(t, r1)
	require.Eventually(t, func() bool {
		head, _ := f.store.HeadPosition(context.Background())
		return head > 0 && r1.Position() == head
	}, 30*time.Second, 10*time.Millisecond)
	stop()

	want = append(want, appendSome(t, f.store, "order", 2, 5)...)
	r2 := f.relay(t, 100)
	run(t, r2)
	checkPublished(t, f, want, false) // a clean stop republishes nothing
}

func TestOneLeaderAtATime(t *testing.T) {
	t.Parallel()
	f := setup(t)
	want := appendSome(t, f.store, "payment", 5, 2)
	leader, standby := f.relay(t, 3), f.relay(t, 3)
	stopLeader := run(t, leader)
	require.Eventually(t, func() bool { return leader.Position() > 0 }, 30*time.Second, 10*time.Millisecond)
	run(t, standby)
	time.Sleep(300 * time.Millisecond) // several standby retries
	require.Zero(t, standby.Position(), "the standby must not publish while the leader runs")

	stopLeader()
	want = append(want, appendSome(t, f.store, "payment", 5, 2)...)
	require.Eventually(t, func() bool {
		head, _ := f.store.HeadPosition(context.Background())
		return standby.Position() == head
	}, 30*time.Second, 10*time.Millisecond, "the standby takes over")
	checkPublished(t, f, want, false)
}

// TestLateCommitIsPublishedAfterItCommits is the outbox gap test: one transaction is
// held open for 5 s while a thousand others commit; its event is published after it
// commits, and a rolled-back transaction publishes nothing.
func TestLateCommitIsPublishedAfterItCommits(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	r := f.relay(t, 500)
	run(t, r)

	slow, err := f.store.Pool().Begin(ctx)
	require.NoError(t, err)
	late := eventstoretest.Event("order.placed", "late")
	_, err = f.store.AppendTx(ctx, slow, eventstoretest.Stream("order"), eventstore.NoStream, late)
	require.NoError(t, err)

	rolled, err := f.store.Pool().Begin(ctx)
	require.NoError(t, err)
	ghost := eventstoretest.Event("order.placed", "ghost")
	_, err = f.store.AppendTx(ctx, rolled, eventstoretest.Stream("order"), eventstore.NoStream, ghost)
	require.NoError(t, err)

	var want []uuid.UUID
	var wg sync.WaitGroup
	var mu sync.Mutex
	for w := 0; w < 10; w++ {
		wg.Go(func() {
			ids := appendSome(t, f.store, "order", 100, 1)
			mu.Lock()
			want = append(want, ids...)
			mu.Unlock()
		})
	}
	wg.Wait()
	require.NoError(t, rolled.Rollback(ctx))
	time.Sleep(5 * time.Second)
	require.NoError(t, slow.Commit(ctx))
	want = append(want, late.ID)
	checkPublished(t, f, want, false)
}
