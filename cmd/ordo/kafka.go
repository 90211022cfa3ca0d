package main

import (
	"os"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/internal/consumer"
)

func init() {
	registerCollectors(consumer.Collectors()...)
	// Static group membership for every consumer of the process (see consumer.Config).
	consumer.DefaultInstanceID = os.Getenv("ORDO_KAFKA_INSTANCE_ID")
}

// kafkaClients returns a constructor of franz-go clients with this process's base
// options, for consumers that need their own client (one per consumer group).
func (d *deps) kafkaClients(role string) func(opts ...kgo.Opt) (*kgo.Client, error) {
	return func(opts ...kgo.Opt) (*kgo.Client, error) {
		return d.kafkaFactory.New(role, opts...)
	}
}
