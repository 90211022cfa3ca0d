package analytics

import (
	"errors"
	"fmt"
	"time"
)

// Config configures the analytics sink, the replay and the ClickHouse connection.
type Config struct {
	// Addr is ClickHouse's native-protocol address (host:port).
	Addr string
	// Database holds every analytics table; tests use one of their own.
	Database string
	// FlushRows flushes the buffer once it holds this many events (each is a row of the
	// events table and up to a few rows of the typed tables).
	FlushRows int
	// FlushInterval flushes the buffer at the latest this long after its first event
	// arrived: the bound on how stale ClickHouse is when traffic is light.
	FlushInterval time.Duration
	// MaxPollRecords bounds one Kafka poll; several polls fill one flush.
	MaxPollRecords int
	// InstanceID, when set, makes the sink a static member of its consumer group
	// (KIP-345): a restarted replica with the same id takes its partitions back at
	// once instead of waiting for the session timeout. Use the pod name of a
	// StatefulSet; leave empty for Deployments.
	InstanceID string
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Addr:           "127.0.0.1:9000",
		Database:       "ordo",
		FlushRows:      50_000,
		FlushInterval:  3 * time.Second,
		MaxPollRecords: 10_000,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("ORDO_CLICKHOUSE_ADDR: want host:port"))
	}
	if err := ValidateDatabase(c.Database); err != nil {
		errs = append(errs, err)
	}
	if c.FlushRows < 1 || c.FlushRows > 1_000_000 {
		errs = append(errs, fmt.Errorf("ORDO_ANALYTICS_FLUSH_ROWS %d: want 1..1000000", c.FlushRows))
	}
	if c.FlushInterval < 10*time.Millisecond || c.FlushInterval > 5*time.Minute {
		errs = append(errs, fmt.Errorf("ORDO_ANALYTICS_FLUSH_INTERVAL %s: want 10ms..5m", c.FlushInterval))
	}
	if c.MaxPollRecords < 1 || c.MaxPollRecords > 1_000_000 {
		errs = append(errs, fmt.Errorf("analytics max poll records %d: want 1..1000000", c.MaxPollRecords))
	}
	return errors.Join(errs...)
}

// ValidateDatabase checks a ClickHouse database name: it is spliced into SQL, so only
// letters, digits and '_' (not first a digit), at most 64 characters.
func ValidateDatabase(name string) error {
	ok := name != "" && len(name) <= 64 && !(name[0] >= '0' && name[0] <= '9')
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
	}
	if !ok {
		return fmt.Errorf("ORDO_CLICKHOUSE_DATABASE %q: want 1..64 letters, digits or '_', not starting with a digit", name)
	}
	return nil
}
