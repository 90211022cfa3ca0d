package stopwatch

import (
	"bytes"
	"fmt"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// usage is CPU time used so far (or in a section), by whom.
type usage struct {
	self, postgres, kafka, clickhouse time.Duration
	// children is this process's child processes' (the stack `ordo bench e2e` starts),
	// running or ended.
	children time.Duration
	// machine is the busy time of every core (/proc/stat), everyone included.
	machine time.Duration
	// gc and goBusy are the Go runtime's estimates of this process's CPU time in garbage
	// collection and in everything it did (user code, GC, scavenging): comparable with
	// each other only (runtime/metrics), so they give GC's share of this process.
	gc, goBusy float64
}

// own is what the measured work itself used: this process, its children and the
// services.
func (u usage) own() time.Duration { return u.self + u.children + u.postgres + u.kafka + u.clickhouse }

// other is everything else the machine did meanwhile (other users' work, the kernel's).
func (u usage) other() time.Duration { return max(0, u.machine-u.own()) }

func (u usage) minus(v usage) usage { return u.add(v, -1) }
func (u usage) plus(v usage) usage  { return u.add(v, 1) }

// add returns u + k·v, field by field.
func (u usage) add(v usage, k int) usage {
	d := func(a, b time.Duration) time.Duration { return a + time.Duration(k)*b }
	f := func(a, b float64) float64 { return a + float64(k)*b }
	return usage{self: d(u.self, v.self), postgres: d(u.postgres, v.postgres), kafka: d(u.kafka, v.kafka),
		clickhouse: d(u.clickhouse, v.clickhouse), children: d(u.children, v.children), machine: d(u.machine, v.machine),
		gc: f(u.gc, v.gc), goBusy: f(u.goBusy, v.goBusy)}
}

// gcShare is the part of this process's CPU that went to garbage collection.
func (u usage) gcShare() float64 {
	if u.goBusy <= 0 {
		return 0
	}
	return u.gc / u.goBusy
}

func (u usage) String() string {
	children := ""
	if u.children > 0 {
		children = fmt.Sprintf(" + its child processes %.2f", u.children.Seconds())
	}
	return fmt.Sprintf("this process %.2f (%.0f%% of it GC)%s + postgres %.2f + kafka %.2f + clickhouse %.2f (other work on the machine %.2f)",
		u.self.Seconds(), 100*u.gcShare(), children, u.postgres.Seconds(), u.kafka.Seconds(), u.clickhouse.Seconds(),
		u.other().Seconds())
}

// goCPU reads the runtime's estimates of its CPU time in GC and in all (user code, GC,
// scavenging).
func goCPU() (gc, busy float64) {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/cpu/classes/user:cpu-seconds"},
		{Name: "/cpu/classes/scavenge/total:cpu-seconds"}}
	metrics.Read(s)
	for i := range s {
		if s[i].Value.Kind() != metrics.KindFloat64 {
			return 0, 0
		}
		busy += s[i].Value.Float64()
	}
	return s[0].Value.Float64(), busy
}

// tick is the unit of /proc's CPU times (USER_HZ, 100 on every Linux architecture Go
// supports).
const tick = 10 * time.Millisecond

// readUsage reads this process's CPU time (and its ended children's) from getrusage and
// the others' from /proc: its running children by their parent, the services by their
// command: postgres (every backend), clickhouse-server, and a java process whose command
// line names Kafka. Where /proc is missing (not Linux) only this process and its ended
// children are counted.
func readUsage() usage {
	var u usage
	u.gc, u.goBusy = goCPU()
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		u.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru) == nil { // the ended ones
		u.children = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		u.machine = machineBusy(b)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return u
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		comm, ppid, cpu, start, ok := parseStat(b)
		if !ok {
			continue
		}
		switch {
		case ppid == self:
			u.children += cpu
		case strings.HasPrefix(comm, "postgres"):
			u.postgres += cpu
		case strings.HasPrefix(comm, "clickhouse"):
			u.clickhouse += cpu
		case comm == "java" && isKafka(pid, start):
			u.kafka += cpu
		}
	}
	return u
}

// parseStat returns the command, the parent's pid, the CPU time and the start time (in
// ticks since boot) of a /proc/<pid>/stat line. The CPU time is the process's own (user
// + system) and that of its children that have ended and been waited for: Postgres's
// backends and parallel workers end while a section runs (a pool closing connections),
// and their time then moves to the postmaster's, so the sum over the services does not
// go back when one ends. The command is in parentheses and may hold spaces and
// parentheses itself, so the fields are counted from its last ')'.
func parseStat(b []byte) (comm string, ppid int, cpu time.Duration, start uint64, ok bool) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return "", 0, 0, 0, false
	}
	f := strings.Fields(string(b[end+1:]))
	// After the command: state(0) ppid pgrp session tty tpgid flags minflt cminflt majflt
	// cmajflt utime(11) stime(12) cutime cstime priority nice threads itrealvalue
	// starttime(19).
	if len(f) < 20 {
		return "", 0, 0, 0, false
	}
	ticks, ok := sumFields(f, 11, 12, 13, 14) // utime stime cutime cstime
	ppid, err1 := strconv.Atoi(f[1])
	start, err2 := strconv.ParseUint(f[19], 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return "", 0, 0, 0, false
	}
	return string(b[open+1 : end]), ppid, time.Duration(ticks) * tick, start, true
}

// machineBusy sums the busy fields of /proc/stat's first line (every core): user, nice,
// system, irq, softirq, steal; not idle and iowait.
func machineBusy(b []byte) time.Duration {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	busy, ok := sumFields(f, 1, 2, 3, 6, 7, 8)
	if !ok {
		return 0
	}
	return time.Duration(busy) * tick
}

// sumFields adds up the fields at the given indexes, all unsigned decimals.
func sumFields(f []string, indexes ...int) (uint64, bool) {
	var sum uint64
	for _, i := range indexes {
		n, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return 0, false
		}
		sum += n
	}
	return sum, true
}

// javaKinds remembers which java processes are Kafka, by pid and start time (a pid
// reused by a new process has another start time).
var javaKinds sync.Map // javaProcess → bool

type javaProcess struct {
	pid   int
	start uint64
}

func isKafka(pid int, start uint64) bool {
	key := javaProcess{pid, start}
	if v, ok := javaKinds.Load(key); ok {
		return v.(bool)
	}
	cmd, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	kafka := bytes.Contains(bytes.ToLower(cmd), []byte("kafka"))
	javaKinds.Store(key, kafka)
	return kafka
}
