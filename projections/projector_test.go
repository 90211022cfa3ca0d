package projections

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/eventstore/record"
	"github.com/ordo-platform/ordo/internal/consumer"
	"github.com/ordo-platform/ordo/internal/testenv"
)

// Events go store -> relay -> Kafka (random topics) -> projectors -> read models, and
// the read models end equal to a fold of the store by the domain's own functions.
func TestProjectorsBuildReadModelsEqualToTheStore(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := newTraffic(t, f.store, 1)
	g.run(t, 1500) // before the projectors start
	f.startRelay(t)
	f.startProjector(t, Orders)
	f.startProjector(t, Products)
	stop := g.live(t) // and while they run
	time.Sleep(300 * time.Millisecond)
	stop()
	g.run(t, 200)
	f.requireConverges(t)

	st, err := List(context.Background(), f.pool)
	require.NoError(t, err)
	for _, s := range st {
		a, ok := s.Active()
		require.True(t, ok)
		require.Equal(t, 1, a.Version)
		require.NotEmpty(t, a.Offsets, "%s keeps its offsets in Postgres", s.Name)
		require.Positive(t, a.Position)
	}
}

// Redelivery: the stored offsets are lost (as if a batch's commit had been undone
// everywhere but in the rows) and every record is also on Kafka twice. The row versions
// make all of it a no-op.
func TestRedeliveryChangesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := newTraffic(t, f.store, 2)
	g.run(t, 800)
	stopRelay := f.startRelay(t)
	_, stopOrders := f.startProjector(t, Orders)
	_, stopProducts := f.startProjector(t, Products)
	f.requireConverges(t)
	stopOrders()
	stopProducts()
	stopRelay()

	// Publish everything a second time (what a relay crash before its checkpoint does).
	ctx := context.Background()
	cl := testenv.KafkaClient(t)
	evs, err := f.store.ReadAll(ctx, 0, 100000)
	require.NoError(t, err)
	var recs []*kgo.Record
	for _, e := range evs {
		r, err := record.FromEvent(e, f.names)
		require.NoError(t, err)
		recs = append(recs, r)
	}
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
	// And forget where the projectors were: they start over at offset 0.
	_, err = f.pool.Exec(ctx, `UPDATE projection_offsets SET next_offset = 0`)
	require.NoError(t, err)

	before := counterValue(metricSkipped.WithLabelValues(Orders, "duplicate"))
	f.startProjector(t, Orders)
	f.startProjector(t, Products)
	// Both rounds of records are consumed again ...
	require.Eventually(t, func() bool {
		var behind int
		require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM projection_offsets WHERE next_offset = 0`).Scan(&behind))
		return behind == 0 && counterValue(metricSkipped.WithLabelValues(Orders, "duplicate"))-before >= float64(len(recs))/4
	}, 60*time.Second, 50*time.Millisecond)
	// ... and change nothing.
	require.Empty(t, f.diff(t))
}

// A zombie: a member that lost its partitions still delivers a stale batch after the new
// owner committed past it. The offset row lock and the stored offset make it a no-op,
// even when the rows' versions would not (it is given records the rows have not seen,
// from a forged "older" offset range).
func TestZombieBatchBelowTheStoredOffsetIsSkipped(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := newTraffic(t, f.store, 3)
	g.run(t, 300)
	f.convergeThenStopOrders(t)

	ctx := context.Background()
	var (
		tp     string
		part   int32
		next   int64
		before int
	)
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT topic, partition, next_offset FROM projection_offsets
		WHERE name = 'orders' ORDER BY next_offset DESC LIMIT 1`).Scan(&tp, &part, &next))
	require.Positive(t, next)
	// A stale batch that would cancel an order, at offsets the group has already passed.
	g.mu.Lock()
	require.NotEmpty(t, g.pending)
	o := g.pending[0]
	g.mu.Unlock()
	stale := cancelledRecord(t, f, o.id, tp, part, next-1)
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM read_orders WHERE status = 'cancelled'`).Scan(&before))

	zombie := f.projector(t, Orders)
	require.NoError(t, zombie.Handle(ctx, consumer.Batch{Topic: tp, Partition: part, Records: []*kgo.Record{stale}}))
	require.NoError(t, zombie.Flush(ctx)) // the poll's transaction
	var after int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM read_orders WHERE status = 'cancelled'`).Scan(&after))
	require.Equal(t, before, after, "the zombie's batch changed nothing")
	require.Empty(t, f.diff(t))
}

// convergeThenStopOrders runs the relay and both projectors until the read models equal
// the store, then stops the orders projector, whose group then has offsets stored.
func (f *fixture) convergeThenStopOrders(t *testing.T) {
	t.Helper()
	f.startRelay(t)
	_, stop := f.startProjector(t, Orders)
	f.startProjector(t, Products)
	f.requireConverges(t)
	stop()
}

// The batches of one poll (several partitions) are applied in one transaction: both
// offset rows move, with the one transaction's time, and both events are applied.
func TestAPollIsOneTransaction(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := newTraffic(t, f.store, 4)
	g.run(t, 400)
	for i := 0; i < 20 && len(g.pending) < 2; i++ {
		g.run(t, 50)
	}
	f.convergeThenStopOrders(t)

	ctx := context.Background()
	type row struct {
		topic string
		part  int32
		next  int64
	}
	var parts []row
	rows, err := f.pool.Query(ctx, `SELECT topic, partition, next_offset FROM projection_offsets
		WHERE name = 'orders' ORDER BY next_offset DESC LIMIT 2`)
	require.NoError(t, err)
	for rows.Next() {
		var r row
		require.NoError(t, rows.Scan(&r.topic, &r.part, &r.next))
		parts = append(parts, r)
	}
	require.NoError(t, rows.Err())
	require.Len(t, parts, 2)
	g.mu.Lock()
	require.GreaterOrEqual(t, len(g.pending), 2)
	orders := []pendingOrder{g.pending[0], g.pending[1]}
	g.mu.Unlock()

	p := f.projector(t, Orders)
	for i, pr := range parts {
		rec := cancelledRecord(t, f, orders[i].id, pr.topic, pr.part, pr.next)
		require.NoError(t, p.Handle(ctx, consumer.Batch{Topic: pr.topic, Partition: pr.part, Records: []*kgo.Record{rec}}))
	}
	var cancelled int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM read_orders WHERE id = ANY($1) AND status = 'cancelled'`,
		[][16]byte{orders[0].id, orders[1].id}).Scan(&cancelled))
	require.Zero(t, cancelled, "Handle only keeps the batch")
	require.NoError(t, p.Flush(ctx))

	var stamps []time.Time
	for _, pr := range parts {
		var (
			next int64
			at   time.Time
		)
		require.NoError(t, f.pool.QueryRow(ctx, `SELECT next_offset, updated_at FROM projection_offsets
			WHERE name = 'orders' AND topic = $1 AND partition = $2`, pr.topic, pr.part).Scan(&next, &at))
		require.Equal(t, pr.next+1, next, "%s/%d", pr.topic, pr.part)
		stamps = append(stamps, at)
	}
	require.Equal(t, stamps[0], stamps[1], "both offsets were stored by one transaction (now() is its start)")
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM read_orders WHERE id = ANY($1) AND status = 'cancelled'`,
		[][16]byte{orders[0].id, orders[1].id}).Scan(&cancelled))
	require.Equal(t, 2, cancelled)
}

// Two members share the partitions; one stops in the middle of the stream (its
// partitions move to the other). Nothing is lost and nothing doubled: stock counts,
// which are sums of deltas, would show a double apply.
func TestRebalanceLosesAndDoublesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := newTraffic(t, f.store, 4)
	f.startRelay(t)
	a, stopA := f.startProjector(t, Products)
	b, _ := f.startProjector(t, Products)
	f.startProjector(t, Orders)
	stopTraffic := g.live(t)
	require.Eventually(t, func() bool { return len(a.Assigned()) > 0 && len(b.Assigned()) > 0 }, 60*time.Second, 20*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	stopA() // mid-stream
	time.Sleep(500 * time.Millisecond)
	stopTraffic()
	f.requireConverges(t)
}

// A record that is not an event (or whose payload is corrupt) goes to the dead-letter
// topic with the reason; the projector goes on with the records after it.
func TestPoisonRecordGoesToTheDeadLetterTopic(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := newTraffic(t, f.store, 5)
	g.run(t, 200)
	ctx := context.Background()
	orders, _ := f.names.ForStreamType("order")
	// Valid envelope, corrupt payload.
	evs, err := f.store.ReadAll(ctx, 0, 1)
	require.NoError(t, err)
	corrupt, err := record.FromEvent(evs[0], f.names)
	require.NoError(t, err)
	corrupt.Topic = orders
	corrupt.Key = []byte("order-00000000-0000-4000-8000-000000000001")
	for i := range corrupt.Headers {
		if corrupt.Headers[i].Key == record.HeaderStreamType {
			corrupt.Headers[i].Value = []byte("order")
		}
		if corrupt.Headers[i].Key == record.HeaderEventType {
			corrupt.Headers[i].Value = []byte("order.placed")
		}
	}
	corrupt.Value = []byte{0xff, 0xff, 0xff}
	garbage := &kgo.Record{Topic: orders, Key: []byte("order-x"), Value: []byte("not an event")}
	require.NoError(t, testenv.KafkaClient(t).ProduceSync(ctx, corrupt, garbage).FirstErr())

	f.startRelay(t)
	f.startProjector(t, Orders)
	f.startProjector(t, Products)
	g.run(t, 200) // after the poison too
	dlq := testenv.ConsumeN(t, []string{f.names.DeadLetter()}, 2, 60*time.Second)
	require.Len(t, dlq, 2)
	for _, r := range dlq {
		h := map[string]string{}
		for _, x := range r.Headers {
			h[x.Key] = string(x.Value)
		}
		require.NotEmpty(t, h[consumer.HeaderDLQReason])
		require.Equal(t, f.names.Prefix+"-"+GroupOrders, h[consumer.HeaderDLQGroup])
	}
	f.requireConverges(t)
}

func cancelledRecord(t *testing.T, f *fixture, orderID [16]byte, tp string, part int32, offset int64) *kgo.Record {
	t.Helper()
	evs, err := f.store.ReadAll(context.Background(), 0, 100000)
	require.NoError(t, err)
	for _, e := range evs {
		if e.Type == "order.placed" {
			id, _, _ := streamKey(e.StreamID)
			if id != orderID {
				continue
			}
			g := newTraffic(t, f.store, 99)
			enc, err := g.codec.Encode(cancelEvent(id))
			require.NoError(t, err)
			e.Type, e.SchemaVersion, e.SchemaFingerprint, e.Payload = enc.Type, enc.Version, enc.Fingerprint, enc.Payload
			e.Version = 2
			r, err := record.FromEvent(e, f.names)
			require.NoError(t, err)
			r.Topic, r.Partition, r.Offset = tp, part, offset
			return r
		}
	}
	t.Fatalf("order %x not in the store", orderID)
	return nil
}
