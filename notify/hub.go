package notify

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordo-platform/ordo/internal/lifecycle"
)

// HubConfig tunes the WebSocket side.
type HubConfig struct {
	// SendBuffer is how many notifications may wait for a slow client before it is
	// disconnected.
	SendBuffer int
	// PingInterval is how often clients are pinged.
	PingInterval time.Duration
	// WriteTimeout bounds one write (and one ping) to a client.
	WriteTimeout time.Duration
}

// DefaultHubConfig returns the defaults.
func DefaultHubConfig() HubConfig {
	return HubConfig{SendBuffer: 64, PingInterval: 20 * time.Second, WriteTimeout: 10 * time.Second}
}

// Authenticate returns the user a request is made by, or an error (→ 401).
type Authenticate func(r *http.Request) (uuid.UUID, error)

// Hub pushes notifications to the WebSocket clients of this replica.
type Hub struct {
	lifecycle.Stopper
	cfg  HubConfig
	pool *pgxpool.Pool
	auth Authenticate
	log  *slog.Logger

	mu       sync.Mutex
	clients  map[uuid.UUID]map[*client]struct{}
	done     chan struct{}
	doneOnce sync.Once
}

type client struct {
	customer uuid.UUID
	send     chan Notification
	dropped  chan struct{}
	once     sync.Once
}

func (c *client) drop() { c.once.Do(func() { close(c.dropped) }) }

// NewHub returns a hub; run it (Start) to receive notifications.
func NewHub(cfg HubConfig, pool *pgxpool.Pool, auth Authenticate, log *slog.Logger) *Hub {
	return &Hub{cfg: cfg, pool: pool, auth: auth, log: log.With("role", "notify-hub"), clients: map[uuid.UUID]map[*client]struct{}{}}
}

// Name implements lifecycle.Role.
func (h *Hub) Name() string { return "notify-hub" }

// Start listens for new notifications until stopped, reconnecting as needed.
func (h *Hub) Start(ctx context.Context) error {
	ctx, done := h.Begin(ctx)
	defer done()
	defer h.doneOnce.Do(func() { h.stopped(); close(h.done) })
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := h.listen(ctx)
		if ctx.Err() != nil {
			return nil
		}
		h.log.Warn("notification listener lost; reconnecting", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	return nil
}

func (h *Hub) listen(ctx context.Context) error {
	pc, err := h.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := pc.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{Channel}.Sanitize()); err != nil {
		return err
	}
	// Whatever was announced while we were not listening: catch every client up.
	h.catchUpAll(ctx)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var a announcement
		if err := json.Unmarshal([]byte(n.Payload), &a); err != nil {
			h.log.Error("bad notification payload", "err", err)
			continue
		}
		a.CustomerID = a.Customer
		h.dispatch(a.Notification)
	}
}

// dispatch hands n to every client of its customer without ever blocking: a client whose
// buffer is full is dropped.
func (h *Hub) dispatch(n Notification) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients[n.CustomerID] {
		select {
		case c.send <- n:
		default:
			c.drop()
		}
	}
}

func (h *Hub) catchUpAll(ctx context.Context) {
	h.mu.Lock()
	var cs []*client
	for _, set := range h.clients {
		for c := range set {
			cs = append(cs, c)
		}
	}
	h.mu.Unlock()
	for _, c := range cs {
		// The client's writer skips what it already sent; ask from 0 would be wasteful,
		// so ask for the newest few and let the writer filter.
		ns, err := latest(ctx, h.pool, c.customer, h.cfg.SendBuffer/2)
		if err != nil {
			continue
		}
		for _, n := range ns {
			select {
			case c.send <- n:
			default:
				c.drop()
			}
		}
	}
}

func latest(ctx context.Context, pool *pgxpool.Pool, customer uuid.UUID, n int) ([]Notification, error) {
	var last int64
	if err := pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM order_notifications WHERE customer_id = $1`, customer).Scan(&last); err != nil {
		return nil, err
	}
	return Since(ctx, pool, customer, max(0, last-int64(n)), n)
}

func (h *Hub) register(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.clients[c.customer] == nil {
		h.clients[c.customer] = map[*client]struct{}{}
	}
	h.clients[c.customer][c] = struct{}{}
	metricClients.Inc()
}

func (h *Hub) unregister(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients[c.customer], c)
	if len(h.clients[c.customer]) == 0 {
		delete(h.clients, c.customer)
	}
	metricClients.Dec()
}

// Clients returns how many clients are connected.
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, set := range h.clients {
		n += len(set)
	}
	return n
}

// ServeHTTP is GET /v1/notifications/ws. The access token comes in the Authorization
// header or, for browsers (which cannot set headers on a WebSocket), the access_token
// query parameter. ?since=<seq> replays what the client missed after that number.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	customer, err := h.auth(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ordo"`)
		writeProblem(w, http.StatusUnauthorized, "unauthorized", "a valid access token is required (Authorization header or access_token parameter)")
		return
	}
	var since int64 = -1
	if s := r.URL.Query().Get("since"); s != "" {
		since, err = strconv.ParseInt(s, 10, 64)
		if err != nil || since < 0 {
			writeProblem(w, http.StatusBadRequest, "invalid_since", "since must be a non-negative integer (the seq of the last notification received)")
			return
		}
	}
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered
	}
	defer func() { _ = conn.CloseNow() }()
	c := &client{customer: customer, send: make(chan Notification, h.cfg.SendBuffer), dropped: make(chan struct{})}
	h.register(c)
	defer h.unregister(c)

	// Live notifications now buffer in c.send; send the history first, then drain,
	// skipping what the history already covered.
	ctx := conn.CloseRead(r.Context())
	var sent int64
	if since >= 0 {
		sent = since
		for {
			ns, err := Since(ctx, h.pool, customer, sent, 500)
			if err != nil {
				conn.Close(websocket.StatusInternalError, "history unavailable")
				return
			}
			for _, n := range ns {
				if err := h.write(ctx, conn, n); err != nil {
					return
				}
				sent = n.Seq
			}
			if len(ns) < 500 {
				break
			}
		}
	}
	ping := time.NewTicker(h.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.stopped():
			conn.Close(websocket.StatusGoingAway, "server shutting down")
			return
		case <-c.dropped:
			metricDropped.Inc()
			conn.Close(websocket.StatusPolicyViolation, "too slow: send buffer full; reconnect with since")
			return
		case n := <-c.send:
			if n.Seq <= sent {
				continue
			}
			if err := h.write(ctx, conn, n); err != nil {
				return
			}
			sent = n.Seq
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, h.cfg.WriteTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return
			}
		}
	}
}

func (h *Hub) write(ctx context.Context, conn *websocket.Conn, n Notification) error {
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, h.cfg.WriteTimeout)
	defer cancel()
	if err := conn.Write(wctx, websocket.MessageText, b); err != nil {
		return err
	}
	metricPushed.Inc()
	return nil
}

// stopped is closed when the hub stops; clients are then told to reconnect elsewhere.
func (h *Hub) stopped() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done == nil {
		h.done = make(chan struct{})
	}
	return h.done
}

func writeProblem(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type": "https://ordo.dev/problems/" + code, "title": http.StatusText(status), "status": status,
		"code": code, "detail": detail,
	})
}

// ErrNoToken: the request carries no access token.
var ErrNoToken = errors.New("no access token")

// Token returns the access token of a WebSocket request: the Authorization bearer
// token, or the access_token query parameter (browsers cannot set headers on a
// WebSocket; the server never logs this route's query string).
func Token(r *http.Request) (string, error) {
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:]), nil
	}
	if t := r.URL.Query().Get("access_token"); t != "" {
		return t, nil
	}
	return "", ErrNoToken
}
