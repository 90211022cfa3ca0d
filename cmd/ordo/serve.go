package main

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/ordo-platform/ordo/api"
	"github.com/ordo-platform/ordo/internal/auth"
	"github.com/ordo-platform/ordo/internal/health"
	"github.com/ordo-platform/ordo/internal/lifecycle"
	"github.com/ordo-platform/ordo/internal/metrics"
	"github.com/ordo-platform/ordo/notify"
	"github.com/ordo-platform/ordo/projections"
	"github.com/ordo-platform/ordo/sagas"
)

func init() {
	registerRole(roleSpec{
		Name: "serve", Short: "Run the HTTP command and query API", InAll: true, Order: 0,
		Build: func(d *deps) ([]lifecycle.Role, error) {
			s, hub, err := d.http()
			if err != nil {
				return nil, err
			}
			return []lifecycle.Role{s, hub}, nil
		},
	})
}

// http builds the API server and the notification hub its WebSocket route serves. It
// fails, naming the setting, without a valid ORDO_JWT_SECRET.
func (d *deps) http() (*api.Server, *notify.Hub, error) {
	tokens, err := auth.NewTokens(d.env.Auth, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("configuration:\n%w", err)
	}
	hasher, err := d.passwords()
	if err != nil {
		return nil, nil, err
	}
	hub := notify.NewHub(notify.DefaultHubConfig(), d.pool, func(r *http.Request) (uuid.UUID, error) {
		tok, err := notify.Token(r)
		if err != nil {
			return uuid.Nil, err
		}
		p, err := tokens.Authenticate(tok)
		if err != nil {
			return uuid.Nil, err
		}
		return uuid.UUID(p.UserID), nil
	}, d.log)
	queries := projections.NewQueries(d.pool)
	d.onClose(queries.Close)
	return api.New(d.env.HTTP, api.Deps{
		Log: d.log, Ready: d.ready(), Metrics: metrics.Handler(d.reg),
		App: d.app, Sessions: auth.NewSessions(tokens, d.pool), Passwords: hasher,
		ReadModels: queries, Notifications: hub, Sagas: sagas.NewQueries(d.store),
	}), hub, nil
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
			// Every process keeps ordo_dependency_up current for the alert rules.
			roles = append(roles, &health.Monitor{Checks: d.ready()})
			if withMetrics {
				roles = append(roles, metrics.NewServer(d.env.MetricsAddr, d.reg))
			}
			return lifecycle.Run(cmd.Context(), d.log, roles...)
		},
	}
}
