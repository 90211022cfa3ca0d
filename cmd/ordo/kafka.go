package main

import (
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/internal/consumer"
)

func init() {
	registerCollectors(consumer.Collectors()...)
}

// kafkaClients returns a constructor of franz-go clients with this process's base
// options, for consumers that need their own client (one per consumer group).
func (d *deps) kafkaClients(role string) func(opts ...kgo.Opt) (*kgo.Client, error) {
	return func(opts ...kgo.Opt) (*kgo.Client, error) {
		return d.kafkaFactory.New(role, opts...)
	}
}
