package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ordo-platform/ordo/internal/testenv"
)

// TestOneOrderOneTrace runs the real binary's wiring (`ordo migrate`, then `ordo all`)
// against test schemas, topics and a ClickHouse database, places one order through the
// HTTP API with a known trace id, and checks that every role handled it in that one
// trace: the request, the command and append, the relay's publish, and the projector,
// saga, notification and analytics consumers.
func TestOneOrderOneTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	extraSpanProcessors = []sdktrace.SpanProcessor{rec}
	defer func() { extraSpanProcessors = nil }()

	pool := testenv.PostgresSchema(t)
	var schema string
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT current_schema()").Scan(&schema))
	names := testenv.KafkaTopics(t)
	_, chdb := testenv.ClickHouseDatabase(t)
	addr := freeAddr(t)
	t.Setenv("ORDO_POSTGRES_URL", testenv.SchemaURL(t, schema))
	t.Setenv("ORDO_KAFKA_TOPIC_PREFIX", names.Prefix)
	t.Setenv("ORDO_KAFKA_PARTITIONS", "3")
	t.Setenv("ORDO_CLICKHOUSE_DATABASE", chdb)
	t.Setenv("ORDO_HTTP_ADDR", addr)
	t.Setenv("ORDO_JWT_SECRET", strings.Repeat("s", 48))
	t.Setenv("ORDO_ARGON2_MEMORY_KIB", "1024")
	t.Setenv("ORDO_ARGON2_TIME", "1")
	t.Setenv("ORDO_LOG_LEVEL", "error")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	require.Zero(t, run(ctx, []string{"migrate"}, nil, &out), out.String())
	require.Zero(t, run(ctx, []string{"users", "add", "--email", "admin@trace.test", "--role", "admin", "--password-stdin"},
		strings.NewReader("admin-password-123456\n"), &out), out.String())

	allCtx, stopAll := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { run(allCtx, []string{"all"}, nil, io.Discard) })
	defer func() { stopAll(); wg.Wait() }()
	base := "http://" + addr
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 60*time.Second, 100*time.Millisecond)

	admin := login(t, base, "admin@trace.test", "admin-password-123456")
	var p struct {
		ID string `json:"id"`
	}
	call(t, "POST", base+"/v1/products", admin, "", `{"sku":"TRACE-1","name":"Traced","description":"","price_cents":700,"currency":"EUR"}`, &p)
	call(t, "POST", base+"/v1/products/"+p.ID+"/stock", admin, "", `{"delta":5,"reason":"delivery"}`, nil)
	call(t, "POST", base+"/v1/users", "", "", `{"email":"ada@trace.test","name":"Ada","password":"correct horse battery"}`, nil)
	customer := login(t, base, "ada@trace.test", "correct horse battery")

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	var o struct {
		ID string `json:"id"`
	}
	call(t, "POST", base+"/v1/orders", customer, "00-"+traceID+"-00f067aa0ba902b7-01",
		fmt.Sprintf(`{"items":[{"product_id":%q,"quantity":2}],"payment_token":"tok_visa"}`, p.ID), &o)

	// Wait until every role has handled the order's events.
	wantGroups := []string{"ordo-projector-orders", "ordo-saga-orders", "ordo-notify", "ordo-analytics"}
	missing := func() []string {
		seen := groupsInTrace(rec, traceID)
		var out []string
		for _, g := range wantGroups {
			if !seen[names.Group(g)] && !seen[names.Prefix+"-"+strings.TrimPrefix(g, "ordo-")] {
				out = append(out, g)
			}
		}
		// The capture's span ends after the confirmation's (its child, inside the same
		// transaction): wait for both.
		for _, span := range []string{"saga confirm", "saga capture"} {
			if !hasSpan(rec, traceID, span) {
				out = append(out, span)
			}
		}
		return out
	}
	deadline := time.Now().Add(90 * time.Second)
	for len(missing()) > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	require.Empty(t, missing(), "groups in the trace: %v; spans: %v", groupsInTrace(rec, traceID), spanNames(rec, traceID))
	t.Logf("groups in the trace: %v; spans: %v", groupsInTrace(rec, traceID), spanNames(rec, traceID))

	for _, want := range []string{"POST /v1/orders", "command order", "saga reserve", "saga authorize", "saga capture", "saga confirm"} {
		require.True(t, hasSpan(rec, traceID, want), "span %q in the trace; have %v", want, spanNames(rec, traceID))
	}
	require.True(t, hasSpanPrefix(rec, traceID, names.Prefix+".orders.v1 "), "the relay's publish span (kotel); have %v", spanNames(rec, traceID))
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func login(t *testing.T, base, email, password string) string {
	var out struct {
		AccessToken string `json:"access_token"`
	}
	call(t, "POST", base+"/v1/auth/login", "", "", fmt.Sprintf(`{"email":%q,"password":%q}`, email, password), &out)
	return out.AccessToken
}

func call(t *testing.T, method, url, token, traceparent, body string, out any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if traceparent != "" {
		req.Header.Set("traceparent", traceparent)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Less(t, resp.StatusCode, 300, "%s %s: %s", method, url, b)
	if out != nil {
		require.NoError(t, json.Unmarshal(b, out))
	}
}

func spansOf(rec *tracetest.SpanRecorder, traceID string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID().String() == traceID {
			out = append(out, s)
		}
	}
	return out
}

func spanNames(rec *tracetest.SpanRecorder, traceID string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range spansOf(rec, traceID) {
		if !seen[s.Name()] {
			seen[s.Name()] = true
			out = append(out, s.Name())
		}
	}
	return out
}

func hasSpan(rec *tracetest.SpanRecorder, traceID, name string) bool {
	for _, s := range spansOf(rec, traceID) {
		if s.Name() == name {
			return true
		}
	}
	return false
}

func hasSpanPrefix(rec *tracetest.SpanRecorder, traceID, prefix string) bool {
	for _, s := range spansOf(rec, traceID) {
		if strings.HasPrefix(s.Name(), prefix) {
			return true
		}
	}
	return false
}

// groupsInTrace returns the consumer groups that handled a record of the trace.
func groupsInTrace(rec *tracetest.SpanRecorder, traceID string) map[string]bool {
	out := map[string]bool{}
	for _, s := range spansOf(rec, traceID) {
		for _, a := range s.Attributes() {
			if a.Key == "messaging.consumer.group.name" {
				out[a.Value.AsString()] = true
			}
		}
	}
	return out
}
