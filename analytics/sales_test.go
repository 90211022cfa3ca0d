package analytics_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/analytics"
	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
)

func TestParseSalesQuery(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 6, 3, 10, 20, 0, 0, time.UTC)
	d := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return v
	}
	for name, tc := range map[string]struct {
		from, to, granularity string
		want                  analytics.SalesQuery
		badFields             []string
	}{
		"defaults: 30 days by day, up to the current day": {
			want: analytics.SalesQuery{From: d("2024-05-05T00:00:00Z"), To: d("2024-06-04T00:00:00Z"), Granularity: analytics.Day}},
		"hour defaults to 24 hours": {granularity: "hour",
			want: analytics.SalesQuery{From: d("2024-06-02T11:00:00Z"), To: d("2024-06-03T11:00:00Z"), Granularity: analytics.Hour}},
		"dates": {from: "2024-06-01", to: "2024-06-03", granularity: "day",
			want: analytics.SalesQuery{From: d("2024-06-01T00:00:00Z"), To: d("2024-06-03T00:00:00Z"), Granularity: analytics.Day}},
		"times are widened to whole periods, in UTC": {from: "2024-06-01T10:30:00+02:00", to: "2024-06-01T12:00:01Z", granularity: "hour",
			want: analytics.SalesQuery{From: d("2024-06-01T08:00:00Z"), To: d("2024-06-01T13:00:00Z"), Granularity: analytics.Hour}},
		"every problem at once":   {from: "yesterday", to: "soon", granularity: "week", badFields: []string{"from", "to", "granularity"}},
		"from after to":           {from: "2024-06-03", to: "2024-06-01", badFields: []string{"from"}},
		"too many hourly periods": {from: "2024-01-01", to: "2024-06-01", granularity: "hour", badFields: []string{"from"}},
		"a long daily range is fine": {from: "2020-01-01", to: "2024-06-01",
			want: analytics.SalesQuery{From: d("2020-01-01T00:00:00Z"), To: d("2024-06-01T00:00:00Z"), Granularity: analytics.Day}},
	} {
		t.Run(name, func(t *testing.T) {
			q, err := analytics.ParseSalesQuery(tc.from, tc.to, tc.granularity, now)
			if tc.badFields == nil {
				require.NoError(t, err)
				require.Equal(t, tc.want, q)
				return
			}
			derr, ok := domain.AsError(err)
			require.True(t, ok, "a *domain.Error, mapped to a 400 problem: %v", err)
			require.Equal(t, domain.KindValidation, derr.Kind)
			for _, f := range tc.badFields {
				require.Contains(t, derr.Fields, f)
			}
			require.Len(t, derr.Fields, len(tc.badFields))
		})
	}
}

// The sales report agrees with the orders of the events, to the cent, in every period
// and currency, zero-filled, and is unchanged by redelivered rows.
func TestSalesReportMatchesTheEvents(t *testing.T) {
	t.Parallel()
	_, conn := testDatabase(t)
	events := shop(t, 5, 20, 100, 600)
	o := newOracle(t, events)
	w := analytics.NewWriter(conn)
	write(t, w, events, 2000)
	write(t, w, events[len(events)/3:], 1500) // redelivered

	sales := analytics.NewSales(conn)
	for _, g := range []analytics.Granularity{analytics.Hour, analytics.Day} {
		var first, last int64 = 1 << 62, 0
		for _, ord := range o.orders {
			first, last = min(first, ord.placedUS), max(last, ord.placedUS)
		}
		// A range that cuts the workload in the middle, to check the bounds too.
		from := time.UnixMicro(first + (last-first)/4).UTC()
		to := time.UnixMicro(last - (last-first)/4).UTC()
		q, err := analytics.ParseSalesQuery(from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), string(g), time.Now())
		require.NoError(t, err)
		rep, err := sales.Handle(context.Background(), q)
		require.NoError(t, err)

		want := map[string]map[time.Time]analytics.SalesFigures{}
		for _, ord := range o.orders {
			at := usTime(ord.placedUS)
			if at.Before(q.From) || !at.Before(q.To) {
				continue
			}
			start := at.Truncate(time.Hour)
			if g == analytics.Day {
				start = day(at)
			}
			if want[ord.currency] == nil {
				want[ord.currency] = map[time.Time]analytics.SalesFigures{}
			}
			f := want[ord.currency][start]
			f.OrdersPlaced++
			switch ord.status {
			case order.StatusConfirmed:
				f.OrdersConfirmed++
				f.RevenueCents += ord.total
			case order.StatusCancelled:
				f.OrdersCancelled++
			default:
				f.OrdersPending++
			}
			want[ord.currency][start] = f
		}
		require.Len(t, rep.Series, len(want))
		for _, s := range rep.Series {
			var total analytics.SalesFigures
			require.Len(t, s.Periods, int(q.To.Sub(q.From)/(map[analytics.Granularity]time.Duration{analytics.Hour: time.Hour, analytics.Day: 24 * time.Hour}[g])))
			for i, p := range s.Periods {
				if i > 0 {
					require.True(t, p.Start.After(s.Periods[i-1].Start))
				}
				require.Equal(t, want[s.Currency][p.Start], p.SalesFigures, "%s %s %s", g, s.Currency, p.Start)
				total.OrdersPlaced += p.OrdersPlaced
				total.RevenueCents += p.RevenueCents
			}
			require.Equal(t, total.OrdersPlaced, s.Totals.OrdersPlaced)
			require.Equal(t, total.RevenueCents, s.Totals.RevenueCents)
			require.Positive(t, s.Totals.RevenueCents)
		}
	}

	// The JSON the HTTP edge returns.
	q, err := analytics.ParseSalesQuery("2000-01-01", "2000-01-03", "day", time.Now())
	require.NoError(t, err)
	rep, err := sales.Handle(context.Background(), q)
	require.NoError(t, err)
	b, err := json.Marshal(rep)
	require.NoError(t, err)
	require.JSONEq(t, `{"from":"2000-01-01T00:00:00Z","to":"2000-01-03T00:00:00Z","granularity":"day","series":[]}`, string(b))
}

func TestSalesReportsClickHouseDown(t *testing.T) {
	t.Parallel()
	conn, err := analytics.Open("127.0.0.1:1", "ordo")
	require.NoError(t, err)
	defer conn.Close()
	q, err := analytics.ParseSalesQuery("", "", "", time.Now())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = analytics.NewSales(conn).Handle(ctx, q)
	require.ErrorIs(t, err, analytics.ErrUnavailable)
}
