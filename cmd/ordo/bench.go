package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/spf13/cobra"

	"github.com/ordo-platform/ordo/internal/bench"
	"github.com/ordo-platform/ordo/internal/telemetry"
)

func init() { registerCommand(benchCmd) }

func benchCmd() *cobra.Command {
	var (
		list       bool
		scale      float64
		rate       float64
		cpuProfile string
		cpu        bool
	)
	cmd := &cobra.Command{
		Use:   "bench [scenario ...|all]",
		Short: "Measure Ordo against the raw libraries, one JSON line per scenario",
		Long: `Runs each scenario twice in the same process: once through Ordo and once with the raw
library doing the same work (the ceiling), and prints one JSON line per scenario:
  {"scenario":...,"unit":...,"ours":...,"ceiling":...,"ratio":...,"n":...}
ratio = ours / ceiling (higher is better; 1 means Ordo costs nothing over the library).
Scenarios use scratch schemas, topics and databases and remove them afterwards.
With --cpu, each scenario also prints to stderr the CPU time its timed work used, by
side: this process and its child processes, Postgres, Kafka and ClickHouse (read from
/proc), and the bound that ours' CPU puts on the ratio on this machine's cores.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if list {
				for _, s := range bench.Scenarios() {
					fmt.Fprintf(cmd.OutOrStdout(), "%-16s %-10s %s\n", s.Name, s.Unit, s.Doc)
				}
				return nil
			}
			if len(args) == 0 {
				return fmt.Errorf("name a scenario or 'all' (see ordo bench --list)")
			}
			if scale <= 0 || scale > 100 {
				return fmt.Errorf("--scale %g: want more than 0 and at most 100", scale)
			}
			if rate < 1 || rate > 10000 {
				return fmt.Errorf("--sustained-rate %g: want 1 to 10000 orders/s", rate)
			}
			e, err := loadEnv()
			if err != nil {
				return err
			}
			var run []bench.Scenario
			if len(args) == 1 && args[0] == "all" {
				run = bench.Scenarios()
			} else {
				for _, a := range args {
					s, ok := bench.Lookup(a)
					if !ok {
						return fmt.Errorf("unknown scenario %q (see ordo bench --list)", a)
					}
					run = append(run, s)
				}
			}
			// Ordo's side runs as in a role: with the process's tracing set up (spans are made
			// and sampled even when nothing exports them).
			tcfg := e.Telemetry
			tcfg.Service = "ordo-bench"
			stopTracing, err := telemetry.Setup(cmd.Context(), tcfg)
			if err != nil {
				return err
			}
			defer func() { _ = stopTracing(context.Background()) }()
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			env := bench.Env{PostgresURL: e.PostgresURL, KafkaBrokers: e.KafkaBrokers, ClickHouseAddr: e.ClickHouseAddr,
				Tracing: e.Telemetry.Endpoint != "", // as openDeps sets kafka.Factory.Tracing
				Log:     slog.New(slog.NewTextHandler(io.Discard, nil)), Scale: scale, SustainedRate: rate,
				DropClickHouseDatabase: func(ctx context.Context, name string) error {
					conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{e.ClickHouseAddr}, DialTimeout: 5 * time.Second})
					if err != nil {
						return err
					}
					defer conn.Close()
					return conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name)
				}}
			if cpu {
				env.CPU = cmd.ErrOrStderr()
			}
			for _, s := range run {
				if _, err := bench.Run(cmd.Context(), env, s, cmd.OutOrStdout()); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&list, "list", false, "list the scenarios")
	cmd.Flags().Float64Var(&scale, "scale", 1, "multiply each scenario's amount of work")
	cmd.Flags().Float64Var(&rate, "sustained-rate", 300, "e2e: orders per second offered in the sustained phase (15 s), to find the rate the stack keeps up with")
	cmd.Flags().BoolVar(&cpu, "cpu", false, "print to stderr the CPU time each side's timed work used: this process and its children, Postgres, Kafka, ClickHouse (from /proc)")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (both sides) to this file")
	return cmd
}
