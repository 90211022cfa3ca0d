package main

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/ordo-platform/ordo/analytics"
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
			s, workers, err := d.http()
			if err != nil {
				return nil, err
			}
			return append([]lifecycle.Role{s}, workers...), nil
		},
	})
}

// http builds the API server and the workers its routes need: the notification hub of
// the WebSocket route, and the operator console's rebuild runner and consumer-lag
// sampler. It fails, naming the setting, without a valid ORDO_JWT_SECRET.
func (d *deps) http() (*api.Server, []lifecycle.Role, error) {
	tokens, err := auth.NewTokens(d.env.Auth, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("configuration:\n%w", err)
	}
	hasher, err := d.passwords()
	if err != nil {
		return nil, nil, err
	}
	admin, err := d.consoleDeps()
	if err != nil {
		return nil, nil, err
	}
	// ClickHouse answers only the sales route: the API serves without it (503 there).
	sales, err := d.clickhouse()
	if err != nil {
		d.log.Warn("clickhouse unavailable: GET /v1/analytics/sales answers 503", "err", err)
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
	deps := api.Deps{
		Log: d.log, Ready: d.ready(), Metrics: metrics.Handler(d.reg),
		App: d.app, Sessions: auth.NewSessions(tokens, d.pool), Passwords: hasher,
		ReadModels: queries, Notifications: hub, Sagas: sagas.NewQueries(d.store), Admin: admin,
	}
	if sales != nil {
		deps.Sales = analytics.NewSales(sales)
	}
	return api.New(d.env.HTTP, deps), []lifecycle.Role{hub, admin.Rebuilds, admin.ConsumerLag}, nil
}

// consoleDeps builds what the operator console's admin routes need. The consumer-lag
// sampler watches every consumer group of Ordo's roles, named as the roles name them:
//
//	ORDO_CONSUMER_LAG_INTERVAL  time between samples (default 10s)
//	ORDO_CONSUMER_LAG_WINDOW    how long samples are kept in memory (default 1h)
func (d *deps) consoleDeps() (api.AdminDeps, error) {
	names := d.env.TopicNames
	cfg := api.DefaultConsumerLagConfig()
	cfg.Groups = []string{
		names.Group(projections.GroupOrders), names.Group(projections.GroupProducts), names.Group(sagas.Group),
		analytics.GroupFor(names), names.Group(notify.Group),
	}
	var errs []error
	cfg.Interval = getDuration(&errs, "ORDO_CONSUMER_LAG_INTERVAL", cfg.Interval)
	cfg.Window = getDuration(&errs, "ORDO_CONSUMER_LAG_WINDOW", cfg.Window)
	errs = append(errs, cfg.Validate())
	if err := errors.Join(errs...); err != nil {
		return api.AdminDeps{}, fmt.Errorf("configuration:\n%w", err)
	}
	return api.AdminDeps{
		Kafka: d.kafka, NewKafkaClient: d.kafkaClients("console"), Topics: names,
		Rebuilds:    api.NewRebuilds(d.pool, d.store, d.log.With("role", "console")),
		ConsumerLag: api.NewConsumerLag(cfg, d.kafka, d.log.With("role", "console")),
	}, nil
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
