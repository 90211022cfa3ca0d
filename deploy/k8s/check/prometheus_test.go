package check

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite generated files (the PrometheusRule) instead of comparing")

func readRuleFile(t *testing.T) ruleFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "prometheus", "alerts.yml"))
	require.NoError(t, err)
	var rf ruleFile
	require.NoError(t, yaml.UnmarshalStrict(data, &rf), "alerts.yml")
	return rf
}

// The Prometheus Operator gets the same rules as docker-compose's Prometheus.
func TestPrometheusRuleMatchesAlerts(t *testing.T) {
	t.Parallel()
	rf := readRuleFile(t)
	path := filepath.Join(k8sDir("components", "prometheus-operator", "prometheusrule.yaml"))
	pr := prometheusRule{APIVersion: "monitoring.coreos.com/v1", Kind: "PrometheusRule", Spec: rf}
	pr.Metadata.Name = "ordo"
	pr.Metadata.Labels = map[string]string{"app.kubernetes.io/name": "ordo"}
	if *update {
		out, err := yaml.Marshal(pr)
		require.NoError(t, err)
		header := "# Generated from deploy/prometheus/alerts.yml by `make check-deploy UPDATE=1`; do not edit.\n"
		require.NoError(t, os.WriteFile(path, append([]byte(header), out...), 0o644))
	}
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var got prometheusRule
	require.NoError(t, yaml.UnmarshalStrict(data, &got))
	require.Equal(t, pr, got, "%s differs from alerts.yml: run make check-deploy UPDATE=1", path)
}

// Every alert carries what the on-call person needs, and its runbook section exists.
func TestAlertsHaveRunbooks(t *testing.T) {
	t.Parallel()
	ops, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "operations.md"))
	require.NoError(t, err)
	anchors := markdownAnchors(string(ops))
	for _, g := range readRuleFile(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			require.NotEmpty(t, r.For, "%s: no for:", r.Alert)
			require.Contains(t, []string{"critical", "warning"}, r.Labels["severity"], "%s: severity", r.Alert)
			for _, a := range []string{"summary", "description", "runbook_url"} {
				require.NotEmpty(t, r.Annotations[a], "%s: no %s", r.Alert, a)
			}
			const prefix = "https://github.com/ordo-platform/ordo/blob/main/docs/operations.md#"
			require.True(t, strings.HasPrefix(r.Annotations["runbook_url"], prefix), "%s: runbook_url", r.Alert)
			anchor := strings.TrimPrefix(r.Annotations["runbook_url"], prefix)
			require.True(t, anchors[anchor], "%s: docs/operations.md has no section #%s", r.Alert, anchor)
		}
	}
}

// markdownAnchors returns the anchors GitHub gives a document's headings.
func markdownAnchors(doc string) map[string]bool {
	out := map[string]bool{}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		a := strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")
		out[a] = true
	}
	return out
}

// Metrics that alerts and dashboards use but the code does not export yet: the names
// agreed for work in progress. A name used anywhere must be exported by the code or be
// listed here, so a typo fails; names that the code now exports are reported.
var assumedMetrics = []string{
	// A gauge of the age of the oldest pending saga, counted in Postgres like
	// ordo_saga_compensation_failed (OrdoSagaStuck).
	"ordo_saga_oldest_pending_seconds",
	// 1 or 0 per dependency (postgres, kafka, clickhouse), set by the /readyz checks
	// run periodically in every role (OrdoDependencyDown).
	"ordo_dependency_up",
}

// exportedMetrics scans the product's Go code for the metrics it defines.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	triple := regexp.MustCompile(`Namespace:\s*"ordo",\s*Subsystem:\s*"(\w+)",\s*Name:\s*"(\w+)"`)
	full := regexp.MustCompile(`Name:\s*"(ordo_\w+)"`)
	out := map[string]bool{}
	root := repoRoot(t)
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || path == filepath.Join(root, "deploy")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range triple.FindAllStringSubmatch(string(src), -1) {
			out["ordo_"+m[1]+"_"+m[2]] = true
		}
		for _, m := range full.FindAllStringSubmatch(string(src), -1) {
			out[m[1]] = true
		}
		if strings.Contains(string(src), `kprom.NewMetrics("ordo", kprom.Subsystem("kafka")`) {
			for _, m := range kpromMetrics {
				out["ordo_kafka_"+m] = true
			}
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

// kpromMetrics are the names franz-go's kprom plugin registers (plugin/kprom v1.5).
var kpromMetrics = []string{
	"connects_total", "connect_errors_total", "disconnects_total", "write_bytes_total",
	"write_errors_total", "read_bytes_total", "read_errors_total", "produce_bytes_total",
	"produce_batches_total", "produce_records_total", "fetch_bytes_total",
	"fetch_batches_total", "fetch_records_total", "buffered_produce_records_total",
	"buffered_fetch_records_total",
}

var metricName = regexp.MustCompile(`\bordo_[a-z0-9_]+`)

// baseMetric strips the series suffixes of histograms and summaries.
func baseMetric(s string) string {
	for _, suf := range []string{"_bucket", "_count", "_sum"} {
		s = strings.TrimSuffix(s, suf)
	}
	return s
}

func checkMetricNames(t *testing.T, where string, exprs []string) {
	t.Helper()
	exported := exportedMetrics(t)
	seen := map[string]bool{}
	for _, e := range exprs {
		for _, m := range metricName.FindAllString(e, -1) {
			seen[baseMetric(m)] = true
		}
	}
	var pending []string
	for m := range seen {
		switch {
		case exported[m]:
			if slices.Contains(assumedMetrics, m) {
				t.Logf("%s: %s is exported now; drop it from assumedMetrics", where, m)
			}
		case slices.Contains(assumedMetrics, m):
			pending = append(pending, m)
		default:
			t.Errorf("%s uses %s, which the code does not export and assumedMetrics does not list", where, m)
		}
	}
	sort.Strings(pending)
	if len(pending) > 0 {
		t.Logf("%s uses metrics not exported yet: %s", where, strings.Join(pending, ", "))
	}
}

func TestAlertMetricNames(t *testing.T) {
	t.Parallel()
	var exprs []string
	for _, g := range readRuleFile(t).Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	checkMetricNames(t, "alerts.yml", exprs)
}

// promtool returns the path of promtool, which deploy/local/tools.sh installs.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	require.NoError(t, err, "promtool is missing: run deploy/local/tools.sh (make check-deploy does)")
	return p
}
