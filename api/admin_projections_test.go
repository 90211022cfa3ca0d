package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type projectionsBody struct {
	Head        int64 `json:"head"`
	Projections []struct {
		Name   string `json:"name"`
		Group  string `json:"group"`
		Active *struct {
			Version  int    `json:"version"`
			State    string `json:"state"`
			Position int64  `json:"position"`
		} `json:"active"`
		Building *struct {
			Version int `json:"version"`
		} `json:"building"`
		Versions []struct {
			Version int    `json:"version"`
			State   string `json:"state"`
		} `json:"versions"`
		LagEvents  int64       `json:"lag_events"`
		LagRecords *int64      `json:"lag_records"`
		Rebuild    *rebuildRun `json:"rebuild"`
	} `json:"projections"`
}

type rebuildRun struct {
	Projection string  `json:"projection"`
	Version    int     `json:"version"`
	Phase      string  `json:"phase"`
	State      string  `json:"state"`
	Position   int64   `json:"position"`
	Events     int64   `json:"events"`
	Remaining  int64   `json:"remaining"`
	Rate       float64 `json:"rate"`
	ETASeconds float64 `json:"eta_seconds"`
	Percent    float64 `json:"percent"`
	Previous   int     `json:"previous_version"`
	Error      string  `json:"error"`
}

func (b projectionsBody) find(t testing.TB, name string) int {
	t.Helper()
	for i, p := range b.Projections {
		if p.Name == name {
			return i
		}
	}
	t.Fatalf("no projection %s in %+v", name, b)
	return -1
}

func TestAdminProjectionsRebuild(t *testing.T) {
	t.Parallel()
	s := newAdminServer(t, adminOpts{})
	admin := s.admin(t)
	p := s.product(t, admin, 1299, "EUR")
	s.stock(t, admin, p.ID, 10)
	customer, _ := s.customer(t)
	order := s.order(t, customer, p.ID, 1)

	// Nothing has projected yet (no projector runs here): every event is lag.
	var before projectionsBody
	eventually(t, 15*time.Second, "the events to be readable", func() bool {
		before = projectionsBody{}
		s.getJSON(t, "/v1/admin/projections", admin, &before)
		return before.Projections[before.find(t, "orders")].LagEvents >= 5
	})
	orders := before.Projections[before.find(t, "orders")]
	require.Equal(t, "ordo-projector-orders", orders.Group)
	require.NotNil(t, orders.Active)
	require.Equal(t, 1, orders.Active.Version)
	require.Nil(t, orders.LagRecords, "no Kafka offsets yet")
	require.Nil(t, orders.Rebuild)

	// Another process (ordo replay) holds the rebuild lock: 409.
	ctx := context.Background()
	conn, err := s.pool.Acquire(ctx)
	require.NoError(t, err)
	var got bool
	require.NoError(t, conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended('ordo.projection.rebuild.' || current_schema() || '.' || 'orders', 0))`).Scan(&got))
	require.True(t, got)
	s.do(t, http.MethodPost, "/v1/admin/projections/orders/rebuild", nil, bearer(admin)).problem(t, http.StatusConflict, "rebuild_running")
	_, err = conn.Exec(ctx, `SELECT pg_advisory_unlock_all()`)
	require.NoError(t, err)
	conn.Release()

	// Hold the live projector's lock (shared, as a live batch does): the rebuild loads
	// everything, then waits at the switch, so that it is seen running.
	tx, err := s.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared(hashtextextended('ordo.projection.live.' || current_schema() || '.' || 'orders', 0))`)
	require.NoError(t, err)

	r := s.do(t, http.MethodPost, "/v1/admin/projections/orders/rebuild", nil, bearer(admin))
	require.Equal(t, http.StatusAccepted, r.Code, "body: %s", r.Body)
	require.Equal(t, "/v1/admin/projections", r.Header.Get("Location"))
	var run rebuildRun
	r.decode(t, &run)
	require.Equal(t, "orders", run.Projection)
	require.Equal(t, "running", run.State)
	require.Equal(t, 2, run.Version)

	var during projectionsBody
	eventually(t, 15*time.Second, "the rebuild to wait at the switch", func() bool {
		during = projectionsBody{}
		s.getJSON(t, "/v1/admin/projections", admin, &during)
		rb := during.Projections[during.find(t, "orders")].Rebuild
		return rb != nil && rb.Phase == "switch"
	})
	o := during.Projections[during.find(t, "orders")]
	require.Equal(t, "running", o.Rebuild.State)
	require.NotNil(t, o.Building, "the registry shows the version being built")
	require.Equal(t, 2, o.Building.Version)
	require.GreaterOrEqual(t, o.Rebuild.Events, int64(5), "every event was read")
	require.Positive(t, o.Rebuild.Rate)
	require.Positive(t, o.Rebuild.Position)
	// A second click while it runs: 409, and nothing else starts.
	s.do(t, http.MethodPost, "/v1/admin/projections/orders/rebuild", nil, bearer(admin)).problem(t, http.StatusConflict, "rebuild_running")

	require.NoError(t, tx.Rollback(ctx))
	var after projectionsBody
	eventually(t, 15*time.Second, "the rebuild to finish", func() bool {
		after = projectionsBody{}
		s.getJSON(t, "/v1/admin/projections", admin, &after)
		rb := after.Projections[after.find(t, "orders")].Rebuild
		return rb != nil && rb.State != "running"
	})
	o = after.Projections[after.find(t, "orders")]
	require.Equal(t, "done", o.Rebuild.State, "error: %s", o.Rebuild.Error)
	require.Equal(t, "done", o.Rebuild.Phase)
	require.Equal(t, 1, o.Rebuild.Previous)
	require.InDelta(t, 100, o.Rebuild.Percent, 0.001)
	require.Equal(t, 2, o.Active.Version)
	require.Nil(t, o.Building)
	require.Zero(t, o.LagEvents, "the rebuilt version has applied every event")
	require.Len(t, o.Versions, 2)

	// The rebuilt read model serves the order.
	var view orderBody
	s.getJSON(t, "/v1/orders/"+order.ID, admin, &view)
	require.Equal(t, "pending", view.Status)
	require.Len(t, view.Items, 1)

	// Once finished, it can run again.
	r = s.do(t, http.MethodPost, "/v1/admin/projections/orders/rebuild", nil, bearer(admin))
	require.Equal(t, http.StatusAccepted, r.Code, "body: %s", r.Body)
	eventually(t, 15*time.Second, "the second rebuild to finish", func() bool {
		var b projectionsBody
		s.getJSON(t, "/v1/admin/projections", admin, &b)
		rb := b.Projections[b.find(t, "orders")].Rebuild
		return rb != nil && rb.State == "done" && rb.Version == 3
	})

	s.do(t, http.MethodPost, "/v1/admin/projections/nope/rebuild", nil, bearer(admin)).problem(t, http.StatusNotFound, "not_found")
}
