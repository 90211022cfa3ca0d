package check

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		Expr       string `json:"expr"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
}

func readDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "deploy", "grafana", "dashboards")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out := map[string]dashboard{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var d dashboard
		require.NoError(t, json.Unmarshal(data, &d), f)
		out[filepath.Base(f)] = d
	}
	return out
}

func TestDashboardStructure(t *testing.T) {
	t.Parallel()
	for name, d := range readDashboards(t) {
		require.NotEmpty(t, d.UID, name)
		var hasDS bool
		for _, v := range d.Templating.List {
			if v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus" {
				hasDS = true
			}
		}
		require.True(t, hasDS, "%s: the data source is a variable, so the dashboard works with any Prometheus", name)
		ids := map[int]bool{}
		type cell struct{ x, y int }
		taken := map[cell]string{}
		for _, p := range d.Panels {
			require.False(t, ids[p.ID], "%s: duplicate panel id %d", name, p.ID)
			ids[p.ID] = true
			for x := p.GridPos.X; x < p.GridPos.X+p.GridPos.W; x++ {
				for y := p.GridPos.Y; y < p.GridPos.Y+p.GridPos.H; y++ {
					other, ok := taken[cell{x, y}]
					require.False(t, ok, "%s: panels %q and %q overlap", name, p.Title, other)
					taken[cell{x, y}] = p.Title
				}
			}
			require.LessOrEqual(t, p.GridPos.X+p.GridPos.W, 24, "%s: %q is wider than the grid", name, p.Title)
			if p.Type == "row" {
				continue
			}
			require.NotNil(t, p.Datasource, "%s: %q has no data source", name, p.Title)
			require.Equal(t, "${datasource}", p.Datasource.UID, "%s: %q", name, p.Title)
			require.NotEmpty(t, p.Targets, "%s: %q has no query", name, p.Title)
			for _, tg := range p.Targets {
				require.NotEmpty(t, tg.Expr, "%s: %q", name, p.Title)
			}
		}
	}
}

// dashboardExprs returns every query with Grafana's variables replaced by values
// Prometheus accepts.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	repl := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$role", ".*", "$group", ".*")
	out := map[string]string{}
	for name, d := range readDashboards(t) {
		for _, p := range d.Panels {
			for i, tg := range p.Targets {
				out[fmt.Sprintf("%s: %s [%d]", name, p.Title, i)] = repl.Replace(tg.Expr)
			}
		}
	}
	return out
}

// Every dashboard query parses: promtool checks them as recording rules.
func TestDashboardQueriesParse(t *testing.T) {
	t.Parallel()
	tool := promtool(t)
	exprs := dashboardExprs(t)
	var rf ruleFile
	g := ruleGroup{Name: "dashboard"}
	for where, e := range exprs {
		require.NotContains(t, e, "$", "%s: a Grafana variable this check does not know", where)
		g.Rules = append(g.Rules, rule{Record: "dashboard:query", Expr: e})
	}
	rf.Groups = append(rf.Groups, g)
	data, err := yaml.Marshal(rf)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	require.NoError(t, os.WriteFile(path, data, 0o644))
	out, err := exec.Command(tool, "check", "rules", path).CombinedOutput()
	require.NoError(t, err, "promtool check rules on the dashboard's queries:\n%s", out)
}

func TestDashboardMetricNames(t *testing.T) {
	t.Parallel()
	var exprs []string
	for _, e := range dashboardExprs(t) {
		exprs = append(exprs, e)
	}
	checkMetricNames(t, "the Grafana dashboard", exprs)
}
