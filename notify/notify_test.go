package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/emersion/go-smtp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/domain/user"
	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/eventstore/relay"
	"github.com/ordo-platform/ordo/internal/consumer"
	"github.com/ordo-platform/ordo/internal/testenv"
	"github.com/ordo-platform/ordo/internal/topic"
	"github.com/ordo-platform/ordo/notify"
	"github.com/ordo-platform/ordo/schemas"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// stack is a store whose events flow through the real relay and Kafka into the
// notification history.
type stack struct {
	store *postgres.Store
	pool  *pgxpool.Pool
	names topic.Names
}

func newStack(t *testing.T, email bool) stack {
	t.Helper()
	pool := testenv.PostgresSchema(t, postgres.Migrations(), notify.Migrations())
	s, err := postgres.New(context.Background(), pool)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	names := testenv.KafkaTopics(t)
	cfg := relay.DefaultConfig()
	cfg.Topics, cfg.PollInterval = names, 20*time.Millisecond
	run(t, relay.New(cfg, s, pool, testenv.KafkaClient(t), quiet))
	users, _ := names.ForStreamType("user")
	orders, _ := names.ForStreamType("order")
	c := consumer.New(consumer.Config{Group: "notify-test", Topics: []string{users, orders}, DeadLetterTopic: names.DeadLetter()},
		notify.NewHistory(pool, email, quiet), func(opts ...kgo.Opt) (*kgo.Client, error) { //nolint:gocritic // the seed brokers go last
			return kgo.NewClient(append(opts, kgo.SeedBrokers(testenv.KafkaBrokers()...))...)
		}, quiet)
	run(t, c)
	return stack{store: s, pool: pool, names: names}
}

type role interface {
	Start(context.Context) error
	Stop()
}

func run(t *testing.T, r role) {
	var wg sync.WaitGroup
	wg.Go(func() { _ = r.Start(context.Background()) })
	t.Cleanup(func() { r.Stop(); wg.Wait() })
}

func (s stack) emit(t *testing.T, streamType string, id domain.ID, es ...domain.Event) {
	t.Helper()
	var batch []eventstore.NewEvent
	for _, e := range es {
		enc, err := schemas.Default().Encode(e)
		require.NoError(t, err)
		batch = append(batch, eventstore.NewEvent{ID: eventstore.NewID(), Type: enc.Type, SchemaVersion: enc.Version,
			SchemaFingerprint: enc.Fingerprint, Payload: enc.Payload, OccurredAt: time.Now()})
	}
	_, err := s.store.Append(context.Background(), eventstore.Stream{Type: streamType, ID: domain.StreamID(streamType, id)}, eventstore.Any, batch...)
	require.NoError(t, err)
}

func (s stack) register(t *testing.T, email string) domain.ID {
	id := domain.ID(uuid.New())
	s.emit(t, user.StreamType, id, user.Registered{UserID: id, Email: email, Name: "Ada", Role: user.RoleCustomer,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", RegisteredAt: time.Now().UTC()})
	return id
}

func (s stack) placeAndFinish(t *testing.T, customer domain.ID, confirm bool) domain.ID {
	id := domain.ID(uuid.New())
	placed := order.Placed{OrderID: id, CustomerID: customer, Currency: "EUR", TotalCents: 1000, PaymentToken: "tok_visa",
		PlacedAt: time.Now().UTC(), Items: []order.Item{{ProductID: domain.ID(uuid.New()), SKU: "SKU-1", Name: "Thing", UnitPriceCents: 1000, Quantity: 1, LineTotalCents: 1000}}}
	s.emit(t, order.StreamType, id, placed)
	if confirm {
		s.emit(t, order.StreamType, id, order.Confirmed{OrderID: id})
	} else {
		s.emit(t, order.StreamType, id, order.Cancelled{OrderID: id, Reason: order.ReasonPaymentDeclined})
	}
	return id
}

// hubServer serves the hub; the test authenticates callers by a header carrying their
// user id (the real edge uses the JWT access token; see the api package tests).
func hubServer(t *testing.T, pool *pgxpool.Pool, cfg notify.HubConfig) (*notify.Hub, string) {
	auth := func(r *http.Request) (uuid.UUID, error) {
		tok, err := notify.Token(r)
		if err != nil {
			return uuid.Nil, err
		}
		return uuid.Parse(tok)
	}
	hub := notify.NewHub(cfg, pool, auth, quiet)
	run(t, hub)
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	return hub, "ws" + strings.TrimPrefix(srv.URL, "http")
}

func dial(t *testing.T, url string, customer domain.ID, since string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := url + "?access_token=" + customer.String()
	if since != "" {
		u += "&since=" + since
	}
	c, _, err := websocket.Dial(ctx, u, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func read(t *testing.T, c *websocket.Conn, timeout time.Duration) (notify.Notification, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		return notify.Notification{}, err
	}
	var n notify.Notification
	require.NoError(t, json.Unmarshal(b, &n))
	return n, nil
}

func TestCustomersGetTheirOwnOrderChangesOnly(t *testing.T) {
	t.Parallel()
	s := newStack(t, false)
	hub, url := hubServer(t, s.pool, notify.DefaultHubConfig())
	ada, bob := s.register(t, "ada@example.com"), s.register(t, "bob@example.com")
	adaConn := dial(t, url, ada, "")
	bobConn := dial(t, url, bob, "")
	require.Eventually(t, func() bool { return hub.Clients() == 2 }, 10*time.Second, 10*time.Millisecond)

	orderID := s.placeAndFinish(t, ada, true)
	var got []notify.Notification
	for len(got) < 2 {
		n, err := read(t, adaConn, 30*time.Second)
		require.NoError(t, err)
		got = append(got, n)
	}
	require.Equal(t, "pending", got[0].Status)
	require.Equal(t, "confirmed", got[1].Status)
	require.Equal(t, uuid.UUID(orderID), got[1].OrderID)
	require.Less(t, got[0].Seq, got[1].Seq)

	_, err := read(t, bobConn, 500*time.Millisecond)
	require.Error(t, err, "bob must not see ada's order")
}

func TestReconnectWithSinceGetsWhatWasMissed(t *testing.T) {
	t.Parallel()
	s := newStack(t, false)
	_, url := hubServer(t, s.pool, notify.DefaultHubConfig())
	ada := s.register(t, "ada@example.com")
	c := dial(t, url, ada, "0")
	s.placeAndFinish(t, ada, true)
	first, err := read(t, c, 30*time.Second)
	require.NoError(t, err)
	c.Close(websocket.StatusNormalClosure, "bye")

	// While away: the order is confirmed (already in flight) and another is cancelled.
	s.placeAndFinish(t, ada, false)
	require.Eventually(t, func() bool {
		ns, err := notify.Since(context.Background(), s.pool, uuid.UUID(ada), 0, 100)
		return err == nil && len(ns) == 4
	}, 30*time.Second, 20*time.Millisecond)

	c2 := dial(t, url, ada, jsonNumber(first.Seq))
	var seqs []int64
	for len(seqs) < 3 {
		n, err := read(t, c2, 10*time.Second)
		require.NoError(t, err)
		seqs = append(seqs, n.Seq)
	}
	require.Equal(t, []int64{first.Seq + 1, first.Seq + 2, first.Seq + 3}, seqs, "exactly what was missed, in order")
}

func jsonNumber(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestBadRequestsAreRefused(t *testing.T) {
	t.Parallel()
	pool := testenv.PostgresSchema(t, notify.Migrations())
	_, url := hubServer(t, pool, notify.DefaultHubConfig())
	httpURL := "http" + strings.TrimPrefix(url, "ws")
	for _, tc := range []struct {
		query string
		code  int
	}{
		{"", http.StatusUnauthorized},
		{"?access_token=" + uuid.NewString() + "&since=-1", http.StatusBadRequest},
		{"?access_token=" + uuid.NewString() + "&since=abc", http.StatusBadRequest},
	} {
		resp, err := http.Get(httpURL + tc.query)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, tc.code, resp.StatusCode, tc.query)
	}
}

// smtpSink is a real SMTP server (emersion/go-smtp) that keeps what it receives.
type smtpSink struct {
	mu   sync.Mutex
	msgs []string
	rcpt []string
}

type smtpSession struct{ s *smtpSink }

func (x smtpSession) Reset()        {}
func (x smtpSession) Logout() error { return nil }
func (x smtpSession) Mail(string, *smtp.MailOptions) error {
	return nil
}
func (x smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.s.mu.Lock()
	x.s.rcpt = append(x.s.rcpt, to)
	x.s.mu.Unlock()
	return nil
}
func (x smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	x.s.mu.Lock()
	x.s.msgs = append(x.s.msgs, string(b))
	x.s.mu.Unlock()
	return err
}

func startSMTP(t *testing.T) (*smtpSink, string) {
	sink := &smtpSink{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return smtpSession{sink}, nil }))
	srv.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return sink, ln.Addr().String()
}

func TestEmailsForConfirmedAndCancelledOrders(t *testing.T) {
	t.Parallel()
	sink, addr := startSMTP(t)
	s := newStack(t, true)
	m := notify.NewMailer(notify.MailConfig{Addr: addr, From: "orders@ordo.test", Poll: 50 * time.Millisecond}, s.pool, quiet)
	run(t, m)
	ada := s.register(t, "ada@example.com")
	s.placeAndFinish(t, ada, true)
	s.placeAndFinish(t, ada, false)
	require.Eventually(t, func() bool { sink.mu.Lock(); defer sink.mu.Unlock(); return len(sink.msgs) == 2 }, 30*time.Second, 20*time.Millisecond)
	sink.mu.Lock()
	defer sink.mu.Unlock()
	require.Equal(t, []string{"ada@example.com", "ada@example.com"}, sink.rcpt)
	all := sink.msgs[0] + sink.msgs[1]
	require.Contains(t, all, "is confirmed")
	require.Contains(t, all, "is cancelled")
	require.Contains(t, all, "the payment was declined")
}

func TestMailerRetriesWhileTheServerIsDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	pool := testenv.PostgresSchema(t, notify.Migrations())
	ctx := context.Background()
	customer := uuid.New()
	_, err = pool.Exec(ctx, `INSERT INTO notify_customers (user_id, email) VALUES ($1, 'x@example.com')`, customer)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO email_outbox (event_id, customer_id, subject, body) VALUES ($1, $2, 's', 'b')`, uuid.New(), customer)
	require.NoError(t, err)
	m := notify.NewMailer(notify.MailConfig{Addr: addr, From: "orders@ordo.test", MaxAttempts: 2}, pool, quiet)
	n, err := m.SendDue(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	var attempts int
	var lastErr string
	require.NoError(t, pool.QueryRow(ctx, `SELECT attempts, last_error FROM email_outbox`).Scan(&attempts, &lastErr))
	require.Equal(t, 1, attempts)
	require.NotEmpty(t, lastErr)
	n, err = m.SendDue(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "not due again before the backoff")
	_ = errors.New
}
