package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Helpers for tests that run `ordo` roles as real child processes and kill them with
// SIGKILL (the relay, projector and fault tests): the binary is built once per test,
// each start of a role appends to one log file per role name, and a child never
// outlives the test process (it receives SIGKILL when its parent dies, so an aborted
// test leaves no relay running against the shared stack).

// BuildOrdo builds cmd/ordo into a temporary directory of t and returns its path. The
// Go build cache makes every build after the first one of a tree a link step.
func BuildOrdo(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ordo")
	start := time.Now()
	cmd := exec.CommandContext(context.Background(), "go", "build", "-o", bin, "github.com/ordo-platform/ordo/cmd/ordo")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ordo: %v\n%s", err, out)
	}
	t.Logf("built ordo in %s", time.Since(start).Round(time.Millisecond))
	return bin
}

// Env returns the environment of the test process with the given KEY=value settings
// replacing any of the same keys.
func Env(settings ...string) []string {
	keys := map[string]bool{}
	for _, s := range settings {
		k, _, _ := strings.Cut(s, "=")
		keys[k] = true
	}
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !keys[k] {
			out = append(out, kv)
		}
	}
	return append(out, settings...)
}

// Process is one run of an ordo subcommand as a child process.
type Process struct {
	Name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error // the exit status, once done is closed
}

// LogDir is where StartOrdo writes the children's logs (<name>.log): ORDO_TEST_LOG_DIR
// when set (to keep them after the run), else a temporary directory of the test.
var LogDir = os.Getenv("ORDO_TEST_LOG_DIR")

var (
	logDirsMu sync.Mutex
	logDirs   = map[testing.TB]string{}
)

func logDir(t testing.TB) string {
	if LogDir != "" {
		return LogDir
	}
	logDirsMu.Lock()
	defer logDirsMu.Unlock()
	d, ok := logDirs[t]
	if !ok {
		d = t.TempDir()
		logDirs[t] = d
		t.Cleanup(func() { logDirsMu.Lock(); delete(logDirs, t); logDirsMu.Unlock() })
	}
	return d
}

// StartOrdo starts `bin args...` with env, its output appended to <name>.log. The
// child is killed when the test ends, if it still runs.
func StartOrdo(t testing.TB, bin, name string, env []string, args ...string) *Process {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(logDir(t), name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("log of %s: %v", name, err)
	}
	fmt.Fprintf(f, "=== %s start: ordo %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd := exec.CommandContext(context.Background(), bin, args...) // stopped by the test, not by a context
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	// SIGKILL when the test process dies (a panic, a timeout, a Ctrl-C).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		t.Fatalf("start ordo %s: %v", name, err)
	}
	p := &Process{Name: name, cmd: cmd, log: f, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		fmt.Fprintf(f, "=== %s exit: %v\n", time.Now().Format(time.RFC3339Nano), p.err)
		_ = f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if p.Running() {
			_ = cmd.Process.Kill()
		}
		<-p.done
	})
	return p
}

// Pid is the child's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Running reports whether the child has not exited yet.
func (p *Process) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Exited returns the exit status once the child has exited (nil while it runs).
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Kill sends SIGKILL and waits for the child to be gone. It fails the test when the
// child had already exited by itself: a kill test whose victim died first tests nothing.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	if !p.Running() {
		t.Fatalf("ordo %s had exited before the kill (%v); its log:\n%s", p.Name, p.err, p.Tail(40))
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	var exit *exec.ExitError
	if !errors.As(p.err, &exit) {
		t.Fatalf("ordo %s after SIGKILL: %v", p.Name, p.err)
	}
}

// Stop sends SIGTERM and waits up to timeout for a clean exit (status 0).
func (p *Process) Stop(t testing.TB, timeout time.Duration) {
	t.Helper()
	if !p.Running() {
		t.Fatalf("ordo %s had exited before the stop (%v); its log:\n%s", p.Name, p.err, p.Tail(40))
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("ordo %s did not stop within %s of SIGTERM; its log:\n%s", p.Name, timeout, p.Tail(40))
	}
	if p.err != nil {
		t.Fatalf("ordo %s stopped with %v; its log:\n%s", p.Name, p.err, p.Tail(40))
	}
}

// Tail returns the last n lines of the role's log file (every run of that name).
func (p *Process) Tail(n int) string {
	b, err := os.ReadFile(p.log.Name())
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// LogPath is the role's log file.
func (p *Process) LogPath() string { return p.log.Name() }

// RunOrdo runs a one-shot ordo command (migrate, users add) with stdin, fails the test
// when it does not exit 0, and returns its output.
func RunOrdo(t testing.TB, bin string, env []string, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), bin, args...) // stopped by the test, not by a context
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ordo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
