// Package bench measures Ordo against the raw libraries it is built on, in the same run
// on the same machine: every scenario reports ours and a ceiling (the raw library doing
// the same work), so the ratio means something on a noisy shared machine where absolute
// numbers do not.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/ordo-platform/ordo/internal/stopwatch"
)

// Env is what scenarios may use: the real services of the configured stack. Scenarios
// work in scratch schemas, topics and databases of their own and remove them after.
type Env struct {
	PostgresURL    string
	KafkaBrokers   []string
	ClickHouseAddr string
	// Tracing is whether the process exports traces (kafka.Factory.Tracing): scenarios
	// build Ordo's side as the roles would be built.
	Tracing bool
	Log     *slog.Logger
	// Scale multiplies each scenario's default amount of work (1 = default).
	Scale float64
	// SustainedRate is the orders per second e2e offers in its sustained phase (15 s);
	// 0 is issue 6's 300.
	SustainedRate float64
	// DropClickHouseDatabase removes a scratch ClickHouse database that a scenario had
	// made through Ordo (`ordo migrate`). Set by cmd/ordo, so that this package does not
	// link clickhouse-go (the peer module in bench/ imports it); nil leaves it behind.
	DropClickHouseDatabase func(ctx context.Context, name string) error
	// CPU, when set, receives the CPU accounting of each scenario's measured sections
	// (`ordo bench --cpu`): by side, this process's and each local service's CPU time.
	CPU io.Writer
}

// N scales a default amount of work.
func (e Env) N(def int) int {
	if e.Scale <= 0 {
		return def
	}
	return max(1, int(math.Round(float64(def)*e.Scale)))
}

// Result is one scenario's measurement; its JSON form is the `ordo bench` output line.
type Result struct {
	Scenario string  `json:"scenario"`
	Unit     string  `json:"unit"`
	Ours     float64 `json:"ours"`
	Ceiling  float64 `json:"ceiling"`
	Ratio    float64 `json:"ratio"`
	N        int     `json:"n"`
}

// Scenario is one measurement.
type Scenario struct {
	Name string
	// Unit of Ours and Ceiling, higher is better ("events/s") unless LowerIsBetter.
	Unit string
	// LowerIsBetter: Ours and Ceiling are costs (seconds); the ratio is then
	// ceiling/ours, so that a higher ratio is better for every scenario.
	LowerIsBetter bool
	// Doc says what is compared, for `ordo bench --list`.
	Doc string
	// Run returns ours, the ceiling, and the amount of work n each did.
	Run func(ctx context.Context, env Env) (ours, ceiling float64, n int, err error)
}

var (
	mu        sync.Mutex
	scenarios = map[string]Scenario{}
)

// Register adds a scenario; packages register theirs from init.
func Register(s Scenario) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := scenarios[s.Name]; dup {
		panic("bench: scenario registered twice: " + s.Name)
	}
	scenarios[s.Name] = s
}

// Scenarios returns every registered scenario by name.
func Scenarios() []Scenario {
	mu.Lock()
	defer mu.Unlock()
	out := make([]Scenario, 0, len(scenarios))
	for _, s := range scenarios {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns a scenario by name.
func Lookup(name string) (Scenario, bool) {
	mu.Lock()
	defer mu.Unlock()
	s, ok := scenarios[name]
	return s, ok
}

// Run runs s and writes its result line to w.
func Run(ctx context.Context, env Env, s Scenario, w io.Writer) (Result, error) {
	var cpu *stopwatch.Report
	if env.CPU != nil {
		cpu = stopwatch.NewReport()
		ctx = stopwatch.WithReport(ctx, cpu)
	}
	ours, ceiling, n, err := s.Run(ctx, env)
	if err != nil {
		return Result{}, fmt.Errorf("bench %s: %w", s.Name, err)
	}
	if cpu != nil {
		if err := cpu.Write(env.CPU, s.Name, s.Unit, s.LowerIsBetter); err != nil {
			return Result{}, err
		}
	}
	r := Result{Scenario: s.Name, Unit: s.Unit, Ours: round(ours), Ceiling: round(ceiling), N: n}
	switch {
	case s.LowerIsBetter && ours > 0:
		r.Ratio = math.Round(ceiling/ours*1000) / 1000
	case !s.LowerIsBetter && ceiling > 0:
		r.Ratio = math.Round(ours/ceiling*1000) / 1000
	}
	b, err := json.Marshal(r)
	if err != nil {
		return r, err
	}
	_, err = fmt.Fprintln(w, string(b))
	return r, err
}

// round keeps one decimal of rates and three of small values (seconds).
func round(x float64) float64 {
	if math.Abs(x) < 100 {
		return math.Round(x*1000) / 1000
	}
	return math.Round(x*10) / 10
}

// Round is one round of one side of a scenario: it does some work and returns how much
// (n) and how long the timed part took (setup that is not being measured stays outside d).
type Round func(ctx context.Context, round int) (n int, d time.Duration, err error)

// Alternate runs ours and the ceiling in rounds, alternating which of the two goes first,
// so that a change of load on a shared machine (other processes, a checkpoint, autovacuum)
// falls on both sides alike rather than on whichever ran second. It returns each side's
// rate over all its rounds, and the total work n of one side.
func Alternate(ctx context.Context, rounds int, ours, ceiling Round) (oursRate, ceilingRate float64, n int, err error) {
	var (
		oursN, ceilN int
		oursD, ceilD time.Duration
	)
	for r := range rounds {
		sides := []struct {
			run Round
			ctx context.Context
			n   *int
			d   *time.Duration
		}{{ours, stopwatch.ForSide(ctx, "ours"), &oursN, &oursD}, {ceiling, stopwatch.ForSide(ctx, "ceiling"), &ceilN, &ceilD}}
		if r%2 == 1 {
			sides[0], sides[1] = sides[1], sides[0]
		}
		for _, side := range sides {
			n, d, err := side.run(side.ctx, r)
			if err != nil {
				return 0, 0, 0, err
			}
			stopwatch.AddWork(side.ctx, n)
			*side.n += n
			*side.d += d
		}
	}
	return Rate(oursN, oursD), Rate(ceilN, ceilD), oursN, nil
}

// Rate returns n per second over d.
func Rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
