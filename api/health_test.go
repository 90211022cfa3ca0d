package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/api"
	"github.com/ordo-platform/ordo/internal/health"
)

func TestReadyzNamesTheDependencyThatIsDown(t *testing.T) {
	t.Parallel()
	up := health.CheckFunc{N: "postgres", F: func(context.Context) error { return nil }}
	down := health.CheckFunc{N: "kafka", F: func(context.Context) error { return errors.New("dial tcp: connection refused") }}

	tests := []struct {
		name     string
		checks   []health.Checker
		wantCode int
		wantDown []string
	}{
		{"all up", []health.Checker{up}, http.StatusOK, nil},
		{"kafka down", []health.Checker{up, down}, http.StatusServiceUnavailable, []string{"kafka"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := api.New(api.DefaultConfig(), api.Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: tt.checks})
			rec := httptest.NewRecorder()
			srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			require.Equal(t, tt.wantCode, rec.Code)
			var body struct {
				Down   []string `json:"down"`
				Checks []struct {
					Name  string `json:"name"`
					OK    bool   `json:"ok"`
					Error string `json:"error"`
				} `json:"checks"`
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
			require.Equal(t, tt.wantDown, body.Down)
			require.Len(t, body.Checks, len(tt.checks))
		})
	}
}

func TestHealthzIsAlwaysOK(t *testing.T) {
	t.Parallel()
	srv := api.New(api.DefaultConfig(), api.Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	require.Equal(t, http.StatusOK, rec.Code)
}
