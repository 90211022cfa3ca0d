package api_test

import (
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/ordo-platform/ordo/api"
)

type netipPrefix = netip.Prefix

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// TestOpenAPICoversEveryRoute walks the router and the spec: every route must be
// described, and every described operation routed.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	t.Parallel()
	s := api.New(api.DefaultConfig(), api.Deps{Metrics: http.NotFoundHandler()})

	var doc struct {
		OpenAPI string                               `yaml:"openapi"`
		Paths   map[string]map[string]map[string]any `yaml:"paths"`
	}
	require.NoError(t, yaml.Unmarshal(api.OpenAPI, &doc))
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3.1"), "OpenAPI 3.1")

	methods := []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}
	var spec []string
	for path, item := range doc.Paths {
		for m, op := range item {
			if !slices.Contains(methods, m) {
				continue
			}
			spec = append(spec, strings.ToUpper(m)+" "+path)
			require.Contains(t, op, "responses", "%s %s has responses", m, path)
		}
	}
	param := regexp.MustCompile(`:([A-Za-z_]+)`)
	var routed []string
	for _, r := range s.Routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		routed = append(routed, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
	}
	slices.Sort(spec)
	slices.Sort(routed)
	for _, r := range routed {
		require.Contains(t, spec, r, "route %s is missing from api/openapi.yaml", r)
	}
	for _, op := range spec {
		require.Contains(t, routed, op, "api/openapi.yaml describes %s, which is not routed", op)
	}
}

func TestOpenAPIIsServed(t *testing.T) {
	t.Parallel()
	s := api.New(api.DefaultConfig(), api.Deps{})
	rec := newRecorder(s.Handler(), http.MethodGet, "/openapi.yaml")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "application/yaml", rec.Header().Get("Content-Type"))
	require.Equal(t, string(api.OpenAPI), rec.Body.String())
}
