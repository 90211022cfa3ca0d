package main

import (
	"cmp"
	"slices"

	"github.com/spf13/cobra"

	"github.com/ordo-platform/ordo/api"
	"github.com/ordo-platform/ordo/internal/lifecycle"
	"github.com/ordo-platform/ordo/internal/metrics"
)

func init() {
	registerRole(roleSpec{
		Name: "serve", Short: "Run the HTTP command and query API", InAll: true, Order: 0,
		Build: func(d *deps) ([]lifecycle.Role, error) { return []lifecycle.Role{d.http()}, nil },
	})
}

func (d *deps) http() *api.Server {
	return api.New(d.env.HTTP, api.Deps{Log: d.log, Ready: d.ready(), Metrics: metrics.Handler(d.reg)})
}

// roleCommands returns `ordo <role>` for every registered role and `ordo all`.
func roleCommands() []*cobra.Command {
	var out []*cobra.Command
	for _, spec := range roleSpecs {
		out = append(out, runRoles(spec.Name, spec.Short, []roleSpec{spec}, spec.Name != "serve"))
	}
	all := slices.Clone(roleSpecs)
	all = slices.DeleteFunc(all, func(r roleSpec) bool { return !r.InAll })
	slices.SortStableFunc(all, func(a, b roleSpec) int { return cmp.Compare(a.Order, b.Order) })
	out = append(out, runRoles("all", "Run every role in one process (development and small installations)", all, false))
	return out
}

// runRoles builds a command that opens the shared connections once and runs specs'
// roles until a signal; withMetrics adds a /metrics listener on ORDO_METRICS_ADDR for
// processes without the HTTP API.
func runRoles(use, short string, specs []roleSpec, withMetrics bool) *cobra.Command {
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
			var roles []lifecycle.Role
			for _, s := range specs {
				rs, err := s.Build(d)
				if err != nil {
					return err
				}
				roles = append(roles, rs...)
			}
			if withMetrics {
				roles = append(roles, metrics.NewServer(d.env.MetricsAddr, d.reg))
			}
			return lifecycle.Run(cmd.Context(), d.log, roles...)
		},
	}
}
