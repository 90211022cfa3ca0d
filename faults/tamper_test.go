//go:build faults

package faults

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
)

// checksCatchTampering proves that the checks can fail: after the last fault it breaks
// each invariant once, by hand, and requires the checks to name every break. (A fault
// suite whose checks pass whatever happens would be worse than none.)
func checksCatchTampering(t *testing.T, c *cluster, d *driver, p *phase) {
	ctx := context.Background()
	v, err := c.readStore(ctx, productIDs(p))
	require.NoError(t, err)
	var confirmed, other *orderFold
	for _, f := range v.phaseOrders(p) {
		switch {
		case confirmed == nil && f.o.Status() == order.StatusConfirmed:
			confirmed = f
		case other == nil && f.o.Status() != order.StatusConfirmed:
			other = f
		}
	}
	require.NotNil(t, confirmed, "the phase has a confirmed order")
	require.NotNil(t, other, "the phase has a cancelled order")
	r, err := c.check(ctx, p)
	require.NoError(t, err)
	require.Empty(t, r.problems, "before tampering")

	want := map[string]string{}
	// A stale read-model row.
	_, err = c.pool.Exec(ctx, `UPDATE read_orders SET version = version - 1 WHERE id = $1`, uuid.UUID(other.o.ID()))
	require.NoError(t, err)
	want["read model row"] = "read model: order " + other.o.ID().String()
	// An event counted twice in ClickHouse (another version of one event id).
	const cols = `event_id, stream_type, stream_id, version, position, event_type, schema_version, schema_fingerprint,
		occurred_at, occurred_at_us, recorded_at, recorded_at_us, correlation_id, causation_id, actor, traceparent, payload, ingested_at`
	require.NoError(t, c.ch.Exec(ctx, `INSERT INTO events (`+cols+`) SELECT `+strings.Replace(cols, "version,", "version + 1000,", 1)+
		` FROM events WHERE stream_id = '`+order.StreamID(confirmed.o.ID())+`' AND version = 1`))
	want["clickhouse duplicate"] = "clickhouse: "
	// A refund nobody asked for.
	_, err = c.pool.Exec(ctx, `INSERT INTO pspsim_operations (idempotency_key, operation, order_id, amount_cents, outcome)
		VALUES ($1, 'refund', $2, 1, 'refunded')`, "tamper-"+uuid.NewString(), uuid.UUID(confirmed.o.ID()))
	require.NoError(t, err)
	want["money"] = "money: order " + confirmed.o.ID().String()
	// A stock movement the driver does not know of.
	require.NoError(t, d.call(ctx, nil, http.MethodPost, "/v1/products/"+p.products[1].id.String()+"/stock", d.admin,
		uuid.NewString(), map[string]any{"delta": 1, "reason": "tamper"}, nil))
	want["stock"] = "stock: product " + p.products[1].id.String()
	// A lost notification.
	_, err = c.pool.Exec(ctx, `DELETE FROM order_notifications WHERE event_id = $1`, other.events[0])
	require.NoError(t, err)
	want["notification"] = "notifications: event " + other.events[0].String()
	// An acknowledged order the store never saw.
	ghost := domain.ID(uuid.New())
	p.mu.Lock()
	p.orders = append(p.orders, &orderReq{key: "tamper", customer: p.customers[0], acked: true, id: ghost})
	p.mu.Unlock()
	want["lost order"] = "lost: order " + ghost.String()

	r, err = c.check(ctx, p)
	require.NoError(t, err)
	all := strings.Join(r.problems, "\n")
	for what, s := range want {
		require.Contains(t, all, s, "the checks missed the tampered %s; they found:\n%s", what, all)
	}
	require.Equal(t, 1, r.lost)
	require.Positive(t, r.duplicates)
	t.Logf("the checks named all %d breaks:\n%s", len(want), all)
}
