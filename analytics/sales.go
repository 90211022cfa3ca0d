package analytics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/ordo-platform/ordo/domain"
)

// ErrUnavailable: ClickHouse did not answer; the HTTP edge maps it to 503.
var ErrUnavailable = errors.New("analytics: ClickHouse unavailable")

// Granularity is the period of a sales report.
type Granularity string

// Granularities.
const (
	Hour Granularity = "hour"
	Day  Granularity = "day"
)

func (g Granularity) step() time.Duration {
	if g == Hour {
		return time.Hour
	}
	return 24 * time.Hour
}

// Limits of a sales report, so that one request cannot ask for millions of periods.
const (
	MaxHourlyPeriods = 24 * 92
	MaxDailyPeriods  = 366 * 10
)

// Problem codes of ParseSalesQuery.
const (
	CodeInvalidGranularity = "invalid_granularity"
	CodeInvalidTime        = "invalid_time"
	CodeInvalidTimeRange   = "invalid_time_range"
)

// SalesQuery asks for revenue and order counts per period in [From, To), UTC.
type SalesQuery struct {
	From, To    time.Time
	Granularity Granularity
}

// ParseSalesQuery reads the query parameters of GET /v1/analytics/sales: from and to as
// RFC 3339 times or dates (2006-01-02, midnight UTC), granularity hour or day (default
// day). From is rounded down and To up to whole periods. Without To the report ends with
// the current period; without From it covers 24 hours or 30 days. Problems come back as
// one *domain.Error (validation) naming every bad parameter.
func ParseSalesQuery(from, to, granularity string, now time.Time) (SalesQuery, error) {
	q := SalesQuery{Granularity: Granularity(granularity)}
	var errs []error
	switch q.Granularity {
	case "":
		q.Granularity = Day
	case Hour, Day:
	default:
		errs = append(errs, domain.Invalid(CodeInvalidGranularity, "granularity", fmt.Sprintf("granularity %q must be hour or day", truncate(granularity))))
	}
	step := q.Granularity.step()
	parse := func(field, v string) time.Time {
		for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
			if t, err := time.Parse(layout, v); err == nil {
				return t.UTC()
			}
		}
		errs = append(errs, domain.Invalid(CodeInvalidTime, field, fmt.Sprintf("%s %q must be an RFC 3339 time or a date (2006-01-02)", field, truncate(v))))
		return time.Time{}
	}
	if to != "" {
		q.To = parse("to", to)
	} else {
		q.To = now.UTC()
	}
	q.To = ceil(q.To, step)
	if from != "" {
		q.From = parse("from", from).Truncate(step)
	} else if q.Granularity == Hour {
		q.From = q.To.Add(-24 * time.Hour)
	} else {
		q.From = q.To.AddDate(0, 0, -30)
	}
	if len(errs) == 0 {
		limit := MaxDailyPeriods
		if q.Granularity == Hour {
			limit = MaxHourlyPeriods
		}
		switch n := q.periods(); {
		case !q.From.Before(q.To):
			errs = append(errs, domain.Invalid(CodeInvalidTimeRange, "from", "from must be before to"))
		case n > limit:
			errs = append(errs, domain.Invalid(CodeInvalidTimeRange, "from",
				fmt.Sprintf("at most %d %s periods per report (asked for %d)", limit, q.Granularity, n)))
		}
	}
	if err := domain.JoinValidation(errs...); err != nil {
		return SalesQuery{}, err
	}
	return q, nil
}

func (q SalesQuery) periods() int { return int(q.To.Sub(q.From) / q.Granularity.step()) }

// ceil rounds t up to a multiple of d (UTC; hours and days divide Unix time evenly).
func ceil(t time.Time, d time.Duration) time.Time {
	if f := t.Truncate(d); !f.Equal(t) {
		return f.Add(d)
	}
	return t
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// SalesFigures are the numbers of one period (or of the whole report). Orders count by
// the time they were placed; revenue is the total of those that are confirmed now.
type SalesFigures struct {
	OrdersPlaced    int64 `json:"orders_placed"`
	OrdersConfirmed int64 `json:"orders_confirmed"`
	OrdersCancelled int64 `json:"orders_cancelled"`
	OrdersPending   int64 `json:"orders_pending"`
	// RevenueCents is in the series' currency's minor unit.
	RevenueCents int64 `json:"revenue_cents"`
}

func (f *SalesFigures) add(o SalesFigures) {
	f.OrdersPlaced += o.OrdersPlaced
	f.OrdersConfirmed += o.OrdersConfirmed
	f.OrdersCancelled += o.OrdersCancelled
	f.OrdersPending += o.OrdersPending
	f.RevenueCents += o.RevenueCents
}

// SalesPeriod is one period of a series; Start is its first instant (UTC).
type SalesPeriod struct {
	Start time.Time `json:"start"`
	SalesFigures
}

// SalesSeries is the report of one currency: every period of the report in order
// (periods without orders are zeros) and their totals.
type SalesSeries struct {
	Currency string        `json:"currency"`
	Totals   SalesFigures  `json:"totals"`
	Periods  []SalesPeriod `json:"periods"`
}

// SalesReport is the answer to GET /v1/analytics/sales: one series per currency that had
// orders in the range, sorted by currency (none when there were no orders).
type SalesReport struct {
	From        time.Time     `json:"from"`
	To          time.Time     `json:"to"`
	Granularity Granularity   `json:"granularity"`
	Series      []SalesSeries `json:"series"`
}

// Sales answers sales queries from ClickHouse.
type Sales struct {
	conn driver.Conn
}

// NewSales returns the query handler over conn (the analytics database).
func NewSales(conn driver.Conn) *Sales { return &Sales{conn: conn} }

// salesSQL folds the orders placed in the range (found through order_events, whose
// partitions and the bounds on occurred_at prune the scan) from orders_state, then sums
// them per period and currency. It reads orders_state rather than the orders view so
// that the filter applies before the fold instead of after folding every order.
const salesSQL = `SELECT
    intDiv(placed_us, ?) AS bucket,
    currency,
    count()                                  AS placed,
    countIf(status = 'confirmed')            AS confirmed,
    countIf(status = 'cancelled')            AS cancelled,
    countIf(status = 'pending')              AS pending,
    sumIf(total_cents, status = 'confirmed') AS revenue
FROM
(
    SELECT
        order_id,
        minIfMerge(placed_at_us_state) AS placed_us,
        argMinMerge(currency_state)    AS currency,
        argMinMerge(total_cents_state) AS total_cents,
        argMaxMerge(status_state)      AS status
    FROM orders_state
    WHERE order_id IN
    (
        SELECT order_id FROM order_events
        WHERE event_type = 'order.placed'
          AND occurred_at >= toDateTime(?, 'UTC') AND occurred_at <= toDateTime(?, 'UTC')
          AND occurred_at_us >= ? AND occurred_at_us < ?
    )
    GROUP BY order_id
)
WHERE placed_us >= ? AND placed_us < ?
GROUP BY bucket, currency
ORDER BY bucket, currency`

// Handle runs q.
func (s *Sales) Handle(ctx context.Context, q SalesQuery) (SalesReport, error) {
	step := q.Granularity.step()
	rep := SalesReport{From: q.From, To: q.To, Granularity: q.Granularity, Series: []SalesSeries{}}
	fromUS, toUS := q.From.UnixMicro(), q.To.UnixMicro()
	rows, err := s.conn.Query(ctx, salesSQL, step.Microseconds(),
		q.From.Unix(), q.To.Unix(), fromUS, toUS, fromUS, toUS)
	if err != nil {
		return rep, fmt.Errorf("%w: sales query: %w", ErrUnavailable, err)
	}
	defer rows.Close()
	byCurrency := map[string]map[int64]SalesFigures{}
	for rows.Next() {
		var (
			bucket                             int64
			currency                           string
			placed, confirmed, cancel, pending uint64
			revenue                            int64
		)
		if err := rows.Scan(&bucket, &currency, &placed, &confirmed, &cancel, &pending, &revenue); err != nil {
			return rep, fmt.Errorf("sales query: %w", err)
		}
		if byCurrency[currency] == nil {
			byCurrency[currency] = map[int64]SalesFigures{}
		}
		byCurrency[currency][bucket] = SalesFigures{OrdersPlaced: int64(placed), OrdersConfirmed: int64(confirmed),
			OrdersCancelled: int64(cancel), OrdersPending: int64(pending), RevenueCents: revenue}
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("%w: sales query: %w", ErrUnavailable, err)
	}
	currencies := make([]string, 0, len(byCurrency))
	for c := range byCurrency {
		currencies = append(currencies, c)
	}
	slices.Sort(currencies)
	for _, c := range currencies {
		series := SalesSeries{Currency: c, Periods: make([]SalesPeriod, 0, q.periods())}
		for t := q.From; t.Before(q.To); t = t.Add(step) {
			f := byCurrency[c][t.UnixMicro()/step.Microseconds()]
			series.Totals.add(f)
			series.Periods = append(series.Periods, SalesPeriod{Start: t, SalesFigures: f})
		}
		rep.Series = append(rep.Series, series)
	}
	return rep, nil
}
