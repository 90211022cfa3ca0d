package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Settings are read from the process environment, so these tests cannot run in parallel.

func TestEmptySettingIsRefusedByName(t *testing.T) {
	t.Setenv("ORDO_KAFKA_BROKERS", "")
	_, err := loadEnv()
	require.ErrorContains(t, err, "ORDO_KAFKA_BROKERS is set but empty")
}

func TestEveryBadSettingIsReportedAtOnce(t *testing.T) {
	t.Setenv("ORDO_KAFKA_PARTITIONS", "many")
	t.Setenv("ORDO_LOG_LEVEL", "loud")
	t.Setenv("ORDO_HTTP_ADDR", "nowhere")
	_, err := loadEnv()
	require.ErrorContains(t, err, "ORDO_KAFKA_PARTITIONS")
	require.ErrorContains(t, err, "ORDO_LOG_LEVEL")
	require.ErrorContains(t, err, "ORDO_HTTP_ADDR")
}

func TestDefaultsAreValid(t *testing.T) {
	e, err := loadEnv()
	require.NoError(t, err)
	require.Equal(t, []string{"127.0.0.1:9092"}, e.KafkaBrokers)
	require.Equal(t, "127.0.0.1:8080", e.HTTP.Addr)
}
