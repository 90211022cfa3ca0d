package analytics_test

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/ordo-platform/ordo/analytics"
	"github.com/ordo-platform/ordo/internal/testenv"
)

func TestZZBench(t *testing.T) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ours, ceil, n, err := analytics.Bench(context.Background(), analytics.BenchEnv{ClickHouseAddr: testenv.ClickHouseAddr(), KafkaBrokers: testenv.KafkaBrokers(), Events: 200000, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(ours, ceil, ours/ceil, n)
}
