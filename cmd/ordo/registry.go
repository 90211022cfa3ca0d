package main

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/ordo-platform/ordo/internal/lifecycle"
	"github.com/ordo-platform/ordo/internal/pgmigrate"
)

// Each component registers what it brings to the binary from its own file's init, so
// that adding a role never edits a shared list.

// roleSpec describes a long-running role: `ordo <name>` runs it alone, `ordo all` runs
// every role with InAll.
type roleSpec struct {
	Name  string
	Short string
	// InAll includes the role in `ordo all`.
	InAll bool
	// Order sorts roles in `ordo all` (lower first); ties keep registration order.
	Order int
	// Build returns the role's workers; d holds the shared connections.
	Build func(d *deps) ([]lifecycle.Role, error)
}

var (
	roleSpecs     []roleSpec
	commands      []func() *cobra.Command
	migrations    []pgmigrate.Set
	collectors    []prometheus.Collector
	migrateSteps  []migrateStep
	replayTargets []replayTarget
)

// replayTarget is something `ordo replay --target NAME` rebuilds from the event store
// besides the Postgres projections (the ClickHouse analytics tables, for example).
type replayTarget struct {
	Name  string
	Short string
	Run   func(cmd *cobra.Command, d *deps) error
}

// migrateStep is one more thing `ordo migrate` does after the Postgres migrations and
// the Kafka topics (ClickHouse tables, for example).
type migrateStep struct {
	Name string
	Run  func(cmd *cobra.Command, d *deps) error
}

func registerRole(r roleSpec)                       { roleSpecs = append(roleSpecs, r) }
func registerCommand(c func() *cobra.Command)       { commands = append(commands, c) }
func registerMigrations(s pgmigrate.Set)            { migrations = append(migrations, s) }
func registerCollectors(cs ...prometheus.Collector) { collectors = append(collectors, cs...) }
func registerMigrateStep(s migrateStep)             { migrateSteps = append(migrateSteps, s) }
func registerReplayTarget(t replayTarget)           { replayTargets = append(replayTargets, t) }
