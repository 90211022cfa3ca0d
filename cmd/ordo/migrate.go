package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/internal/pgmigrate"
	pgpool "github.com/ordo-platform/ordo/internal/postgres"
	"github.com/ordo-platform/ordo/internal/topic"
)

// postgresMigrations lists every component's Postgres migrations, in dependency order.
func postgresMigrations() []pgmigrate.Set {
	return []pgmigrate.Set{
		postgres.Migrations(),
	}
}

func migrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply Postgres and ClickHouse migrations and create the Kafka topics",
		Long: `Applies every pending Postgres migration (each component has its own version table,
goose_<component>), then creates the Kafka topics that do not exist yet. Safe to run
again and from several places at once.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := loadEnv()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			log := newLogger(e.LogLevel)

			pool, err := pgpool.Open(ctx, e.PostgresURL)
			if err != nil {
				return err
			}
			defer pool.Close()
			applied, err := pgmigrate.Up(ctx, pool, log, postgresMigrations()...)
			if err != nil {
				return err
			}
			for _, a := range applied {
				fmt.Fprintf(cmd.OutOrStdout(), "postgres  %-12s version %d (%d applied now)\n", a.Set, a.Version, len(a.Applied))
			}

			cl, err := kgo.NewClient(kgo.SeedBrokers(e.KafkaBrokers...))
			if err != nil {
				return fmt.Errorf("kafka: %w", err)
			}
			defer cl.Close()
			created, err := topic.Ensure(ctx, kadm.NewClient(cl), e.TopicNames, e.Topics)
			if err != nil {
				return fmt.Errorf("kafka: %w", err)
			}
			for _, c := range created {
				state := "exists"
				if c.New {
					state = "created"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "kafka     %-20s %2d partitions (%s)\n", c.Topic, c.Partitions, state)
			}
			return nil
		},
	}
}
