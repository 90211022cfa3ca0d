package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/ordo-platform/ordo/analytics"
	"github.com/ordo-platform/ordo/api"
	"github.com/ordo-platform/ordo/eventstore/relay"
	"github.com/ordo-platform/ordo/internal/auth"
	"github.com/ordo-platform/ordo/internal/ratelimit"
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
	// Auth and Passwords configure the HTTP API's tokens and password hashes (see
	// loadAPIEnv); HTTP holds its rate limits and trusted proxies.
	Auth      auth.Config
	Passwords auth.PasswordParams
	// Analytics configures the ClickHouse sink, replay and queries (see loadAnalyticsEnv).
	Analytics analytics.Config
}

// loadEnv reads the environment and reports every bad setting at once.
func loadEnv() (env, error) {
	var errs []error
	// A setting that is present but empty is a mistake (a typo in a deployment, an unset
	// shell variable), not a request for the default: refuse it by name.
	for _, key := range []string{"ORDO_POSTGRES_URL", "ORDO_KAFKA_BROKERS", "ORDO_CLICKHOUSE_ADDR", "ORDO_HTTP_ADDR",
		"ORDO_KAFKA_TOPIC_PREFIX", "ORDO_METRICS_ADDR", "ORDO_LOG_LEVEL"} {
		if v, ok := os.LookupEnv(key); ok && strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Errorf("%s is set but empty: give it a value, or unset it to use the default", key))
		}
	}
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
	e.Topics.MinInsyncReplicas = int(getInt(&errs, "ORDO_KAFKA_MIN_INSYNC_REPLICAS", 0))
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
	loadAPIEnv(&errs, &e)
	loadAnalyticsEnv(&errs, &e)
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

// ---- HTTP API: tokens, passwords, rate limits, client IPs (issue 4) ----

// loadAPIEnv reads the HTTP API's settings. ORDO_JWT_SECRET is checked only where the
// API is served ((*deps).http, for `ordo serve` and `ordo all`): migrate and the workers
// do not need it.
func loadAPIEnv(errs *[]error, e *env) {
	e.Auth = auth.DefaultConfig()
	e.Auth.Secret = []byte(os.Getenv("ORDO_JWT_SECRET"))
	if f := os.Getenv("ORDO_JWT_SECRET_FILE"); f != "" && len(e.Auth.Secret) == 0 {
		b, err := os.ReadFile(f)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("ORDO_JWT_SECRET_FILE: %w", err))
		}
		e.Auth.Secret = bytes.TrimSpace(b)
	}
	e.Auth.AccessTTL = getDuration(errs, "ORDO_ACCESS_TOKEN_TTL", e.Auth.AccessTTL)
	e.Auth.RefreshTTL = getDuration(errs, "ORDO_REFRESH_TOKEN_TTL", e.Auth.RefreshTTL)

	e.Passwords = auth.DefaultPasswordParams()
	e.Passwords.MemoryKiB = uint32(getIntIn(errs, "ORDO_ARGON2_MEMORY_KIB", int64(e.Passwords.MemoryKiB), 8, 1<<21))
	e.Passwords.Time = uint32(getIntIn(errs, "ORDO_ARGON2_TIME", int64(e.Passwords.Time), 1, 100))
	e.Passwords.Threads = uint8(getIntIn(errs, "ORDO_ARGON2_THREADS", int64(e.Passwords.Threads), 1, 255))
	*errs = append(*errs, e.Passwords.Validate())

	rl := &e.HTTP.RateLimit
	rl.User.Rate = rate.Limit(getFloat(errs, "ORDO_RATE_USER_RPS", float64(rl.User.Rate)))
	rl.User.Burst = int(getIntIn(errs, "ORDO_RATE_USER_BURST", int64(rl.User.Burst), 1, 1<<20))
	rl.IP.Rate = rate.Limit(getFloat(errs, "ORDO_RATE_IP_RPS", float64(rl.IP.Rate)))
	rl.IP.Burst = int(getIntIn(errs, "ORDO_RATE_IP_BURST", int64(rl.IP.Burst), 1, 1<<20))
	rl.Auth = ratelimit.PerMinute(int(getIntIn(errs, "ORDO_RATE_AUTH_PER_MIN", int64(rl.Auth.Burst), 1, 1<<20)))
	switch v := getenv("ORDO_RATE_LIMIT", "on"); v {
	case "on":
	case "off":
		rl.Disabled = true
	default:
		*errs = append(*errs, fmt.Errorf("ORDO_RATE_LIMIT %q: want on or off", v))
	}
	for _, p := range splitList(getenv("ORDO_TRUSTED_PROXIES", "")) {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				*errs = append(*errs, fmt.Errorf("ORDO_TRUSTED_PROXIES %q: want IP addresses or CIDR ranges", p))
				continue
			}
			prefix = netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen())
		}
		e.HTTP.TrustedProxies = append(e.HTTP.TrustedProxies, prefix.Masked())
	}
	e.HTTP.IdempotencyTTL = getDuration(errs, "ORDO_IDEMPOTENCY_TTL", e.HTTP.IdempotencyTTL)
}

// getDuration reads a Go duration setting ("15m", "24h").
func getDuration(errs *[]error, key string, def time.Duration) time.Duration {
	v, ok := os.LookupEnv(key)
	if !ok || v == "" {
		return def
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s %q: want a duration such as 15m or 24h", key, v))
		return def
	}
	return d
}

// getIntIn reads an integer setting that must lie in [lo, hi].
func getIntIn(errs *[]error, key string, def, lo, hi int64) int64 {
	n := getInt(errs, key, def)
	if n < lo || n > hi {
		*errs = append(*errs, fmt.Errorf("%s %d: want between %d and %d", key, n, lo, hi))
		return def
	}
	return n
}
