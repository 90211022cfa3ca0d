package check

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// loadCompose loads docker-compose.yml the way `docker compose` does (schema validation,
// interpolation, merge keys, consistency), with env as the only environment.
func loadCompose(t *testing.T, env []string, profiles ...string) (*types.Project, error) {
	t.Helper()
	root := repoRoot(t)
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithEnv(env),
		cli.WithProfiles(profiles),
		cli.WithResolvedPaths(true),
	)
	require.NoError(t, err)
	return opts.LoadProject(context.Background())
}

// The stack starts without any setting: serve reads the JWT secret that the one-shot
// jwt-secret service generated into a volume, unless ORDO_JWT_SECRET is set.
func TestComposeGeneratesJWTSecret(t *testing.T) {
	t.Parallel()
	p, err := loadCompose(t, nil)
	require.NoError(t, err)
	gen := p.Services["jwt-secret"]
	serve := p.Services["serve"]
	require.Equal(t, types.ServiceConditionCompletedSuccessfully, serve.DependsOn["jwt-secret"].Condition)
	file := *serve.Environment["ORDO_JWT_SECRET_FILE"]
	require.Contains(t, strings.Join(gen.Command, " "), file, "jwt-secret writes the file serve reads")
	require.Equal(t, "", *serve.Environment["ORDO_JWT_SECRET"], "empty unless set, so the file is used")
	mounted := func(s types.ServiceConfig) string {
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeVolume && strings.HasPrefix(file, v.Target+"/") {
				return v.Source
			}
		}
		return ""
	}
	require.NotEmpty(t, mounted(serve))
	require.Equal(t, mounted(gen), mounted(serve), "the same volume")
	require.Contains(t, strings.Join(gen.Command, " "), "chown 10001:10001", "readable by the image's user")

	p, err = loadCompose(t, []string{"ORDO_JWT_SECRET=from-the-shell"})
	require.NoError(t, err)
	require.Equal(t, "from-the-shell", *p.Services["serve"].Environment["ORDO_JWT_SECRET"])
}

func TestComposeStack(t *testing.T) {
	t.Parallel()
	p, err := loadCompose(t, nil)
	require.NoError(t, err)

	for _, dep := range []string{"postgres", "kafka", "clickhouse"} {
		s, ok := p.Services[dep]
		require.True(t, ok, "service %s", dep)
		require.NotNil(t, s.HealthCheck, "%s: healthcheck, so that migrate waits for it", dep)
		require.False(t, s.HealthCheck.Disable, dep)
	}
	kafka := p.Services["kafka"].Environment
	for k, v := range map[string]string{
		"KAFKA_AUTO_CREATE_TOPICS_ENABLE":                        "false",
		"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":                 "1",
		"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR":         "1",
		"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":                    "1",
		"KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
		"KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR":            "1",
		"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS":                 "0",
	} {
		require.NotNil(t, kafka[k], "kafka: %s", k)
		require.Equal(t, v, *kafka[k], "kafka: %s", k)
	}

	migrate := p.Services["migrate"]
	require.Equal(t, types.ShellCommand{"migrate"}, migrate.Command)
	require.Equal(t, "no", migrate.Restart, "migrate runs once")
	for _, dep := range []string{"postgres", "kafka", "clickhouse"} {
		require.Equal(t, types.ServiceConditionHealthy, migrate.DependsOn[dep].Condition, "migrate waits for %s", dep)
	}

	for _, role := range roles {
		s, ok := p.Services[role]
		require.True(t, ok, "service %s", role)
		require.Equal(t, types.ShellCommand{role}, s.Command, role)
		require.Equal(t, p.Services["migrate"].Image, s.Image, "%s: one image for every role", role)
		require.Equal(t, types.ServiceConditionCompletedSuccessfully, s.DependsOn["migrate"].Condition, "%s starts after migrate", role)
		if role != "serve" {
			require.Empty(t, s.Ports, "%s: only serve publishes a port", role)
		}
		require.NotNil(t, s.HealthCheck, role)
		require.False(t, s.HealthCheck.Disable, role)
		test := strings.Join(s.HealthCheck.Test, " ")
		if role == "serve" {
			require.Contains(t, test, "127.0.0.1:8080/readyz", role)
		} else {
			require.Contains(t, test, "127.0.0.1:9464/healthz", role)
		}
		env := s.Environment
		require.Equal(t, "0.0.0.0:9464", *env["ORDO_METRICS_ADDR"], role)
		require.Equal(t, "0.0.0.0:8080", *env["ORDO_HTTP_ADDR"], role)
		require.Equal(t, "kafka:9092", *env["ORDO_KAFKA_BROKERS"], role)
		_, hasJWT := env["ORDO_JWT_SECRET_FILE"]
		require.Equal(t, role == "serve", hasJWT, "%s: only serve (the API) gets the JWT secret", role)
	}
	require.True(t, slices.ContainsFunc(p.Services["serve"].Ports, func(pc types.ServicePortConfig) bool {
		return pc.Published == "8080" && pc.Target == 8080
	}), "the API on localhost:8080")
	require.EqualValues(t, 2, *p.Services["relay"].Deploy.Replicas, "a leader and a standby")

	// Without the profile the observability services do not start.
	for _, s := range []string{"prometheus", "grafana", "otel-collector", "jaeger"} {
		_, ok := p.Services[s]
		require.False(t, ok, "%s starts only with --profile observability", s)
	}
}

func TestComposeObservability(t *testing.T) {
	t.Parallel()
	p, err := loadCompose(t, nil, "observability")
	require.NoError(t, err)
	for _, name := range []string{"prometheus", "grafana", "otel-collector", "jaeger"} {
		s, ok := p.Services[name]
		require.True(t, ok, name)
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind {
				_, err := os.Stat(v.Source)
				require.NoError(t, err, "%s mounts %s", name, v.Source)
			}
		}
	}
	// Grafana's home dashboard is a provisioned file.
	home := *p.Services["grafana"].Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
	require.True(t, strings.HasPrefix(home, "/var/lib/grafana/dashboards/ordo/"))
	_, err = os.Stat(filepath.Join(repoRoot(t), "deploy", "grafana", "dashboards", filepath.Base(home)))
	require.NoError(t, err, "home dashboard %s", home)

	// The collector forwards to a service that exists.
	var col struct {
		Exporters map[string]struct {
			Endpoint string `json:"endpoint"`
		} `json:"exporters"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(p.Configs["otel-collector"].Content), &col))
	host := strings.Split(col.Exporters["otlp/jaeger"].Endpoint, ":")[0]
	require.Contains(t, p.Services, host)

	// Prometheus scrapes every role service by its DNS name.
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "prometheus", "prometheus.yml"))
	require.NoError(t, err)
	var prom struct {
		ScrapeConfigs []struct {
			JobName      string `json:"job_name"`
			DNSSDConfigs []struct {
				Names []string `json:"names"`
				Port  int      `json:"port"`
			} `json:"dns_sd_configs"`
		} `json:"scrape_configs"`
	}
	require.NoError(t, yaml.Unmarshal(data, &prom))
	scraped := map[string]int{}
	for _, sc := range prom.ScrapeConfigs {
		for _, d := range sc.DNSSDConfigs {
			for _, n := range d.Names {
				scraped[n] = d.Port
			}
		}
	}
	for _, role := range roles {
		want := 9464
		if role == "serve" {
			want = 8080
		}
		require.Equal(t, want, scraped[role], "prometheus.yml scrapes %s on its metrics port", role)
	}
}
