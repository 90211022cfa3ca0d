package consumer_test

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/ordo-platform/ordo/internal/consumer"
	"github.com/ordo-platform/ordo/internal/testenv"
	"github.com/ordo-platform/ordo/internal/topic"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newClient(opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(testenv.KafkaBrokers()...)}, opts...)...)
}

// produce writes n records to the orders topic, keyed over 20 streams, values "k:i".
func produce(t *testing.T, names topic.Names, from, n int) {
	t.Helper()
	cl := testenv.KafkaClient(t)
	topicName, _ := names.ForStreamType("order")
	var rs []*kgo.Record
	for i := from; i < from+n; i++ {
		k := fmt.Sprintf("order-%d", i%20)
		rs = append(rs, &kgo.Record{Topic: topicName, Key: []byte(k), Value: []byte(fmt.Sprintf("%s:%d", k, i))})
	}
	require.NoError(t, cl.ProduceSync(context.Background(), rs...).FirstErr())
}

type recorder struct {
	mu   sync.Mutex
	seen map[string][]string // key -> values in handled order
	n    int
}

func (r *recorder) Handle(_ context.Context, b consumer.Batch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[string][]string{}
	}
	for _, rec := range b.Records {
		r.seen[string(rec.Key)] = append(r.seen[string(rec.Key)], string(rec.Value))
		r.n++
	}
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// requireKeysInOrder: the values "key:i..." of each key were handled in increasing i.
func requireKeysInOrder(t *testing.T, seen map[string][]string) {
	t.Helper()
	for k, vs := range seen {
		for i := 1; i < len(vs); i++ {
			var a, b int
			_, err1 := fmt.Sscanf(vs[i-1][len(k)+1:], "%d", &a)
			_, err2 := fmt.Sscanf(vs[i][len(k)+1:], "%d", &b)
			require.NoError(t, errors.Join(err1, err2))
			require.Less(t, a, b, "key %s in order", k)
		}
	}
}

func start(t *testing.T, cfg consumer.Config, h consumer.Handler) func() {
	t.Helper()
	c := consumer.New(cfg, h, newClient, quiet)
	var wg sync.WaitGroup
	wg.Go(func() { require.NoError(t, c.Start(context.Background())) })
	once := sync.Once{}
	stop := func() { once.Do(func() { c.Stop(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

func config(names topic.Names, group string) consumer.Config {
	orders, _ := names.ForStreamType("order")
	return consumer.Config{Group: group, Topics: []string{orders}, DeadLetterTopic: names.DeadLetter(), MaxRetryBackoff: 100 * time.Millisecond}
}

func TestHandlesEverythingInPartitionOrderAndResumes(t *testing.T) {
	t.Parallel()
	names := testenv.KafkaTopics(t)
	produce(t, names, 0, 1000)
	r := &recorder{}
	stop := start(t, config(names, "g1"), r)
	require.Eventually(t, func() bool { return r.count() == 1000 }, 60*time.Second, 20*time.Millisecond)
	stop()
	requireKeysInOrder(t, r.seen)

	// A new member of the same group resumes after the committed offsets.
	produce(t, names, 1000, 100)
	r2 := &recorder{}
	start(t, config(names, "g1"), r2)
	require.Eventually(t, func() bool { return r2.count() == 100 }, 60*time.Second, 20*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	require.Equal(t, 100, r2.count(), "nothing handled twice after a clean stop")
}

func TestRetriesTransientErrorsAndDeadLettersPoison(t *testing.T) {
	t.Parallel()
	names := testenv.KafkaTopics(t)
	produce(t, names, 0, 200)
	var (
		mu       sync.Mutex
		failures = 3
		handled  = map[string]bool{}
	)
	h := consumer.HandlerFunc(func(ctx context.Context, b consumer.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		if failures > 0 {
			failures--
			return errors.New("database is down")
		}
		for _, r := range b.Records {
			if string(r.Key) == "order-7" {
				if err := b.DeadLetter(ctx, r, errors.New("cannot decode")); err != nil {
					return err
				}
				continue
			}
			handled[string(r.Value)] = true
		}
		return nil
	})
	start(t, config(names, "g2"), h)
	dlq := testenv.ConsumeN(t, []string{names.DeadLetter()}, 10, 60*time.Second)
	require.Len(t, dlq, 10, "order-7 has 10 of the 200 records")
	for _, r := range dlq {
		require.Equal(t, "order-7", string(r.Key))
		h := map[string]string{}
		for _, x := range r.Headers {
			h[x.Key] = string(x.Value)
		}
		require.Equal(t, "cannot decode", h[consumer.HeaderDLQReason])
		require.Equal(t, "g2", h[consumer.HeaderDLQGroup])
		require.NotEmpty(t, h[consumer.HeaderDLQOffset])
	}
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(handled) == 190 }, 60*time.Second, 20*time.Millisecond)
}

type fixedOffsets map[int32]int64

func (f fixedOffsets) NextOffsets(_ context.Context, _ string, parts map[string][]int32) (map[string]map[int32]int64, error) {
	out := map[string]map[int32]int64{}
	for t, ps := range parts {
		out[t] = map[int32]int64{}
		for _, p := range ps {
			if o, ok := f[p]; ok {
				out[t][p] = o
			}
		}
	}
	return out, nil
}

func TestExternalOffsetsDecideWhereToStart(t *testing.T) {
	t.Parallel()
	names := testenv.KafkaTopics(t)
	produce(t, names, 0, 300)
	// Every partition "already handled" up to offset 10: the records below are skipped.
	cfg := config(names, "g3")
	cfg.Offsets = fixedOffsets{0: 10, 1: 10, 2: 10}
	var mu sync.Mutex
	var minOffset int64 = 1 << 62
	n := 0
	h := consumer.HandlerFunc(func(_ context.Context, b consumer.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		minOffset = min(minOffset, b.Records[0].Offset)
		n += len(b.Records)
		return nil
	})
	stop := start(t, cfg, h)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return n == 300-30 }, 60*time.Second, 20*time.Millisecond)
	require.EqualValues(t, 10, minOffset)

	// Kafka's copy of the offsets, for monitoring, is committed in the background and is
	// complete after a stop.
	stop()
	adm := kadm.NewClient(testenv.KafkaClient(t))
	orders, _ := names.ForStreamType("order")
	ends, err := adm.ListEndOffsets(context.Background(), orders)
	require.NoError(t, err)
	committed, err := adm.FetchOffsets(context.Background(), "g3")
	require.NoError(t, err)
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset <= 10 {
			return // nothing handled there
		}
		c, ok := committed.Lookup(o.Topic, o.Partition)
		require.True(t, ok, "partition %d committed", o.Partition)
		require.Equal(t, o.Offset, c.At, "partition %d", o.Partition)
	})
}

// TestParallelPartitions: the batches of a poll are handled at the same time, but
// never two of one partition, and each partition's records stay in order.
func TestParallelPartitions(t *testing.T) {
	t.Parallel()
	names := testenv.KafkaTopics(t)
	produce(t, names, 0, 600)
	cfg := config(names, "g5")
	cfg.ParallelPartitions = true
	var (
		mu         sync.Mutex
		busy       = map[int32]bool{}
		now, most  int
		overlapped bool
		next       = map[int32]int64{}
		inOrder    = true
		n          int
	)
	h := consumer.HandlerFunc(func(_ context.Context, b consumer.Batch) error {
		mu.Lock()
		overlapped = overlapped || busy[b.Partition]
		busy[b.Partition] = true
		now++
		most = max(most, now)
		mu.Unlock()
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		for _, r := range b.Records {
			inOrder = inOrder && r.Offset >= next[b.Partition]
			next[b.Partition] = r.Offset + 1
		}
		n += len(b.Records)
		busy[b.Partition] = false
		now--
		return nil
	})
	start(t, cfg, h)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return n == 600 }, 60*time.Second, 20*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Greater(t, most, 1, "partitions handled at the same time")
	require.False(t, overlapped, "two batches of one partition at once")
	require.True(t, inOrder, "records of a partition in offset order")
}

func TestMembersShareAndHandOverPartitions(t *testing.T) {
	t.Parallel()
	names := testenv.KafkaTopics(t)
	produce(t, names, 0, 600)
	a, b := &recorder{}, &recorder{}
	stopA := start(t, config(names, "g4"), a)
	start(t, config(names, "g4"), b)
	require.Eventually(t, func() bool { return a.count()+b.count() >= 600 }, 60*time.Second, 20*time.Millisecond)
	stopA()
	produce(t, names, 600, 300)
	// b takes over every partition: every record handled at least once, none lost.
	unique := func() int {
		all := map[string]bool{}
		for _, r := range []*recorder{a, b} {
			r.mu.Lock()
			for _, vs := range r.seen {
				for _, v := range vs {
					all[v] = true
				}
			}
			r.mu.Unlock()
		}
		return len(all)
	}
	require.Eventually(t, func() bool { return unique() == 900 }, 60*time.Second, 20*time.Millisecond, "handled %d of 900", unique())
}

type batchCounter struct {
	recorder
	batches atomic.Int64
}

func (b *batchCounter) Handle(ctx context.Context, batch consumer.Batch) error {
	if len(batch.Records) > 0 {
		b.batches.Add(1)
	}
	return b.recorder.Handle(ctx, batch)
}

// With a linger, records of one partition produced one by one arrive in batches at most
// one per linger (the broker holds each fetch for it), all of them, once.
func TestLingerBatchesASteadyTrickle(t *testing.T) {
	t.Parallel()
	bad := config(topic.Default, "g")
	bad.Linger = 5 * time.Millisecond
	require.ErrorContains(t, bad.Validate(), "linger 5ms")

	names := testenv.KafkaTopics(t)
	const linger = 300 * time.Millisecond
	cfg := config(names, "linger")
	cfg.Linger = linger
	r := &batchCounter{}
	start(t, cfg, r)
	cl := testenv.KafkaClient(t)
	orders, _ := names.ForStreamType("order")
	one := func(i int) { // one key: one partition
		rec := &kgo.Record{Topic: orders, Key: []byte("order-0"), Value: []byte(fmt.Sprintf("order-0:%d", i))}
		require.NoError(t, cl.ProduceSync(context.Background(), rec).FirstErr())
	}
	one(0) // the member has joined once this is handled
	require.Eventually(t, func() bool { return r.count() == 1 }, 60*time.Second, 20*time.Millisecond)

	first := r.batches.Load()
	begin := time.Now()
	const n = 40
	for i := 1; i <= n; i++ {
		one(i)
		time.Sleep(10 * time.Millisecond)
	}
	require.Eventually(t, func() bool { return r.count() == n+1 }, 60*time.Second, 20*time.Millisecond)
	elapsed := time.Since(begin)
	batches := r.batches.Load() - first
	require.LessOrEqual(t, batches, int64(elapsed/linger)+2, "%d batches in %s with a linger of %s", batches, elapsed, linger)
	time.Sleep(300 * time.Millisecond)
	require.Equal(t, n+1, r.count(), "nothing handled twice")
}

// bytesPerBatch records the bytes of every batch it is handed, and what recorder does.
type bytesPerBatch struct {
	recorder
	mu   sync.Mutex
	most int
}

func (b *bytesPerBatch) Handle(ctx context.Context, batch consumer.Batch) error {
	n := 0
	for _, r := range batch.Records {
		n += len(r.Key) + len(r.Value)
	}
	b.mu.Lock()
	b.most = max(b.most, n)
	b.mu.Unlock()
	return b.recorder.Handle(ctx, batch)
}

// FetchMaxBytes caps what one fetch brings: a backlog of partitions of ~2.7 MB each
// (under the 8 MiB a partition may give a fetch) arrives in batches of at most the cap
// plus one producer batch, every record once and in order.
func TestFetchMaxBytesCapsEachFetch(t *testing.T) {
	t.Parallel()
	bad := config(topic.Default, "g")
	bad.FetchMaxBytes = -1
	require.ErrorContains(t, bad.Validate(), "fetch max bytes -1")
	bad.FetchMaxBytes, bad.Linger = 1<<20, 100*time.Millisecond
	require.ErrorContains(t, bad.Validate(), "with a linger, want more than")
	bad.FetchMaxBytes = 2 << 20
	require.NoError(t, bad.Validate())

	names := testenv.KafkaTopics(t)
	cl := testenv.KafkaClient(t)
	orders, _ := names.ForStreamType("order")
	const n, size = 2000, 8 << 10
	var rs []*kgo.Record
	for i := range n {
		k := fmt.Sprintf("order-%d", i%20)
		v := fmt.Appendf(nil, "%s:%d:", k, i)
		pad := make([]byte, size-len(v)) // random: the cap counts compressed bytes
		_, _ = crand.Read(pad)
		rs = append(rs, &kgo.Record{Topic: orders, Key: []byte(k), Value: append(v, pad...)})
	}
	require.NoError(t, cl.ProduceSync(context.Background(), rs...).FirstErr())

	cfg := config(names, "capped")
	cfg.FetchMaxBytes = 1 << 20
	cfg.MaxPollRecords = n
	r := &bytesPerBatch{}
	start(t, cfg, r)
	require.Eventually(t, func() bool { return r.count() == n }, 60*time.Second, 20*time.Millisecond)
	r.mu.Lock()
	most := r.most
	r.mu.Unlock()
	// franz-go's producer batches are at most 1 MB; a fetch takes at least one.
	require.LessOrEqual(t, most, 2<<20, "largest batch %d bytes", most)
	require.Positive(t, most)
	requireKeysInOrder(t, r.seen)
}
