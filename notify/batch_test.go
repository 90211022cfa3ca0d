package notify_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/domain/user"
	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/eventstore/record"
	"github.com/ordo-platform/ordo/internal/consumer"
	"github.com/ordo-platform/ordo/internal/testenv"
	"github.com/ordo-platform/ordo/internal/topic"
	"github.com/ordo-platform/ordo/notify"
	"github.com/ordo-platform/ordo/schemas"
)

// TestHistoryBatch hands the history handler polls directly: several customers' orders
// placed and decided in one poll of two partitions' batches, the same records
// redelivered, and a later poll deciding an order placed in an earlier one. Each customer's notifications must be numbered 1, 2,
// ... in the order of the events, once each, with the customer found for an order placed
// in an earlier batch, and an email queued per decided order.
func TestHistoryBatch(t *testing.T) {
	ctx := context.Background()
	pool := testenv.PostgresSchema(t, postgres.Migrations(), notify.Migrations())
	h := notify.NewHistory(pool, true, quiet)

	var version int64
	rec := func(streamType string, id domain.ID, e domain.Event) *kgo.Record {
		enc, err := schemas.Default().Encode(e)
		require.NoError(t, err)
		version++
		r, err := record.FromEvent(eventstore.Event{ID: eventstore.NewID(), StreamID: domain.StreamID(streamType, id),
			StreamType: streamType, Version: version, Position: version, Type: enc.Type, SchemaVersion: enc.Version,
			SchemaFingerprint: enc.Fingerprint, Payload: enc.Payload, OccurredAt: time.Now(), RecordedAt: time.Now()},
			topic.Default)
		require.NoError(t, err)
		return r
	}
	a, b := domain.ID(uuid.New()), domain.ID(uuid.New())
	o1, o2, o3 := domain.ID(uuid.New()), domain.ID(uuid.New()), domain.ID(uuid.New())
	placed := func(o, c domain.ID) *kgo.Record {
		return rec(order.StreamType, o, order.Placed{OrderID: o, CustomerID: c, Currency: "EUR", PaymentToken: "tok_visa",
			Items:      []order.Item{{ProductID: domain.ID(uuid.New()), SKU: "S", Name: "N", UnitPriceCents: 100, Quantity: 1, LineTotalCents: 100}},
			TotalCents: 100, PlacedAt: time.Now().UTC()})
	}
	// One poll: a's records on one partition, b's on another, recorded by one flush.
	regA := rec(user.StreamType, a, user.Registered{UserID: a, Email: "a@example.com", Name: "A", Role: user.RoleCustomer,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", RegisteredAt: time.Now().UTC()})
	p1, p2, p3 := placed(o1, a), placed(o2, b), placed(o3, a)
	c1 := rec(order.StreamType, o1, order.Confirmed{OrderID: o1})
	c2 := rec(order.StreamType, o2, order.Cancelled{OrderID: o2, Reason: order.ReasonPaymentDeclined})
	poll := func(batches ...consumer.Batch) {
		t.Helper()
		for _, b := range batches {
			require.NoError(t, h.Handle(ctx, b))
		}
		require.NoError(t, h.Flush(ctx))
	}
	poll(consumer.Batch{Topic: "orders", Partition: 0, Records: []*kgo.Record{regA, p1, p3, c1}},
		consumer.Batch{Topic: "orders", Partition: 1, Records: []*kgo.Record{p2, c2}})
	var notes int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM order_notifications`).Scan(&notes))
	require.Equal(t, 5, notes, "both batches of the poll recorded")
	// The same records redelivered, as one batch.
	poll(consumer.Batch{Topic: "orders", Records: []*kgo.Record{regA, p1, p2, p3, c1, c2}})
	poll(consumer.Batch{Topic: "orders", Records: []*kgo.Record{
		rec(order.StreamType, o3, order.Confirmed{OrderID: o3}),
	}})

	want := map[domain.ID][]string{
		a: {o1.String() + " pending", o3.String() + " pending", o1.String() + " confirmed", o3.String() + " confirmed"},
		b: {o2.String() + " pending", o2.String() + " cancelled"},
	}
	for c, w := range want {
		got, err := notify.Since(ctx, pool, uuid.UUID(c), 0, 100)
		require.NoError(t, err)
		var lines []string
		for i, n := range got {
			require.EqualValues(t, i+1, n.Seq, "numbered 1, 2, ... per customer")
			lines = append(lines, n.OrderID.String()+" "+n.Status)
		}
		require.Equal(t, w, lines)
	}
	var emails int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM email_outbox`).Scan(&emails))
	require.Equal(t, 3, emails, "one per confirmed or cancelled order")
	var email string
	require.NoError(t, pool.QueryRow(ctx, `SELECT email FROM notify_customers WHERE user_id = $1`, uuid.UUID(a)).Scan(&email))
	require.Equal(t, "a@example.com", email)
}
