package health_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/internal/health"
	"github.com/ordo-platform/ordo/internal/testenv"
)

func TestRealServicesAreReady(t *testing.T) {
	t.Parallel()
	results := health.CheckAll(context.Background(), 10*time.Second,
		health.Postgres(testenv.PostgresURL()),
		health.Kafka(testenv.KafkaBrokers()),
		health.ClickHouse(testenv.ClickHouseAddr()),
	)
	for _, r := range results {
		require.True(t, r.OK, "%s: %s", r.Name, r.Error)
	}
}

func TestDownServicesAreNamed(t *testing.T) {
	t.Parallel()
	// Port 1 on loopback refuses connections: every check must fail, not hang or panic.
	results := health.CheckAll(context.Background(), 3*time.Second,
		health.Postgres("postgres://ordo:ordo@127.0.0.1:1/ordo?sslmode=disable&connect_timeout=2"),
		health.Kafka([]string{"127.0.0.1:1"}),
		health.ClickHouse("127.0.0.1:1"),
	)
	require.Len(t, results, 3)
	for i, name := range []string{"postgres", "kafka", "clickhouse"} {
		require.Equal(t, name, results[i].Name)
		require.False(t, results[i].OK, name)
		require.NotEmpty(t, results[i].Error, name)
	}
}

func TestWaitGivesUpWithTheLastError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	calls := 0
	c := health.CheckFunc{N: "x", F: func(context.Context) error { calls++; return boom }}
	err := health.Wait(context.Background(), c, 600*time.Millisecond, 100*time.Millisecond)
	require.ErrorIs(t, err, boom)
	require.GreaterOrEqual(t, calls, 2)
}
