package check

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"github.com/stretchr/testify/require"
)

// The Docker build context, filtered by .dockerignore as Docker filters it, holds
// everything `go build ./cmd/ordo` needs: copy it and build there, as the Dockerfile does.
func TestDockerBuildContext(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	t.Parallel()
	root := repoRoot(t)
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	require.NoError(t, err)
	patterns, err := ignorefile.ReadAll(f)
	require.NoError(t, f.Close())
	require.NoError(t, err)
	pm, err := patternmatcher.New(patterns)
	require.NoError(t, err)

	ctx := t.TempDir()
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." {
			return err
		}
		skip, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		if skip {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		return copyFile(path, filepath.Join(ctx, rel))
	})
	require.NoError(t, err)
	for _, p := range []string{".git", ".local", "deploy/k8s", "docs"} {
		_, err := os.Stat(filepath.Join(ctx, p))
		require.True(t, os.IsNotExist(err), "%s is in the build context", p)
	}

	// No -trimpath (the Dockerfile's): it changes every package's cache key, and this check
	// is about what the context holds, not about reproducible paths.
	ctxTimeout, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctxTimeout, "go", "build", "-o", filepath.Join(t.TempDir(), "ordo"), "./cmd/ordo")
	cmd.Dir = ctx
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=readonly", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build in the filtered context (CGO off, as in the image):\n%s", out)
}

func copyFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// The Dockerfile builds with the Go version go.mod asks for and runs the binary as a
// non-root user.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	df, err := os.ReadFile(filepath.Join(root, "deploy", "Dockerfile"))
	require.NoError(t, err)
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	require.NotNil(t, goLine)
	require.Regexp(t, `(?m)^ARG GO_VERSION=`+regexp.QuoteMeta(string(goLine[1]))+`$`, string(df), "the builder's Go matches go.mod")

	var user, entrypoint string
	sc := bufio.NewScanner(strings.NewReader(string(df)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "USER "):
			user = strings.TrimPrefix(line, "USER ")
		case strings.HasPrefix(line, "ENTRYPOINT "):
			entrypoint = strings.TrimPrefix(line, "ENTRYPOINT ")
		}
	}
	require.Equal(t, `["ordo"]`, entrypoint)
	require.Regexp(t, `^[1-9][0-9]*:[1-9][0-9]*$`, user, "a numeric non-root user, so Kubernetes can verify runAsNonRoot")
	require.Contains(t, string(df), "ORDO_HTTP_ADDR=0.0.0.0:8080")
	require.Contains(t, string(df), "ORDO_METRICS_ADDR=0.0.0.0:9464")
}
