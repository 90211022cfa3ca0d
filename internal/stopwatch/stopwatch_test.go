package stopwatch

import (
	"context"
	"crypto/sha256"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/internal/testenv"
)

func TestParseStat(t *testing.T) {
	t.Parallel()
	// The command may hold spaces and parentheses; the fields count from the last ')'.
	line := "4242 (postgres: ordo (x) idle) S 1 4242 4242 0 -1 4194560 500 0 0 0 1234 56 7 3 20 0 1 0 987654 0 0\n"
	comm, ppid, cpu, start, ok := parseStat([]byte(line))
	require.True(t, ok)
	require.Equal(t, "postgres: ordo (x) idle", comm)
	require.Equal(t, 1, ppid)
	require.Equal(t, 1300*tick, cpu) // utime, stime and the ended children's
	require.Equal(t, uint64(987654), start)

	for _, bad := range []string{"", "4242 no parens S 1", "4242 (java) S 1 2 3", "4242 (java) S 1 4242 4242 0 -1 0 0 0 0 0 x 56 0 0 20 0 1 0 9 0"} {
		_, _, _, _, ok := parseStat([]byte(bad))
		require.False(t, ok, "%q", bad)
	}
}

func TestMachineBusy(t *testing.T) {
	t.Parallel()
	// user nice system idle iowait irq softirq steal: idle and iowait are not busy.
	stat := "cpu  100 5 50 9000 300 7 8 2 0 0\ncpu0 50 2 25 4500 150 3 4 1 0 0\n"
	require.Equal(t, 172*tick, machineBusy([]byte(stat)))
	require.Zero(t, machineBusy([]byte("intr 1 2 3\n")))
	require.Zero(t, machineBusy([]byte("cpu 1 2 x 4 5 6 7 8\n")))
}

// burn keeps this process on the CPU until it has used d more (or 20 s have passed, on a
// machine too busy to give it that).
func burn(d time.Duration) {
	from := readUsage().self
	sum := sha256.Sum256(nil)
	for end := time.Now().Add(20 * time.Second); readUsage().self-from < d && time.Now().Before(end); {
		for range 1000 {
			sum = sha256.Sum256(sum[:])
		}
	}
	runtime.KeepAlive(sum)
}

func TestSectionsCountForTheirSide(t *testing.T) {
	t.Parallel()
	// Without a report a stopwatch is a clock.
	w := Start(context.Background())
	require.Nil(t, w.side)
	require.Positive(t, w.Stop())

	r := NewReport()
	ctx := WithReport(context.Background(), r)
	ours, ceiling := ForSide(ctx, "ours"), ForSide(ctx, "ceiling")
	require.Equal(t, ours.Value(sideKey{}), ForSide(ctx, "ours").Value(sideKey{}), "one tally per side")
	for range 2 {
		w := Start(ours)
		burn(150 * time.Millisecond)
		w.Stop()
		AddWork(ours, 1000)
	}
	w = Start(ceiling)
	burn(100 * time.Millisecond)
	w.Stop()
	AddWork(ceiling, 1000)

	r.mu.Lock()
	o, c := r.sides[0], r.sides[1]
	r.mu.Unlock()
	require.Equal(t, 2, o.sections)
	require.Equal(t, 2000, o.work)
	// Both sections' CPU counts.
	require.GreaterOrEqual(t, o.cpu.self, 300*time.Millisecond, "%+v", o.cpu)
	require.GreaterOrEqual(t, c.cpu.self, 100*time.Millisecond, "%+v", c.cpu)
	require.Positive(t, o.wall)

	var out strings.Builder
	require.NoError(t, r.Write(&out, "demo", "events/s", false))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3, out.String())
	require.True(t, strings.HasPrefix(lines[0], "cpu demo ours: 2 sections, wall "), lines[0])
	require.Contains(t, lines[0], "µs of cpu per event")
	require.True(t, strings.HasPrefix(lines[1], "cpu demo ceiling: 1 section, wall "), lines[1])
	require.True(t, strings.HasPrefix(lines[2], "cpu demo bound: ours' cpu ("), lines[2])

	// GC's share of this process: there when the section collects garbage.
	gcCtx := ForSide(ctx, "gc")
	live := make([][]byte, 0, 1000)
	for range 1000 {
		live = append(live, make([]byte, 4096))
	}
	w = Start(gcCtx)
	for range 5 {
		runtime.GC()
	}
	w.Stop()
	runtime.KeepAlive(live)
	g := r.sides[2].cpu
	require.Positive(t, g.gc, "%+v", g)
	require.Greater(t, g.gcShare(), 0.0)
	require.LessOrEqual(t, g.gcShare(), 1.0)

	// A scenario whose numbers are costs has no rate to bound.
	out.Reset()
	require.NoError(t, r.Write(&out, "demo", "s", true))
	require.Len(t, strings.Split(strings.TrimSpace(out.String()), "\n"), 3) // ours, ceiling, gc
}

// TestPostgresCPUIsCountedAsPostgres: a query that keeps a Postgres backend busy shows
// as Postgres's CPU, not this process's, in a section around it, even when the backend
// has ended before the section does (its time moves to the postmaster's).
func TestPostgresCPUIsCountedAsPostgres(t *testing.T) {
	testenv.PostgresSchema(t) // the stack is up
	r := NewReport()
	ctx := ForSide(WithReport(t.Context(), r), "ours")
	w := Start(ctx)
	conn, err := pgx.Connect(ctx, testenv.PostgresURL())
	require.NoError(t, err)
	var (
		pid int
		n   int64
	)
	require.NoError(t, conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid))
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM generate_series(1, 5000000) g WHERE g % 7 = 3").Scan(&n))
	require.Equal(t, int64(714286), n)
	require.NoError(t, conn.Close(ctx))
	for i := 0; i < 500; i++ { // until the postmaster has waited for the backend, at most 5 s
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); os.IsNotExist(err) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.Stop()
	s := r.sides[0]
	require.Greater(t, s.cpu.postgres, 100*time.Millisecond, "%+v", s.cpu)
	require.Less(t, s.cpu.self, s.cpu.postgres, "%+v", s.cpu)
}

// TestChildProcessesCount: the CPU of this process's children counts for the section,
// running or ended (the e2e scenario's stack is a child process).
func TestChildProcessesCount(t *testing.T) {
	r := NewReport()
	ctx := ForSide(WithReport(t.Context(), r), "ours")

	// Ended within the section.
	w := Start(ctx)
	require.NoError(t, exec.Command("sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done").Run())
	w.Stop()
	require.Positive(t, r.sides[0].cpu.children, "%+v", r.sides[0].cpu)

	// Still running when the section ends.
	before := r.sides[0].cpu.children
	w = Start(ctx)
	busy := exec.Command("sh", "-c", "while :; do :; done")
	require.NoError(t, busy.Start())
	t.Cleanup(func() { _ = busy.Process.Kill(); _ = busy.Wait() })
	from := readUsage().children
	for end := time.Now().Add(20 * time.Second); readUsage().children-from < 200*time.Millisecond && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	w.Stop()
	require.GreaterOrEqual(t, r.sides[0].cpu.children-before, 200*time.Millisecond, "%+v", r.sides[0].cpu)
	require.Contains(t, r.sides[0].cpu.String(), "+ its child processes ")
}
