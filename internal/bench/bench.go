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
)

// Env is what scenarios may use: the real services of the configured stack. Scenarios
// work in scratch schemas, topics and databases of their own and remove them after.
type Env struct {
	PostgresURL    string
	KafkaBrokers   []string
	ClickHouseAddr string
	Log            *slog.Logger
	// Scale multiplies each scenario's default amount of work (1 = default).
	Scale float64
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
	// Unit of Ours and Ceiling, higher is better ("events/s").
	Unit string
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
	ours, ceiling, n, err := s.Run(ctx, env)
	if err != nil {
		return Result{}, fmt.Errorf("bench %s: %w", s.Name, err)
	}
	r := Result{Scenario: s.Name, Unit: s.Unit, Ours: round(ours), Ceiling: round(ceiling), N: n}
	if ceiling > 0 {
		r.Ratio = math.Round(ours/ceiling*1000) / 1000
	}
	b, err := json.Marshal(r)
	if err != nil {
		return r, err
	}
	_, err = fmt.Fprintln(w, string(b))
	return r, err
}

func round(x float64) float64 { return math.Round(x*10) / 10 }

// Rate returns n per second over d.
func Rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
