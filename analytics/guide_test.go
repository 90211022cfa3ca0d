package analytics_test

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/domain/payment"
)

// The analyst's guide, docs/analytics.md, is executable: every ```sql block is either an
// example query (first line "-- query: <name>"), run against ClickHouse and checked by
// guideChecks[name], or the clustered DDL ("-- cluster ddl"), which needs a cluster.

type guideQuery struct {
	name, sql string
}

var sqlBlock = regexp.MustCompile("(?s)```sql\n(.*?)```")

func guideQueries(t *testing.T) []guideQuery {
	t.Helper()
	text, err := os.ReadFile("../docs/analytics.md")
	require.NoError(t, err)
	var out []guideQuery
	for _, m := range sqlBlock.FindAllStringSubmatch(string(text), -1) {
		body := m[1]
		first, _, _ := strings.Cut(body, "\n")
		switch {
		case strings.HasPrefix(first, "-- query: "):
			out = append(out, guideQuery{name: strings.TrimSpace(strings.TrimPrefix(first, "-- query: ")), sql: body})
		case first == "-- cluster ddl":
		default:
			t.Fatalf("docs/analytics.md: a sql block must start with '-- query: <name>' (and have a check in guide_test.go) or '-- cluster ddl':\n%s", body)
		}
	}
	require.GreaterOrEqual(t, len(out), 10, "the guide promises at least 10 example queries")
	seen := map[string]bool{}
	for _, q := range out {
		require.False(t, seen[q.name], "query name %s used twice", q.name)
		seen[q.name] = true
		require.Contains(t, guideChecks, q.name, "the guide's query %s has no check in guide_test.go", q.name)
	}
	for name := range guideChecks {
		require.True(t, seen[name], "guide_test.go checks a query %s that the guide no longer has", name)
	}
	return out
}

// runQuery returns every row of query as Go values (pointers dereferenced).
func runQuery(t *testing.T, conn driver.Conn, query string) [][]any {
	t.Helper()
	rows, err := conn.Query(context.Background(), query)
	require.NoError(t, err, query)
	defer rows.Close()
	types := rows.ColumnTypes()
	var out [][]any
	for rows.Next() {
		dest := make([]any, len(types))
		for i, ct := range types {
			dest[i] = reflect.New(ct.ScanType()).Interface()
		}
		require.NoError(t, rows.Scan(dest...))
		row := make([]any, len(dest))
		for i, d := range dest {
			row[i] = reflect.ValueOf(d).Elem().Interface()
		}
		out = append(out, row)
	}
	require.NoError(t, rows.Err())
	return out
}

// canon renders a value for comparison: integers in decimal, times in RFC 3339 UTC,
// UUIDs in text, slices element by element, NULL for nil pointers.
func canon(v any) string {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return "NULL"
		}
		rv = rv.Elem()
	}
	switch x := rv.Interface().(type) {
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	case uuid.UUID:
		return x.String()
	case string:
		return x
	case float32, float64:
		return strconv.FormatFloat(rv.Float(), 'f', 4, 64)
	}
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(rv.Uint(), 10)
	case reflect.Slice, reflect.Array:
		parts := make([]string, rv.Len())
		for i := range parts {
			parts[i] = canon(rv.Index(i).Interface())
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	return fmt.Sprint(v)
}

func isFloat(v any) bool {
	k := reflect.ValueOf(v).Kind()
	return k == reflect.Float32 || k == reflect.Float64
}

// sameCell compares canonically; floats (rates, rounded seconds) within 0.0011.
func sameCell(want, got any) bool {
	if isFloat(want) || isFloat(got) {
		a, _ := strconv.ParseFloat(canon(want), 64)
		b, _ := strconv.ParseFloat(canon(got), 64)
		return math.Abs(a-b) <= 0.0011
	}
	if reflect.ValueOf(want).Kind() == reflect.Slice && reflect.ValueOf(got).Kind() == reflect.Slice {
		w, g := reflect.ValueOf(want), reflect.ValueOf(got)
		if w.Len() != g.Len() {
			return false
		}
		for i := range w.Len() {
			if !sameCell(w.Index(i).Interface(), g.Index(i).Interface()) {
				return false
			}
		}
		return true
	}
	return canon(want) == canon(got)
}

func requireRows(t *testing.T, name string, want, got [][]any) {
	t.Helper()
	render := func(rows [][]any) string {
		var b strings.Builder
		for _, r := range rows {
			for i, c := range r {
				if i > 0 {
					b.WriteString(" | ")
				}
				b.WriteString(canon(c))
			}
			b.WriteString("\n")
		}
		return b.String()
	}
	ok := len(want) == len(got)
	for i := 0; ok && i < len(want); i++ {
		ok = len(want[i]) == len(got[i])
		for j := 0; ok && j < len(want[i]); j++ {
			ok = sameCell(want[i][j], got[i][j])
		}
	}
	if !ok {
		t.Fatalf("query %s: ClickHouse disagrees with the event store\nwant (from the store):\n%s\ngot (from ClickHouse):\n%s", name, render(want), render(got))
	}
}

// guideChecks compare each guide query's rows with the oracle.
var guideChecks = map[string]func(t *testing.T, o *oracle, got [][]any){
	"revenue_by_day": func(t *testing.T, o *oracle, got [][]any) {
		type key struct {
			day time.Time
			cur string
		}
		agg := map[key][2]int64{}
		for _, ord := range o.orders {
			if ord.status == order.StatusConfirmed {
				k := key{day(usTime(ord.placedUS)), ord.currency}
				a := agg[k]
				agg[k] = [2]int64{a[0] + 1, a[1] + ord.total}
			}
		}
		var want [][]any
		for k, a := range agg {
			want = append(want, []any{k.day, k.cur, a[0], a[1]})
		}
		sortRows(want, 0, 1)
		requireRows(t, "revenue_by_day", want, got)
	},
	"sales_by_hour": func(t *testing.T, o *oracle, got [][]any) {
		type key struct {
			hour time.Time
			cur  string
		}
		agg := map[key]*[5]int64{}
		for _, ord := range o.orders {
			k := key{usTime(ord.placedUS).Truncate(time.Hour), ord.currency}
			if agg[k] == nil {
				agg[k] = &[5]int64{}
			}
			a := agg[k]
			a[0]++
			switch ord.status {
			case order.StatusConfirmed:
				a[1]++
				a[4] += ord.total
			case order.StatusCancelled:
				a[2]++
			case order.StatusPending:
				a[3]++
			}
		}
		var want [][]any
		for k, a := range agg {
			want = append(want, []any{k.hour, k.cur, a[0], a[1], a[2], a[3], a[4]})
		}
		sortRows(want, 0, 1)
		requireRows(t, "sales_by_hour", want, got)
	},
	"average_order_value": func(t *testing.T, o *oracle, got [][]any) {
		agg := map[string][2]int64{}
		for _, ord := range o.orders {
			if ord.status == order.StatusConfirmed {
				a := agg[ord.currency]
				agg[ord.currency] = [2]int64{a[0] + 1, a[1] + ord.total}
			}
		}
		var want [][]any
		for c, a := range agg {
			want = append(want, []any{c, a[0], a[1], a[1] / a[0]})
		}
		sortRows(want, 0)
		requireRows(t, "average_order_value", want, got)
	},
	"top_products": func(t *testing.T, o *oracle, got [][]any) {
		type agg struct {
			sku, name, cur         string
			latest                 int64
			orders, units, revenue int64
		}
		by := map[uuid.UUID]*agg{}
		for _, ord := range o.orders {
			if ord.status != order.StatusConfirmed {
				continue
			}
			for _, it := range ord.items {
				a := by[uuid.UUID(it.ProductID)]
				if a == nil {
					a = &agg{cur: ord.currency}
					by[uuid.UUID(it.ProductID)] = a
				}
				if ord.placedUS >= a.latest {
					a.latest, a.sku, a.name = ord.placedUS, it.SKU, it.Name
				}
				a.orders++
				a.units += it.Quantity
				a.revenue += it.LineTotalCents
			}
		}
		var want [][]any
		for _, a := range by {
			want = append(want, []any{a.sku, a.name, a.cur, a.orders, a.units, a.revenue})
		}
		slices.SortFunc(want, func(a, b []any) int {
			return cmp.Or(cmp.Compare(b[5].(int64), a[5].(int64)), cmp.Compare(a[0].(string), b[0].(string)))
		})
		requireRows(t, "top_products", want[:min(10, len(want))], got)
	},
	"cancellation_reasons": func(t *testing.T, o *oracle, got [][]any) {
		agg := map[string]int64{}
		for _, ord := range o.orders {
			if ord.cancelledUS > 0 {
				agg[string(ord.reason)]++
			}
		}
		var want [][]any
		for r, n := range agg {
			want = append(want, []any{r, n})
		}
		slices.SortFunc(want, func(a, b []any) int {
			return cmp.Or(cmp.Compare(b[1].(int64), a[1].(int64)), cmp.Compare(a[0].(string), b[0].(string)))
		})
		requireRows(t, "cancellation_reasons", want, got)
	},
	"placed_to_confirmed_funnel": func(t *testing.T, o *oracle, got [][]any) {
		var placed, reached, confirmed, cancelled, pending int64
		for _, ord := range o.orders {
			placed++
			if ord.confirmedUS > 0 {
				reached++
			}
			switch ord.status {
			case order.StatusConfirmed:
				confirmed++
			case order.StatusCancelled:
				cancelled++
			default:
				pending++
			}
		}
		requireRows(t, "placed_to_confirmed_funnel",
			[][]any{{placed, reached, confirmed, cancelled, pending, math.Round(float64(reached)/float64(placed)*1e4) / 1e4}}, got)
	},
	"time_to_confirm_percentiles": func(t *testing.T, o *oracle, got [][]any) {
		var d []int64
		for _, ord := range o.orders {
			if ord.confirmedUS > 0 {
				d = append(d, ord.confirmedUS-ord.placedUS)
			}
		}
		slices.Sort(d)
		var us []int64
		var secs []float64
		for _, level := range []float64{0.5, 0.9, 0.99} {
			// quantileExact: the element at level × n (rounded down) of the sorted values.
			v := d[min(int(level*float64(len(d))), len(d)-1)]
			us = append(us, v)
			secs = append(secs, math.Round(float64(v)/1e6*1e3)/1e3)
		}
		requireRows(t, "time_to_confirm_percentiles", [][]any{{int64(len(d)), us, secs}}, got)
	},
	"repeat_customers": func(t *testing.T, o *oracle, got [][]any) {
		per := map[uuid.UUID]int64{}
		for _, ord := range o.orders {
			if ord.status == order.StatusConfirmed {
				per[ord.customer]++
			}
		}
		hist := map[int64]int64{}
		for _, n := range per {
			hist[n]++
		}
		var want [][]any
		for n, c := range hist {
			want = append(want, []any{n, c})
		}
		sortRows(want, 0)
		requireRows(t, "repeat_customers", want, got)
	},
	"payment_decline_rate": func(t *testing.T, o *oracle, got [][]any) {
		type sets struct{ attempts, auth, declined, fraud map[uuid.UUID]bool }
		by := map[time.Time]*sets{}
		for _, e := range o.paymentEvents {
			s := by[e.day]
			if s == nil {
				s = &sets{map[uuid.UUID]bool{}, map[uuid.UUID]bool{}, map[uuid.UUID]bool{}, map[uuid.UUID]bool{}}
				by[e.day] = s
			}
			switch e.typ {
			case payment.TypeAuthorized:
				s.auth[e.orderID], s.attempts[e.orderID] = true, true
			case payment.TypeDeclined:
				s.declined[e.orderID], s.attempts[e.orderID] = true, true
			case payment.TypeFraudSuspected:
				s.fraud[e.orderID], s.attempts[e.orderID] = true, true
			}
		}
		var want [][]any
		for d, s := range by {
			rate := 0.0
			if len(s.attempts) > 0 {
				rate = math.Round(float64(len(s.declined))/float64(len(s.attempts))*1e4) / 1e4
			}
			want = append(want, []any{d, len(s.attempts), len(s.auth), len(s.declined), len(s.fraud), rate})
		}
		sortRows(want, 0)
		requireRows(t, "payment_decline_rate", want, got)
	},
	"payments_by_status": func(t *testing.T, o *oracle, got [][]any) {
		type key struct{ status, cur string }
		agg := map[key][3]int64{}
		for _, p := range o.payments {
			k := key{string(p.status), p.currency}
			a := agg[k]
			agg[k] = [3]int64{a[0] + 1, a[1] + p.captured, a[2] + p.refunded}
		}
		var want [][]any
		for k, a := range agg {
			want = append(want, []any{k.status, k.cur, a[0], a[1], a[2]})
		}
		sortRows(want, 0, 1)
		requireRows(t, "payments_by_status", want, got)
	},
	"stock_movements": func(t *testing.T, o *oracle, got [][]any) {
		var want [][]any
		for kind, m := range o.movements {
			want = append(want, []any{kind, m.count, m.units})
		}
		sortRows(want, 0)
		requireRows(t, "stock_movements", want, got)
	},
	"lowest_stock": func(t *testing.T, o *oracle, got [][]any) {
		// Ties make the order of equal levels arbitrary: check each row against the store
		// and that the levels are the lowest ones.
		var levels []int64
		for _, s := range o.stock {
			levels = append(levels, s.onHand-s.reserved)
		}
		slices.Sort(levels)
		require.Len(t, got, min(5, len(levels)))
		for i, row := range got {
			s := o.stock[row[0].(uuid.UUID)]
			require.NotNil(t, s, "lowest_stock: unknown product %v", row[0])
			requireRows(t, "lowest_stock", [][]any{{row[0], s.onHand, s.reserved, s.onHand - s.reserved}}, [][]any{row})
			require.Equal(t, levels[i], s.onHand-s.reserved, "lowest_stock: row %d is not the %d-th lowest level", i, i+1)
		}
	},
	"events_per_type": func(t *testing.T, o *oracle, got [][]any) {
		var want [][]any
		for typ, n := range o.byType {
			want = append(want, []any{typ, n})
		}
		sortRows(want, 0)
		requireRows(t, "events_per_type", want, got)
	},
	"placed_totals_from_payload": func(t *testing.T, o *oracle, got [][]any) {
		agg := map[string][2]int64{}
		for _, ord := range o.orders {
			a := agg[ord.currency]
			agg[ord.currency] = [2]int64{a[0] + 1, a[1] + ord.total}
		}
		var want [][]any
		for c, a := range agg {
			want = append(want, []any{c, a[0], a[1]})
		}
		sortRows(want, 0)
		requireRows(t, "placed_totals_from_payload", want, got)
	},
	"refunds": func(t *testing.T, o *oracle, got [][]any) {
		agg := map[string][2]int64{}
		for _, e := range o.paymentEvents {
			if e.typ == payment.TypeRefunded {
				a := agg[e.cur]
				agg[e.cur] = [2]int64{a[0] + 1, a[1] + e.amount}
			}
		}
		var want [][]any
		for c, a := range agg {
			want = append(want, []any{c, a[0], a[1]})
		}
		sortRows(want, 0)
		requireRows(t, "refunds", want, got)
	},
	"freshness": func(t *testing.T, o *oracle, got [][]any) {
		requireRows(t, "freshness", [][]any{{o.newest.UTC().Truncate(time.Second)}}, got)
	},
}

// sortRows sorts rows by the given columns, canonically (dates, times and currency codes
// sort the same way as text as ClickHouse sorts them).
func sortRows(rows [][]any, cols ...int) {
	slices.SortFunc(rows, func(a, b []any) int {
		for _, c := range cols {
			x, y := a[c], b[c]
			var r int
			switch xv := x.(type) {
			case time.Time:
				r = xv.Compare(y.(time.Time))
			case int64:
				r = cmp.Compare(xv, y.(int64))
			default:
				r = cmp.Compare(canon(x), canon(y))
			}
			if r != 0 {
				return r
			}
		}
		return 0
	})
}

// checkGuide runs every query of the guide and checks it against o; it returns each
// query's rows rendered canonically, to compare runs.
func checkGuide(t *testing.T, conn driver.Conn, o *oracle) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, q := range guideQueries(t) {
		got := runQuery(t, conn, q.sql)
		guideChecks[q.name](t, o, got)
		var b strings.Builder
		for _, r := range got {
			for _, c := range r {
				b.WriteString(canon(c) + "|")
			}
			b.WriteString("\n")
		}
		out[q.name] = b.String()
	}
	return out
}
