package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/internal/bench"
	"github.com/ordo-platform/ordo/internal/testenv"
)

// benchKeys are the keys of an `ordo bench` line, in DESIGN.md's order.
var benchKeys = []string{"scenario", "unit", "ours", "ceiling", "ratio", "n"}

// TestBenchEveryScenarioPrintsItsLine runs `ordo bench all` as a user would, on a
// hundredth of the work, and checks the line DESIGN.md gives for every scenario that
// `ordo bench --list` names: its keys in order, positive figures, a ratio that is ours
// over the ceiling (the ceiling over ours where lower is better); and, with --cpu, the
// CPU lines on stderr of every scenario whose figures are rates. It measures nothing:
// the figures of so little work mean nothing, only their form does.
func TestBenchEveryScenarioPrintsItsLine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every scenario against the stack (about a minute)")
	}
	bin := testenv.BuildOrdo(t)
	env := testenv.Env("ORDO_POSTGRES_URL="+testenv.PostgresURL(), "ORDO_KAFKA_BROKERS="+strings.Join(testenv.KafkaBrokers(), ","),
		"ORDO_CLICKHOUSE_ADDR="+testenv.ClickHouseAddr())
	run := func(args ...string) (stdout, stderr string, err error) {
		cmd := exec.CommandContext(context.Background(), bin, args...)
		cmd.Env = env
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err = cmd.Run()
		return o.String(), e.String(), err
	}

	list, _, err := run("bench", "--list")
	require.NoError(t, err)
	var names []string
	lowerIsBetter := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		f := strings.Fields(line)
		names = append(names, f[0])
		lowerIsBetter[f[0]] = strings.Contains(line, "(lower is better)")
	}
	require.Contains(t, names, "append")
	require.Contains(t, names, "analytics")

	stdout, stderr, err := run("bench", "all", "--scale", "0.01", "--sustained-rate", "20", "--cpu")
	require.NoError(t, err, "stderr:\n%s", stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, len(names), "one line per scenario:\n%s", stdout)
	for i, line := range lines {
		// The keys, in order.
		dec := json.NewDecoder(strings.NewReader(line))
		tok, err := dec.Token()
		require.NoError(t, err, line)
		require.Equal(t, json.Delim('{'), tok, line)
		var keys []string
		for dec.More() {
			k, err := dec.Token()
			require.NoError(t, err, line)
			keys = append(keys, k.(string))
			var v json.RawMessage
			require.NoError(t, dec.Decode(&v), line)
		}
		require.Equal(t, benchKeys, keys, line)

		var r bench.Result
		require.NoError(t, json.Unmarshal([]byte(line), &r), line)
		require.Equal(t, names[i], r.Scenario, "scenarios in --list order")
		require.NotEmpty(t, r.Unit, line)
		require.Positive(t, r.Ours, line)
		require.Positive(t, r.Ceiling, line)
		require.Positive(t, r.N, line)
		want := r.Ours / r.Ceiling
		if lowerIsBetter[r.Scenario] {
			want = r.Ceiling / r.Ours
		}
		// The ratio is computed from the unrounded figures and printed to three decimals;
		// ours and the ceiling are printed to one decimal (rates) or three (below 100).
		rounding := func(x float64) float64 {
			if x < 100 {
				return 0.0005
			}
			return 0.05
		}
		slack := want*(rounding(r.Ours)/r.Ours+rounding(r.Ceiling)/r.Ceiling)*1.01 + 0.0005
		require.InDelta(t, want, r.Ratio, slack, line)

		cpu := !lowerIsBetter[r.Scenario] // project-lag's figure is a lag, not a rate of work
		for _, side := range []string{"ours", "ceiling", "bound"} {
			prefix := "cpu " + r.Scenario + " " + side + ":"
			require.Equal(t, cpu, hasLinePrefix(stderr, prefix), "%q on stderr:\n%s", prefix, stderr)
		}
		if r.Scenario == "e2e" { // the stack is a child process
			require.Contains(t, stderr, "+ its child processes ")
		}
	}

	// Bad input is named.
	_, stderr, err = run("bench", "no-such-scenario")
	require.Error(t, err)
	require.Contains(t, stderr, `unknown scenario "no-such-scenario"`)
	_, stderr, err = run("bench")
	require.Error(t, err)
	require.Contains(t, stderr, "name a scenario or 'all'")
}

func hasLinePrefix(text, prefix string) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}
