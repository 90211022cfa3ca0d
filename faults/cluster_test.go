//go:build faults

package faults

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	chdriver "github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/internal/testenv"
	"github.com/ordo-platform/ordo/internal/topic"
)

// roles are the processes of the cluster, one `ordo <role>` each.
var roles = []string{"serve", "relay", "project", "saga", "analytics", "notify"}

const (
	adminEmail    = "admin@faults.test"
	adminPassword = "faults admin password 2024"
)

// cluster is Ordo running as separate processes on its own schema, topics and
// ClickHouse database, with a supervisor that restarts a process that exits by itself
// (as Kubernetes would) and records it as an incident.
type cluster struct {
	t     *testing.T
	bin   string
	env   []string
	base  string // http://host:port of `ordo serve`
	stack string // faults/stack.sh STACK
	logs  string

	pool  *pgxpool.Pool // the test's own view of the schema
	ch    chdriver.Conn
	names topic.Names

	mu        sync.Mutex
	procs     map[string]*testenv.Process
	wantUp    map[string]bool
	incidents []string
	stopSup   chan struct{}
	supDone   chan struct{}
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, procs: map[string]*testenv.Process{}, wantUp: map[string]bool{},
		stack: os.Getenv("ORDO_FAULTS_STACK"), stopSup: make(chan struct{}), supDone: make(chan struct{})}
	if c.stack == "" {
		c.stack = "local"
	}
	c.logs = testenv.LogDir
	if c.logs == "" {
		d, err := os.MkdirTemp("", "ordo-faults-logs-")
		require.NoError(t, err)
		c.logs = d
		testenv.LogDir = d
	}
	t.Logf("stack %q; process and service logs in %s", c.stack, c.logs)
	c.bin = testenv.BuildOrdo(t)

	ctx := context.Background()
	c.pool = testenv.PostgresSchema(t)
	var schema string
	require.NoError(t, c.pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema))
	c.names = testenv.KafkaTopics(t)
	var chdb string
	c.ch, chdb = testenv.ClickHouseDatabase(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	c.base = "http://" + addr
	level := os.Getenv("ORDO_TEST_CHILD_LOG_LEVEL")
	if level == "" {
		level = "warn"
	}
	c.env = testenv.Env(
		"ORDO_POSTGRES_URL="+testenv.SchemaURL(t, schema),
		"ORDO_KAFKA_BROKERS="+strings.Join(testenv.KafkaBrokers(), ","),
		"ORDO_KAFKA_TOPIC_PREFIX="+c.names.Prefix,
		"ORDO_KAFKA_PARTITIONS=3",
		"ORDO_CLICKHOUSE_ADDR="+testenv.ClickHouseAddr(),
		"ORDO_CLICKHOUSE_DATABASE="+chdb,
		"ORDO_HTTP_ADDR="+addr,
		"ORDO_METRICS_ADDR=127.0.0.1:0",
		"ORDO_JWT_SECRET="+strings.Repeat("f", 48),
		"ORDO_RATE_LIMIT=off",
		"ORDO_ARGON2_MEMORY_KIB=1024",
		"ORDO_ARGON2_TIME=1",
		"ORDO_LOG_LEVEL="+level,
		// Short enough that tok_timeout orders end well within the two minutes.
		"ORDO_SAGA_PAYMENT_TIMEOUT=5s",
		// The driver's few customers order far more often than a person would.
		"ORDO_FRAUD_VELOCITY_MAX_ORDERS=0",
		"ORDO_ANALYTICS_FLUSH_INTERVAL=250ms",
	)
	out := testenv.RunOrdo(t, c.bin, c.env, "", "migrate")
	t.Logf("ordo migrate:\n%s", strings.TrimSpace(out))
	testenv.RunOrdo(t, c.bin, c.env, adminPassword+"\n", "users", "add", "--email", adminEmail, "--role", "admin", "--password-stdin")

	for _, r := range roles {
		c.start(r)
	}
	go c.supervise()
	t.Cleanup(c.shutdown)
	c.waitReady(60 * time.Second)
	return c
}

func (c *cluster) roleEnv(role string) []string {
	id := role + "-" + c.names.Prefix
	return append(append([]string(nil), c.env...), "ORDO_KAFKA_INSTANCE_ID="+id, "ORDO_ANALYTICS_INSTANCE_ID="+id)
}

// start starts a role and marks it as wanted up.
func (c *cluster) start(role string) {
	p := testenv.StartOrdo(c.t, c.bin, role, c.roleEnv(role), role)
	c.mu.Lock()
	c.procs[role], c.wantUp[role] = p, true
	c.mu.Unlock()
}

// kill sends SIGKILL to a role and keeps it down until start.
func (c *cluster) kill(role string) {
	c.mu.Lock()
	p := c.procs[role]
	c.wantUp[role] = false
	c.mu.Unlock()
	if p.Running() {
		p.Kill(c.t)
	}
}

// supervise restarts, after a second, any role that exited while wanted up.
func (c *cluster) supervise() {
	defer close(c.supDone)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-c.stopSup:
			return
		case <-tick.C:
		}
		for _, r := range roles {
			c.mu.Lock()
			p, want := c.procs[r], c.wantUp[r]
			c.mu.Unlock()
			if done, err := p.Exited(); want && done {
				last := strings.TrimSpace(lastLine(p.Tail(3)))
				c.incident(fmt.Sprintf("ordo %s exited by itself (%v); last log line: %s", r, err, last))
				time.Sleep(time.Second)
				select {
				case <-c.stopSup:
					return
				default:
				}
				c.start(r)
			}
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if !strings.HasPrefix(lines[i], "=== ") {
			if len(lines[i]) > 300 {
				return lines[i][:300] + "..."
			}
			return lines[i]
		}
	}
	return ""
}

func (c *cluster) incident(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.incidents = append(c.incidents, time.Now().Format("15:04:05")+" "+s)
}

// takeIncidents returns the incidents since the last call.
func (c *cluster) takeIncidents() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.incidents
	c.incidents = nil
	return out
}

func (c *cluster) shutdown() {
	close(c.stopSup)
	<-c.supDone
	for _, r := range roles {
		c.mu.Lock()
		p := c.procs[r]
		c.mu.Unlock()
		if p != nil && p.Running() {
			p.Stop(c.t, 30*time.Second)
		}
	}
}

// waitReady waits until the API answers /healthz.
func (c *cluster) waitReady(limit time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		resp, err := http.Get(c.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the API did not answer /healthz within %s: %v", limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// service runs faults/stack.sh STACK op (postgres-crash, kafka-start, ...), its output
// appended to services.log.
func (c *cluster) service(op string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	f, err := os.OpenFile(filepath.Join(c.logs, "services.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(f, "=== %s stack.sh %s %s\n", time.Now().Format(time.RFC3339Nano), c.stack, op)
	cmd := exec.CommandContext(ctx, "./stack.sh", c.stack, op)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("stack.sh %s %s: %w (see %s)", c.stack, op, err, f.Name())
	}
	return nil
}
