package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/analytics"
	"github.com/ordo-platform/ordo/api"
	"github.com/ordo-platform/ordo/internal/testenv"
)

type salesBody struct {
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	Granularity string    `json:"granularity"`
	Series      []struct {
		Currency string `json:"currency"`
		Totals   struct {
			OrdersPlaced  int64 `json:"orders_placed"`
			OrdersPending int64 `json:"orders_pending"`
			RevenueCents  int64 `json:"revenue_cents"`
		} `json:"totals"`
		Periods []struct {
			Start        time.Time `json:"start"`
			OrdersPlaced int64     `json:"orders_placed"`
		} `json:"periods"`
	} `json:"series"`
}

func TestSalesFromClickHouse(t *testing.T) {
	t.Parallel()
	conn, db := testenv.ClickHouseDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := analytics.Migrate(ctx, testenv.ClickHouseAddr(), db, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	s := newAdminServer(t, adminOpts{configure: func(d *api.Deps) { d.Sales = analytics.NewSales(conn) }})
	admin := s.admin(t)

	var empty salesBody
	s.getJSON(t, "/v1/analytics/sales?granularity=hour", admin, &empty)
	require.Equal(t, "hour", empty.Granularity)
	require.Equal(t, 24*time.Hour, empty.To.Sub(empty.From))
	require.Empty(t, empty.Series)

	// Two orders, ingested the way `ordo replay --target analytics` does.
	p := s.product(t, admin, 1250, "EUR")
	s.stock(t, admin, p.ID, 10)
	customer, _ := s.customer(t)
	s.order(t, customer, p.ID, 1)
	s.order(t, customer, p.ID, 3)
	eventually(t, 15*time.Second, "the orders to be readable", func() bool {
		var b adminEventsBody
		s.getJSON(t, "/v1/admin/events?type=order.placed", admin, &b)
		return len(b.Events) == 2
	})
	_, err = analytics.Replay(ctx, s.env.Store, analytics.NewWriter(conn), analytics.ReplayOptions{}, slog.New(slog.DiscardHandler), nil)
	require.NoError(t, err)

	var rep salesBody
	s.getJSON(t, "/v1/analytics/sales?granularity=hour", admin, &rep)
	require.Len(t, rep.Series, 1)
	require.Equal(t, "EUR", rep.Series[0].Currency)
	require.EqualValues(t, 2, rep.Series[0].Totals.OrdersPlaced)
	require.EqualValues(t, 2, rep.Series[0].Totals.OrdersPending)
	require.Zero(t, rep.Series[0].Totals.RevenueCents, "revenue counts confirmed orders only")
	require.Len(t, rep.Series[0].Periods, 24)
	recent := rep.Series[0].Periods[22].OrdersPlaced + rep.Series[0].Periods[23].OrdersPlaced
	require.EqualValues(t, 2, recent, "placed within the hour (the last period, or the one before at an hour's turn)")

	var days salesBody
	s.getJSON(t, "/v1/analytics/sales?from=2024-06-01&to=2024-06-03", admin, &days)
	require.Equal(t, "day", days.Granularity)
	require.Equal(t, time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), days.From)
	require.Empty(t, days.Series)

	s.do(t, http.MethodGet, "/v1/analytics/sales?granularity=week", nil, bearer(admin)).problem(t, http.StatusBadRequest, "invalid_granularity")
	s.do(t, http.MethodGet, "/v1/analytics/sales?from=yesterday", nil, bearer(admin)).problem(t, http.StatusBadRequest, "invalid_time")
	pd := s.do(t, http.MethodGet, "/v1/analytics/sales?from=2024-06-03&to=2024-06-01", nil, bearer(admin)).problem(t, http.StatusBadRequest, "invalid_time_range")
	require.Contains(t, pd.Fields, "from")
}

func TestSalesWithoutClickHouse(t *testing.T) {
	t.Parallel()
	s := newAdminServer(t, adminOpts{})
	admin := s.admin(t)
	s.do(t, http.MethodGet, "/v1/analytics/sales", nil, bearer(admin)).problem(t, http.StatusServiceUnavailable, "service_unavailable")

	// ClickHouse configured but not answering: 503 with Retry-After, the cause logged.
	conn, err := analytics.Open("127.0.0.1:1", "ordo")
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	down := newAdminServer(t, adminOpts{configure: func(d *api.Deps) { d.Sales = analytics.NewSales(conn) }})
	admin = down.admin(t)
	r := down.do(t, http.MethodGet, "/v1/analytics/sales", nil, bearer(admin))
	r.problem(t, http.StatusServiceUnavailable, "service_unavailable")
	require.NotEmpty(t, r.Header.Get("Retry-After"))
	require.Contains(t, down.logs.String(), "ClickHouse unavailable")
}
