// Package testenv gives tests the addresses of the real services of the local stack
// (`make up`), overridable with the same ORDO_* variables the binary reads.
package testenv

import (
	"os"
	"strings"
)

// PostgresURL is the Postgres the tests use.
func PostgresURL() string {
	return get("ORDO_POSTGRES_URL", "postgres://ordo:ordo@127.0.0.1:5432/ordo?sslmode=disable")
}

// KafkaBrokers are the Kafka seed brokers the tests use.
func KafkaBrokers() []string {
	return strings.Split(get("ORDO_KAFKA_BROKERS", "127.0.0.1:9092"), ",")
}

// ClickHouseAddr is the ClickHouse native address the tests use.
func ClickHouseAddr() string {
	return get("ORDO_CLICKHOUSE_ADDR", "127.0.0.1:9000")
}

func get(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
