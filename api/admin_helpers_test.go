package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/api"
	"github.com/ordo-platform/ordo/app"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/internal/auth"
	"github.com/ordo-platform/ordo/internal/testenv"
	"github.com/ordo-platform/ordo/internal/topic"
	"github.com/ordo-platform/ordo/projections"
)

// adminServer is a test server with the operator console's dependencies on real
// services: a Postgres schema with the store, the edge's tables and the read models,
// topics of its own on the real Kafka, a rebuild runner and a consumer-lag sampler.
type adminServer struct {
	*testServer
	pool   *pgxpool.Pool
	names  topic.Names
	kafka  *kgo.Client
	deps   api.AdminDeps
	lagCfg api.ConsumerLagConfig
}

type adminOpts struct {
	// kafka creates topics under a random prefix (skipped by tests that need none).
	kafka bool
	// lagGroups are the groups the sampler watches.
	lagGroups []string
	// configure changes the deps before the server is built.
	configure func(*api.Deps)
}

func newAdminServer(t testing.TB, o adminOpts) *adminServer {
	t.Helper()
	pool := testenv.PostgresSchema(t, postgres.Migrations(), api.Migrations(), projections.Migrations())
	require.NoError(t, projections.Setup(context.Background(), pool))
	store, err := postgres.New(context.Background(), pool)
	require.NoError(t, err)
	t.Cleanup(store.Close)
	env := app.NewEnv(store)
	tokens, pw := testCredentials(t)
	cfg := api.DefaultConfig()
	cfg.RateLimit.Disabled = true
	logs := &testenv.LogBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	s := &adminServer{pool: pool}
	s.deps.Rebuilds = api.NewRebuilds(pool, store, log)
	t.Cleanup(s.deps.Rebuilds.Stop)
	if o.kafka {
		s.names = testenv.KafkaTopics(t)
		s.kafka = testenv.KafkaClient(t)
		s.deps.Kafka = s.kafka
		s.deps.Topics = s.names
		s.deps.NewKafkaClient = func(opts ...kgo.Opt) (*kgo.Client, error) {
			return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(testenv.KafkaBrokers()...)}, opts...)...)
		}
		groups := o.lagGroups
		if len(groups) == 0 {
			groups = []string{s.names.Group(projections.GroupOrders)}
		}
		s.lagCfg = api.DefaultConsumerLagConfig()
		s.lagCfg.Groups = groups
		s.lagCfg.Interval = 100 * time.Millisecond
		s.lagCfg.Window = time.Minute
		require.NoError(t, s.lagCfg.Validate())
		s.deps.ConsumerLag = api.NewConsumerLag(s.lagCfg, s.kafka, log)
		t.Cleanup(s.deps.ConsumerLag.Stop)
	}
	deps := api.Deps{
		Log: log, App: env, Sessions: auth.NewSessions(tokens, pool), Passwords: pw,
		ReadModels: projections.NewQueries(pool), Admin: s.deps,
	}
	if o.configure != nil {
		o.configure(&deps)
	}
	srv := api.New(cfg, deps)
	s.testServer = &testServer{Server: srv, env: env, passwords: pw, logs: logs}
	return s
}

// getJSON GETs path as token and decodes a 200 answer into v.
func (s *adminServer) getJSON(t testing.TB, path, token string, v any) {
	t.Helper()
	r := s.do(t, http.MethodGet, path, nil, bearer(token))
	require.Equal(t, http.StatusOK, r.Code, "GET %s: %s", path, r.Body)
	r.decode(t, v)
}

// eventually polls cond every 50 ms for up to d.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
