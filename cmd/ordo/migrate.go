package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/ordo-platform/ordo/internal/pgmigrate"
	"github.com/ordo-platform/ordo/internal/topic"
)

func migrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply Postgres and ClickHouse migrations and create the Kafka topics",
		Long: `Applies every pending Postgres migration (each component has its own version table,
goose_<component>), creates the Kafka topics that do not exist yet, then runs the other
components' migrations (ClickHouse). Safe to run again and from several places at once.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := loadEnv()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			d, err := openDeps(ctx, e, "migrate")
			if err != nil {
				return err
			}
			defer d.close()
			out := cmd.OutOrStdout()

			applied, err := pgmigrate.Up(ctx, d.pool, d.log, migrations...)
			if err != nil {
				return err
			}
			for _, a := range applied {
				fmt.Fprintf(out, "postgres    %-14s version %d (%d applied now)\n", a.Set, a.Version, len(a.Applied))
			}

			created, err := topic.Ensure(ctx, kadm.NewClient(d.kafka), e.TopicNames, e.Topics)
			if err != nil {
				return fmt.Errorf("kafka: %w", err)
			}
			for _, c := range created {
				state := "exists"
				if c.New {
					state = "created"
				}
				fmt.Fprintf(out, "kafka       %-22s %2d partitions (%s)\n", c.Topic, c.Partitions, state)
			}
			for _, step := range migrateSteps {
				if err := step.Run(cmd, d); err != nil {
					return fmt.Errorf("%s: %w", step.Name, err)
				}
			}
			return nil
		},
	}
}
