package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/eventstore"
)

type adminEventsBody struct {
	Events []struct {
		Position    int64           `json:"position"`
		ID          string          `json:"id"`
		StreamID    string          `json:"stream_id"`
		StreamType  string          `json:"stream_type"`
		Version     int64           `json:"version"`
		Type        string          `json:"type"`
		Actor       string          `json:"actor"`
		Correlation string          `json:"correlation_id"`
		Data        json.RawMessage `json:"data"`
		DecodeError string          `json:"decode_error"`
	} `json:"events"`
	NextAfter int64    `json:"next_after"`
	Head      int64    `json:"head"`
	CaughtUp  bool     `json:"caught_up"`
	Types     []string `json:"types"`
}

func (b adminEventsBody) types() []string {
	out := make([]string, len(b.Events))
	for i, e := range b.Events {
		out[i] = e.Type
	}
	return out
}

func TestAdminEventsTailFollowAndFilter(t *testing.T) {
	t.Parallel()
	s := newAdminServer(t, adminOpts{})
	admin := s.admin(t)
	p1 := s.product(t, admin, 1299, "EUR")
	s.stock(t, admin, p1.ID, 10)

	// The tail: the newest events, oldest first, decoded, with their envelope.
	tail := s.eventsN(t, "/v1/admin/events", admin, 3)
	require.Equal(t, []string{"user.registered", "product.created", "inventory.stock_adjusted"}, tail.types())
	for i, e := range tail.Events {
		require.NotEmpty(t, e.ID)
		require.NotEmpty(t, e.Correlation)
		require.Empty(t, e.DecodeError)
		require.NotEqual(t, "null", string(e.Data))
		if i > 0 {
			require.Greater(t, e.Position, tail.Events[i-1].Position, "global order")
		}
	}
	require.Equal(t, "product-"+p1.ID, tail.Events[1].StreamID)
	require.Equal(t, "product", tail.Events[1].StreamType)
	require.JSONEq(t, `"Blue mug"`, string(mustField(t, tail.Events[1].Data, "name")))
	require.Contains(t, string(tail.Events[0].Data), `"[redacted]"`, "password hashes never leave the server")
	require.Equal(t, tail.Head, tail.NextAfter)
	require.True(t, tail.CaughtUp)
	require.Contains(t, tail.Types, "order.placed")

	// limit takes the newest.
	var last adminEventsBody
	s.getJSON(t, "/v1/admin/events?limit=1", admin, &last)
	require.Equal(t, []string{"inventory.stock_adjusted"}, last.types())

	// Following: after the cursor, only what is new.
	var none adminEventsBody
	s.getJSON(t, fmt.Sprintf("/v1/admin/events?after=%d", tail.NextAfter), admin, &none)
	require.Empty(t, none.Events)
	require.Equal(t, tail.NextAfter, none.NextAfter)
	p2 := s.product(t, admin, 500, "EUR")
	customer, _ := s.customer(t)
	order := s.order(t, customer, p1.ID, 2)
	next := s.eventsN(t, fmt.Sprintf("/v1/admin/events?after=%d", tail.NextAfter), admin, 3)
	require.Equal(t, []string{"product.created", "user.registered", "order.placed"}, next.types())
	require.Equal(t, "product-"+p2.ID, next.Events[0].StreamID)

	// Paging with a small limit returns everything once, in order.
	var paged []string
	after := int64(0)
	for i := 0; i < 20; i++ {
		var pg adminEventsBody
		s.getJSON(t, fmt.Sprintf("/v1/admin/events?after=%d&limit=2", after), admin, &pg)
		paged = append(paged, pg.types()...)
		after = pg.NextAfter
		if len(pg.Events) == 0 {
			break
		}
	}
	require.Equal(t, append(tail.types(), next.types()...), paged)

	// Filters: a type, a stream, both.
	var byType adminEventsBody
	s.getJSON(t, "/v1/admin/events?type=product.created", admin, &byType)
	require.Equal(t, []string{"product.created", "product.created"}, byType.types())
	var byStream adminEventsBody
	s.getJSON(t, "/v1/admin/events?stream=order-"+order.ID, admin, &byStream)
	require.Equal(t, []string{"order.placed"}, byStream.types())
	var followStream adminEventsBody
	s.getJSON(t, fmt.Sprintf("/v1/admin/events?stream=product-%s&after=%d", p1.ID, byType.Events[0].Position), admin, &followStream)
	require.Empty(t, followStream.Events, "product %s had no event after its creation", p1.ID)
	var both adminEventsBody
	s.getJSON(t, fmt.Sprintf("/v1/admin/events?type=product.created&stream=product-%s&after=0", p2.ID), admin, &both)
	require.Len(t, both.Events, 1)
	require.Equal(t, "product-"+p2.ID, both.Events[0].StreamID)

	for _, bad := range []string{"after=-1", "after=x", "limit=0", "limit=501", "stream=not-a-stream"} {
		s.do(t, http.MethodGet, "/v1/admin/events?"+bad, nil, bearer(admin)).problem(t, http.StatusBadRequest, "invalid_query")
	}
}

// A reader following ?after= must not skip an event whose transaction began first and
// commits last: the route reads only below the oldest running transaction.
func TestAdminEventsNeverSkipALateCommit(t *testing.T) {
	t.Parallel()
	s := newAdminServer(t, adminOpts{})
	admin := s.admin(t)
	start := s.eventsN(t, "/v1/admin/events", admin, 1)

	ctx := context.Background()
	tx, err := s.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	late := eventstore.Stream{Type: "order", ID: "order-" + eventstore.NewID().String()}
	_, err = s.env.Store.AppendTx(ctx, tx, late, eventstore.Exact(0), testEvent("late"))
	require.NoError(t, err)
	p := s.product(t, admin, 100, "EUR") // commits first, with a larger position

	var before adminEventsBody
	s.getJSON(t, fmt.Sprintf("/v1/admin/events?after=%d", start.NextAfter), admin, &before)
	require.Empty(t, before.Events, "nothing is readable while an older transaction runs")
	require.Equal(t, start.NextAfter, before.NextAfter)
	require.NoError(t, tx.Commit(ctx))

	after := s.eventsN(t, fmt.Sprintf("/v1/admin/events?after=%d", before.NextAfter), admin, 2)
	require.Len(t, after.Events, 2)
	require.Equal(t, late.ID, after.Events[0].StreamID, "the late commit comes first: its position is smaller")
	require.NotEmpty(t, after.Events[0].DecodeError, "an undecodable payload is shown, not dropped")
	require.Equal(t, "product-"+p.ID, after.Events[1].StreamID)
}

func testEvent(payload string) eventstore.NewEvent {
	return eventstore.NewEvent{ID: eventstore.NewID(), Type: "order.placed", SchemaVersion: 1,
		SchemaFingerprint: []byte{1}, Payload: []byte(payload), OccurredAt: time.Now()}
}

func mustField(t testing.TB, data json.RawMessage, name string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(data, &m))
	require.Contains(t, m, name)
	return m[name]
}

// eventsN polls path until it answers at least n events: events become readable when
// every older transaction of the database has ended, and tests of other packages run
// at the same time.
func (s *adminServer) eventsN(t testing.TB, path, token string, n int) adminEventsBody {
	t.Helper()
	var b adminEventsBody
	eventually(t, 15*time.Second, fmt.Sprintf("%d events from %s", n, path), func() bool {
		b = adminEventsBody{}
		s.getJSON(t, path, token, &b)
		return len(b.Events) >= n
	})
	return b
}
