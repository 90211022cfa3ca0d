package api

import (
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/internal/topic"
)

// AdminDeps are what the operator console's admin routes need beyond Deps.App (the
// event store and its pool). A nil field makes its routes answer 503.
type AdminDeps struct {
	// Kafka is the process's shared client: it re-produces dead letters and asks the
	// brokers for offsets (kadm).
	Kafka *kgo.Client
	// NewKafkaClient makes a short-lived client (closed after use) that reads the
	// dead-letter topic's partitions directly, without a consumer group.
	NewKafkaClient func(opts ...kgo.Opt) (*kgo.Client, error)
	// Topics names the dead-letter topic and the event topics records are re-driven to.
	Topics topic.Names
	// Rebuilds runs projection rebuilds in this process (POST .../rebuild).
	Rebuilds *Rebuilds
	// ConsumerLag samples the consumer groups' lag (GET /v1/admin/consumers).
	ConsumerLag *ConsumerLag
}
