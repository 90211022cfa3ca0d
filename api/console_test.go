package api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/api"
	"github.com/ordo-platform/ordo/web"
)

func TestConsoleServesEmbeddedAssets(t *testing.T) {
	t.Parallel()
	s := api.New(api.DefaultConfig(), api.Deps{})
	h := s.Handler()

	rec := newRecorder(h, http.MethodGet, "/console")
	require.Equal(t, http.StatusMovedPermanently, rec.Code)
	require.Equal(t, "/console/", rec.Header().Get("Location"))

	rec = newRecorder(h, http.MethodGet, "/console/")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
	require.Contains(t, rec.Body.String(), `<script type="module" src="app.js"></script>`)
	csp := rec.Header().Get("Content-Security-Policy")
	require.Contains(t, csp, "default-src 'self'")
	require.Contains(t, csp, "script-src 'self';", "no 'unsafe-inline'")
	require.NotContains(t, csp, "unsafe")
	require.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
	require.Equal(t, "DENY", rec.Header().Get("X-Frame-Options"))
	require.Equal(t, "no-referrer", rec.Header().Get("Referrer-Policy"))
	require.Equal(t, "no-cache", rec.Header().Get("Cache-Control"))
	etag := rec.Header().Get("ETag")
	require.Regexp(t, `^"[0-9a-f]{24}"$`, etag)

	// Revalidation: 304 without a body while the file is unchanged.
	req := httptest.NewRequest(http.MethodGet, "/console/", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusNotModified, rec.Code)
	require.Empty(t, rec.Body.Bytes())

	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".html": "text/html; charset=utf-8"}
	for _, name := range web.Names() {
		rec := newRecorder(h, http.MethodGet, "/console/"+name)
		require.Equal(t, http.StatusOK, rec.Code, name)
		ext := name[strings.LastIndex(name, "."):]
		require.Equal(t, types[ext], rec.Header().Get("Content-Type"), name)
		a, _ := web.Lookup(name)
		require.Equal(t, a.Body, rec.Body.Bytes())
		require.Equal(t, a.ETag, rec.Header().Get("ETag"))
		require.NotEmpty(t, rec.Header().Get("Content-Security-Policy"))
	}

	rec = newRecorder(h, http.MethodGet, "/console/nope.js")
	require.Equal(t, http.StatusNotFound, rec.Code)
	require.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	rec = newRecorder(h, http.MethodGet, "/console/../openapi.yaml")
	require.NotEqual(t, "text/javascript; charset=utf-8", rec.Header().Get("Content-Type"))
}
