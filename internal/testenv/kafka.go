package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/internal/topic"
)

// KafkaTopics creates every Ordo topic under a random prefix on the real broker (3
// partitions each) and deletes them when the test ends, so tests never share topics.
func KafkaTopics(t testing.TB) topic.Names {
	t.Helper()
	var b [5]byte
	_, _ = rand.Read(b[:])
	names := topic.Names{Prefix: "test-" + hex.EncodeToString(b[:])}
	cl := KafkaClient(t)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := topic.DefaultConfig()
	cfg.Partitions = 3
	if _, err := topic.Ensure(ctx, adm, names, cfg); err != nil {
		t.Fatalf("create test topics (is the stack up? `make up`): %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopics(ctx, append(names.Events(), names.DeadLetter())...)
	})
	return names
}

// KafkaClient returns a plain client for the test broker, closed when the test ends.
func KafkaClient(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(KafkaBrokers()...)}, opts...)...)
	if err != nil {
		t.Fatalf("kafka client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// ConsumeN reads topics from the start until it has n records or timeout passes, and
// returns what it read.
func ConsumeN(t testing.TB, topics []string, n int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	return ConsumeThenWatch(t, topics, n, timeout, 0)
}

// ConsumeThenWatch is ConsumeN followed, once n records are there, by watch more of
// polling with the same consumer: what it returns beyond n records came after them.
// Tests that check nothing more arrives use it, so that a slow fresh consumer cannot
// pass such a check by fetching nothing.
func ConsumeThenWatch(t testing.TB, topics []string, n int, timeout, watch time.Duration) []*kgo.Record {
	t.Helper()
	cl := KafkaClient(t, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []*kgo.Record
	// A consumer may fetch a record again (after a leader change or an offset reset);
	// that is the same record, not a second copy, so it is kept once.
	type at struct {
		topic     string
		partition int32
		offset    int64
	}
	seen := map[at]bool{}
	poll := func(ctx context.Context) {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			if k := (at{r.Topic, r.Partition, r.Offset}); !seen[k] {
				seen[k] = true
				out = append(out, r)
			}
		})
	}
	for len(out) < n && ctx.Err() == nil {
		poll(ctx)
	}
	if len(out) < n || watch <= 0 {
		return out
	}
	wctx, wcancel := context.WithTimeout(context.Background(), watch)
	defer wcancel()
	for wctx.Err() == nil {
		poll(wctx)
	}
	return out
}
