// Package topic names Ordo's Kafka topics and creates them. Events go to one topic per
// stream type (aggregate), keyed by stream id so that each stream keeps its order;
// records no consumer can handle go to the dead-letter topic.
package topic

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// byStreamType maps each stream type to its topic's middle name. Adding a stream type
// means adding its topic here (and running `ordo migrate`).
var byStreamType = map[string]string{
	"user":      "users",
	"product":   "products",
	"inventory": "inventory",
	"order":     "orders",
	"payment":   "payments",
	"saga":      "sagas",
}

// ErrUnknownStreamType: an event's stream type has no topic.
var ErrUnknownStreamType = errors.New("topic: unknown stream type")

// Names names the topics under a prefix: "<prefix>.orders.v1", "<prefix>.dlq.v1".
// Production uses Default; tests use a random prefix so they never share topics.
type Names struct {
	Prefix string
}

// Default is Ordo's topic naming: ordo.orders.v1 and so on.
var Default = Names{Prefix: "ordo"}

// ForStreamType returns the topic of a stream type.
func (n Names) ForStreamType(streamType string) (string, error) {
	t, ok := byStreamType[streamType]
	if !ok {
		return "", fmt.Errorf("%w %q", ErrUnknownStreamType, streamType)
	}
	return n.Prefix + "." + t + ".v1", nil
}

// Group returns the consumer group name for a constant base name: the base itself with
// Ordo's default topics, "<prefix>.<base>" otherwise, so installations (and tests) that
// share a cluster under different prefixes never share a group.
func (n Names) Group(base string) string {
	if n.Prefix == Default.Prefix {
		return base
	}
	return n.Prefix + "." + base
}

// DeadLetter is the dead-letter topic.
func (n Names) DeadLetter() string { return n.Prefix + ".dlq.v1" }

// Events returns every event topic, sorted.
func (n Names) Events() []string {
	out := make([]string, 0, len(byStreamType))
	for _, t := range byStreamType {
		out = append(out, n.Prefix+"."+t+".v1")
	}
	sort.Strings(out)
	return out
}

// Validate checks the prefix is a legal start of a topic name.
func (n Names) Validate() error {
	if n.Prefix == "" || len(n.Prefix) > 200 {
		return fmt.Errorf("ORDO_KAFKA_TOPIC_PREFIX %q: want 1..200 characters", n.Prefix)
	}
	for _, r := range n.Prefix {
		if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", r) {
			return fmt.Errorf("ORDO_KAFKA_TOPIC_PREFIX %q: only letters, digits, '.', '_' and '-'", n.Prefix)
		}
	}
	return nil
}

// Config says how `ordo migrate` creates topics.
type Config struct {
	// Partitions per event topic; consumers scale out up to this many per group.
	Partitions int32
	// ReplicationFactor per topic; -1 takes the brokers' default.replication.factor
	// (1 on the local stack, 3 in production).
	ReplicationFactor int16
	// RetentionMs for event topics; -1 keeps records forever. The event store is the
	// source of truth, so Kafka may drop old records; replays read the store.
	RetentionMs int64
	// MinInsyncReplicas, when positive, sets min.insync.replicas on every topic (2 with
	// replication factor 3 in production); 0 keeps the brokers' default.
	MinInsyncReplicas int
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Partitions: 6, ReplicationFactor: -1, RetentionMs: 7 * 24 * 3600 * 1000}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("ORDO_KAFKA_PARTITIONS %d: want at least 1", c.Partitions))
	}
	if c.ReplicationFactor == 0 || c.ReplicationFactor < -1 {
		errs = append(errs, fmt.Errorf("ORDO_KAFKA_REPLICATION_FACTOR %d: want -1 (broker default) or at least 1", c.ReplicationFactor))
	}
	if c.MinInsyncReplicas < 0 || (c.ReplicationFactor > 0 && c.MinInsyncReplicas > int(c.ReplicationFactor)) {
		errs = append(errs, fmt.Errorf("ORDO_KAFKA_MIN_INSYNC_REPLICAS %d: want 0 (broker default) up to the replication factor", c.MinInsyncReplicas))
	}
	if c.RetentionMs == 0 || c.RetentionMs < -1 {
		errs = append(errs, fmt.Errorf("ORDO_KAFKA_RETENTION_MS %d: want -1 (forever) or a positive number", c.RetentionMs))
	}
	return errors.Join(errs...)
}

// Created reports one topic of Ensure.
type Created struct {
	Topic      string
	Partitions int32
	New        bool
}

// Ensure creates every event topic and the dead-letter topic that does not exist yet,
// and leaves existing ones alone (it never shrinks or deletes anything). It fails when an
// existing topic has fewer partitions than configured, since that changes which
// partition a key maps to and must be a deliberate operation.
func Ensure(ctx context.Context, adm *kadm.Client, n Names, cfg Config) ([]Created, error) {
	names := append(n.Events(), n.DeadLetter())
	existing, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	retention := strconv.FormatInt(cfg.RetentionMs, 10)
	var out []Created
	for _, name := range names {
		if d, ok := existing[name]; ok && d.Err == nil {
			n := int32(len(d.Partitions))
			if n < cfg.Partitions {
				return out, fmt.Errorf("topic %s has %d partitions, configured %d: add partitions deliberately (kafka-topics --alter), knowing that keys move", name, n, cfg.Partitions)
			}
			out = append(out, Created{Topic: name, Partitions: n})
			continue
		}
		configs := map[string]*string{"retention.ms": &retention}
		if cfg.MinInsyncReplicas > 0 {
			isr := strconv.Itoa(cfg.MinInsyncReplicas)
			configs["min.insync.replicas"] = &isr
		}
		if name == n.DeadLetter() {
			forever := "-1"
			configs["retention.ms"] = &forever
		}
		resp, err := adm.CreateTopic(ctx, cfg.Partitions, cfg.ReplicationFactor, configs, name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return out, fmt.Errorf("create topic %s: %w", name, err)
		}
		out = append(out, Created{Topic: name, Partitions: cfg.Partitions, New: err == nil})
	}
	return out, awaitLeaders(ctx, adm, out)
}

// awaitLeaders waits (within ctx) until the metadata shows every partition of topics
// with a leader: a topic just created is not yet served, and a client that lists its
// offsets or produces to it at once would be told it does not exist.
func awaitLeaders(ctx context.Context, adm *kadm.Client, topics []Created) error {
	names := make([]string, len(topics))
	for i, c := range topics {
		names[i] = c.Topic
	}
	for {
		md, err := adm.Metadata(ctx, names...)
		waiting := ""
		if err != nil {
			waiting = err.Error()
		}
		for _, c := range topics {
			if waiting != "" {
				break
			}
			d, ok := md.Topics[c.Topic]
			switch {
			case !ok || d.Err != nil:
				waiting = fmt.Sprintf("topic %s is not served yet (%v)", c.Topic, d.Err)
			case int32(len(d.Partitions)) < c.Partitions:
				waiting = fmt.Sprintf("topic %s shows %d of %d partitions", c.Topic, len(d.Partitions), c.Partitions)
			default:
				for _, p := range d.Partitions {
					if p.Err != nil || p.Leader < 0 {
						waiting = fmt.Sprintf("partition %s/%d has no leader yet", c.Topic, p.Partition)
						break
					}
				}
			}
		}
		if waiting == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the topics to be served: %s: %w", waiting, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
