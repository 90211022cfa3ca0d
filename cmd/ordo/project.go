package main

import (
	"github.com/spf13/cobra"

	"github.com/ordo-platform/ordo/internal/lifecycle"
	"github.com/ordo-platform/ordo/projections"
)

func init() {
	registerMigrations(projections.Migrations())
	registerCollectors(projections.Collectors()...)
	// After the registry tables exist: give every projection an active version (v1, empty)
	// so that queries and live projectors have tables from the first start.
	registerMigrateStep(migrateStep{Name: "projections", Run: func(cmd *cobra.Command, d *deps) error {
		return projections.Setup(cmd.Context(), d.pool)
	}})
	registerRole(roleSpec{
		Name: "project", Short: "Run the projectors: Kafka to the Postgres read models (orders, products)", InAll: true, Order: 20,
		Build: func(d *deps) ([]lifecycle.Role, error) {
			cfg := projections.DefaultConfig()
			cfg.Topics = d.env.TopicNames
			if g := d.env.TopicNames.Group(""); g != "" {
				cfg.GroupPrefix = g // "<prefix>." under a non-default topic prefix
			}
			var roles []lifecycle.Role
			for _, name := range projections.Names() {
				p, err := projections.NewProjector(name, cfg, d.pool, d.store, d.kafkaClients("project"), d.log.With("role", "project"))
				if err != nil {
					return nil, err
				}
				roles = append(roles, p)
			}
			return roles, nil
		},
	})
}
