package main

import (
	"github.com/spf13/cobra"

	"github.com/ordo-platform/ordo/api"
	"github.com/ordo-platform/ordo/internal/lifecycle"
	"github.com/ordo-platform/ordo/internal/metrics"
)

// roleCmd builds a subcommand that opens the shared connections and runs roles.
func roleCmd(use, short string, roles func(d *deps) []lifecycle.Role) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := loadEnv()
			if err != nil {
				return err
			}
			d, err := openDeps(cmd.Context(), e, use)
			if err != nil {
				return err
			}
			defer d.close()
			return lifecycle.Run(cmd.Context(), d.log, roles(d)...)
		},
	}
}

func (d *deps) http() *api.Server {
	return api.New(d.env.HTTP, api.Deps{Log: d.log, Ready: d.ready(), Metrics: metrics.Handler(d.reg)})
}

func serveCmd() *cobra.Command {
	return roleCmd("serve", "Run the HTTP command and query API", func(d *deps) []lifecycle.Role {
		return []lifecycle.Role{d.http()}
	})
}

func relayCmd() *cobra.Command {
	return roleCmd("relay", "Publish committed events from the event store to Kafka (one active leader)", func(d *deps) []lifecycle.Role {
		return []lifecycle.Role{d.relay(), metrics.NewServer(d.env.MetricsAddr, d.reg)}
	})
}

func allCmd() *cobra.Command {
	return roleCmd("all", "Run every role in one process (development and small installations)", func(d *deps) []lifecycle.Role {
		return []lifecycle.Role{d.http(), d.relay()}
	})
}
