package main

import (
	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/eventstore/relay"
	"github.com/ordo-platform/ordo/internal/health"
	"github.com/ordo-platform/ordo/internal/lifecycle"
)

func init() {
	registerMigrations(postgres.Migrations())
	registerCollectors(relay.Collectors()...)
	registerCollectors(postgres.Collectors()...)
	registerCollectors(health.Collectors()...)
	registerRole(roleSpec{
		Name: "relay", Short: "Publish committed events from the event store to Kafka (one active leader)", InAll: true, Order: 10,
		Build: func(d *deps) ([]lifecycle.Role, error) {
			return []lifecycle.Role{relay.New(d.env.Relay, d.store, d.pool, d.kafka, d.log)}, nil
		},
	})
}
