package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/ordo-platform/ordo/api"
	"github.com/ordo-platform/ordo/eventstore/relay"
	"github.com/ordo-platform/ordo/internal/telemetry"
	"github.com/ordo-platform/ordo/internal/topic"
)

// env holds the settings every role shares, read from ORDO_* environment variables.
// Only this package reads the environment; components get config structs.
type env struct {
	PostgresURL    string
	KafkaBrokers   []string
	ClickHouseAddr string
	LogLevel       slog.Level
	HTTP           api.Config
	Topics         topic.Config
	TopicNames     topic.Names
	Relay          relay.Config
	MetricsAddr    string
	Telemetry      telemetry.Config
}

// loadEnv reads the environment and reports every bad setting at once.
func loadEnv() (env, error) {
	var errs []error
	e := env{
		PostgresURL:    getenv("ORDO_POSTGRES_URL", "postgres://ordo:ordo@127.0.0.1:5432/ordo?sslmode=disable"),
		KafkaBrokers:   splitList(getenv("ORDO_KAFKA_BROKERS", "127.0.0.1:9092")),
		ClickHouseAddr: getenv("ORDO_CLICKHOUSE_ADDR", "127.0.0.1:9000"),
		HTTP:           api.DefaultConfig(),
		Topics:         topic.DefaultConfig(),
		TopicNames:     topic.Names{Prefix: getenv("ORDO_KAFKA_TOPIC_PREFIX", topic.Default.Prefix)},
	}
	e.Telemetry = telemetry.Config{
		Endpoint:    getenv("ORDO_OTEL_EXPORTER_OTLP_ENDPOINT", ""),
		SampleRatio: getFloat(&errs, "ORDO_OTEL_SAMPLE_RATIO", 1),
	}
	e.Relay = relay.DefaultConfig()
	e.Relay.Topics = e.TopicNames
	e.MetricsAddr = getenv("ORDO_METRICS_ADDR", "127.0.0.1:9464")
	e.Topics.Partitions = int32(getInt(&errs, "ORDO_KAFKA_PARTITIONS", int64(e.Topics.Partitions)))
	e.Topics.ReplicationFactor = int16(getInt(&errs, "ORDO_KAFKA_REPLICATION_FACTOR", int64(e.Topics.ReplicationFactor)))
	e.Topics.RetentionMs = getInt(&errs, "ORDO_KAFKA_RETENTION_MS", e.Topics.RetentionMs)
	e.HTTP.Addr = getenv("ORDO_HTTP_ADDR", e.HTTP.Addr)
	if err := e.LogLevel.UnmarshalText([]byte(getenv("ORDO_LOG_LEVEL", "info"))); err != nil {
		errs = append(errs, fmt.Errorf("ORDO_LOG_LEVEL: %w (want debug, info, warn or error)", err))
	}
	if !strings.HasPrefix(e.PostgresURL, "postgres://") && !strings.HasPrefix(e.PostgresURL, "postgresql://") {
		errs = append(errs, fmt.Errorf("ORDO_POSTGRES_URL %q: want postgres://user:password@host:port/db", e.PostgresURL))
	}
	if len(e.KafkaBrokers) == 0 {
		errs = append(errs, errors.New("ORDO_KAFKA_BROKERS: want at least one host:port"))
	}
	if e.ClickHouseAddr == "" {
		errs = append(errs, errors.New("ORDO_CLICKHOUSE_ADDR: want host:port"))
	}
	errs = append(errs, e.HTTP.Validate(), e.Topics.Validate(), e.Relay.Validate(), e.Telemetry.Validate())
	if err := errors.Join(errs...); err != nil {
		return e, fmt.Errorf("configuration:\n%w", err)
	}
	return e, nil
}

func getenv(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}

// getInt reads an integer setting, recording a problem when it is not one.
func getInt(errs *[]error, key string, def int64) int64 {
	v, ok := os.LookupEnv(key)
	if !ok || v == "" {
		return def
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s %q: want an integer", key, v))
		return def
	}
	return n
}

// getFloat reads a decimal setting, recording a problem when it is not one.
func getFloat(errs *[]error, key string, def float64) float64 {
	v, ok := os.LookupEnv(key)
	if !ok || v == "" {
		return def
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s %q: want a number", key, v))
		return def
	}
	return f
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
