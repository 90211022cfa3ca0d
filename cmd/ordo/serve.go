package main

import (
	"github.com/spf13/cobra"

	"github.com/ordo-platform/ordo/api"
	"github.com/ordo-platform/ordo/internal/health"
	"github.com/ordo-platform/ordo/internal/lifecycle"
)

func serveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP command and query API",
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := loadEnv()
			if err != nil {
				return err
			}
			log := newLogger(e.LogLevel)
			srv := api.New(e.HTTP, api.Deps{Log: log, Ready: readyChecks(e)})
			return lifecycle.Run(cmd.Context(), log, srv)
		},
	}
}

func allCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "all",
		Short: "Run every role in one process (development and small installations)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := loadEnv()
			if err != nil {
				return err
			}
			log := newLogger(e.LogLevel)
			srv := api.New(e.HTTP, api.Deps{Log: log, Ready: readyChecks(e)})
			return lifecycle.Run(cmd.Context(), log, srv)
		},
	}
}

func readyChecks(e env) []health.Checker {
	return []health.Checker{
		health.Postgres(e.PostgresURL),
		health.Kafka(e.KafkaBrokers),
		health.ClickHouse(e.ClickHouseAddr),
	}
}
