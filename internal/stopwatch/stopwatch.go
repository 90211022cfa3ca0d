// Package stopwatch times the measured sections of `ordo bench` and, when asked
// (`--cpu`), counts the CPU time spent meanwhile by this process and its child processes,
// by the local services (Postgres, Kafka, ClickHouse) and by everything else on the
// machine, from Linux's /proc. A ratio says how much slower Ordo is than the raw library; the CPU says why:
// on a machine of two cores shared by the services, a side that needs more CPU than the
// cores give in the ceiling's time cannot reach it, however it overlaps its work.
//
// A scenario times a section with Start and Stop under the context of its side (ForSide,
// which Alternate sets for every round); without a report in the context a stopwatch is a
// plain clock and reads nothing from /proc.
package stopwatch

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"
)

// Report gathers the sections of one scenario, by side ("ours", "ceiling").
type Report struct {
	mu    sync.Mutex
	sides []*side
}

type side struct {
	report   *Report // whose mu guards the fields below
	name     string
	wall     time.Duration
	cpu      usage
	sections int
	work     int
}

// NewReport returns an empty report.
func NewReport() *Report { return &Report{} }

type reportKey struct{}
type sideKey struct{}

// WithReport returns ctx carrying r: sides taken under it (ForSide) count into r.
func WithReport(ctx context.Context, r *Report) context.Context {
	return context.WithValue(ctx, reportKey{}, r)
}

// ForSide returns ctx under which stopwatches count for the named side of the report in
// ctx; without a report, ctx itself.
func ForSide(ctx context.Context, name string) context.Context {
	r, _ := ctx.Value(reportKey{}).(*Report)
	if r == nil {
		return ctx
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.sides {
		if s.name == name {
			return context.WithValue(ctx, sideKey{}, s)
		}
	}
	s := &side{report: r, name: name}
	r.sides = append(r.sides, s)
	return context.WithValue(ctx, sideKey{}, s)
}

// AddWork records n units of work (events, orders) done by the side of ctx, to report
// the CPU per unit.
func AddWork(ctx context.Context, n int) {
	s := sideOf(ctx)
	if s == nil {
		return
	}
	s.report.mu.Lock()
	s.work += n
	s.report.mu.Unlock()
}

func sideOf(ctx context.Context) *side {
	s, _ := ctx.Value(sideKey{}).(*side)
	return s
}

// Watch is a running section.
type Watch struct {
	start time.Time
	from  usage
	side  *side
}

// Start starts a section: the CPU is read first, then the clock.
func Start(ctx context.Context) Watch {
	var w Watch
	if w.side = sideOf(ctx); w.side != nil {
		w.from = readUsage()
	}
	w.start = time.Now()
	return w
}

// Stop ends the section and returns its wall time: the clock is read first, then the CPU.
func (w Watch) Stop() time.Duration {
	d := time.Since(w.start)
	if w.side == nil {
		return d
	}
	used := readUsage().minus(w.from)
	w.side.report.mu.Lock()
	defer w.side.report.mu.Unlock()
	w.side.wall += d
	w.side.cpu = w.side.cpu.plus(used)
	w.side.sections++
	return d
}

// Write prints one line per side and, when the scenario compares rates of ours and a
// ceiling, the bound that ours' CPU puts on the ratio: the services' and this process's
// CPU cannot be spread over more than the machine's cores.
func (r *Report) Write(w io.Writer, scenario, unit string, lowerIsBetter bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cores := runtime.NumCPU()
	per := "unit"
	if u, ok := perUnit[unit]; ok {
		per = u
	}
	var ours, ceiling *side
	for _, s := range r.sides {
		if s.sections == 0 {
			continue
		}
		switch s.name {
		case "ours":
			ours = s
		case "ceiling":
			ceiling = s
		}
		sections := "sections"
		if s.sections == 1 {
			sections = "section"
		}
		line := fmt.Sprintf("cpu %s %s: %d %s, wall %.2f s; cpu %.2f s = %s",
			scenario, s.name, s.sections, sections, s.wall.Seconds(), s.cpu.own().Seconds(), s.cpu)
		if s.work > 0 {
			line += fmt.Sprintf("; %.1f µs of cpu per %s", float64(s.cpu.own().Microseconds())/float64(s.work), per)
		}
		if s.wall > 0 {
			line += fmt.Sprintf("; %.2f of %d cores busy", s.cpu.own().Seconds()/s.wall.Seconds(), cores)
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	if lowerIsBetter || ours == nil || ceiling == nil || ours.work == 0 || ceiling.work == 0 || ceiling.wall <= 0 {
		return nil
	}
	// Ours cannot take less than its CPU spread over every core.
	least := ours.cpu.own().Seconds() / float64(cores)
	if least <= 0 {
		return nil
	}
	best := (float64(ours.work) / least) / (float64(ceiling.work) / ceiling.wall.Seconds())
	_, err := fmt.Fprintf(w, "cpu %s bound: ours' cpu (%.2f s) needs at least %.2f s on %d cores, so its ratio "+
		"against this ceiling is at most %.2f (measured %.2f)\n", scenario, ours.cpu.own().Seconds(), least, cores,
		best, (float64(ours.work)/ours.wall.Seconds())/(float64(ceiling.work)/ceiling.wall.Seconds()))
	return err
}

var perUnit = map[string]string{"events/s": "event", "orders/s": "order"}
