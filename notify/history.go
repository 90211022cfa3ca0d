package notify

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/domain/user"
	"github.com/ordo-platform/ordo/eventstore/record"
	"github.com/ordo-platform/ordo/internal/consumer"
	"github.com/ordo-platform/ordo/internal/pgmigrate"
	pgpool "github.com/ordo-platform/ordo/internal/postgres"
	"github.com/ordo-platform/ordo/schemas"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the notification tables.
func Migrations() pgmigrate.Set {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err)
	}
	return pgmigrate.Set{Name: "notify", FS: sub}
}

// Group is the history consumer group.
const Group = "ordo-notify"

// Channel is the Postgres NOTIFY channel new notifications are announced on.
const Channel = "ordo_order_notifications"

// Notification is one order status change of one customer, as sent to clients.
type Notification struct {
	Type       string    `json:"type"` // always "order.status"
	Seq        int64     `json:"seq"`
	CustomerID uuid.UUID `json:"-"`
	OrderID    uuid.UUID `json:"order_id"`
	Status     string    `json:"status"`
	Reason     string    `json:"status_reason,omitempty"`
	Detail     string    `json:"detail,omitempty"`
	Version    int64     `json:"version"`
	OccurredAt time.Time `json:"occurred_at"`
}

// announcement is the NOTIFY payload: the notification plus its customer.
type announcement struct {
	Notification
	Customer uuid.UUID `json:"customer_id"`
}

var (
	metricNotifications = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ordo", Subsystem: "notify", Name: "notifications_total",
		Help: "Order status notifications recorded, by status.",
	}, []string{"status"})
	metricEmails = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ordo", Subsystem: "notify", Name: "emails_total",
		Help: "Emails by outcome (queued, sent, retried, failed).",
	}, []string{"outcome"})
	metricClients = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "ordo", Subsystem: "notify", Name: "websocket_clients",
		Help: "Connected WebSocket clients on this replica.",
	})
	metricPushed = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "ordo", Subsystem: "notify", Name: "pushed_total",
		Help: "Notifications written to WebSocket clients.",
	})
	metricDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "ordo", Subsystem: "notify", Name: "slow_clients_dropped_total",
		Help: "WebSocket clients disconnected because their send buffer was full.",
	})
)

// Collectors are the package's Prometheus metrics.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{metricNotifications, metricEmails, metricClients, metricPushed, metricDropped}
}

// History records order status changes; it is the consumer.Handler (and
// consumer.Flusher) of Group.
type History struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	// Email queues an email for confirmed and cancelled orders when true.
	Email bool

	pending []consumer.Batch // the poll's batches, until Flush records them
}

// NewHistory returns the history handler.
func NewHistory(pool *pgxpool.Pool, email bool, log *slog.Logger) *History {
	return &History{pool: pool, Email: email, log: log}
}

// Handle implements consumer.Handler: it keeps the batch for its poll's transaction
// (Flush).
func (h *History) Handle(_ context.Context, b consumer.Batch) error {
	h.pending = append(h.pending, b)
	return nil
}

// FlushIn implements consumer.Flusher: a poll is recorded as soon as it is handled.
func (h *History) FlushIn() time.Duration { return 0 }

// Flush implements consumer.Flusher: the batches of a poll (one per partition) in one
// transaction. A failed flush is retried with the same batches, which are recorded once.
func (h *History) Flush(ctx context.Context) error {
	if err := h.apply(ctx, h.pending); err != nil {
		return err
	}
	h.pending = nil
	return nil
}

// apply records batches in one transaction, of four round trips whatever their size.
// The events are decoded before it begins, and each step is one statement (or one
// pgx.Batch) for all of them. The transaction has to be short: while it is open the
// event store's readers (the relay first) see nothing newer than its start
// (eventstore/postgres/doc.go), and with five statements per record it used to stay
// open for a second under load, the largest wait between an order being placed and the
// saga hearing of it.
func (h *History) apply(ctx context.Context, batches []consumer.Batch) error {
	d := decoded{placed: map[uuid.UUID]uuid.UUID{}}
	for _, b := range batches {
		if err := d.add(ctx, b); err != nil {
			return err
		}
	}
	if len(d.regs) == 0 && len(d.notes) == 0 {
		return nil
	}

	// BEGIN goes with prepare's statements, COMMIT with record's last ones.
	var (
		fresh  []fresh
		emails int
	)
	err := pgpool.InPipe(ctx, h.pool, func(tx *pgpool.PipeTx) (*pgx.Batch, error) {
		var err error
		if fresh, err = h.prepare(ctx, tx, d.regs, d.placed, d.notes, d.ids); err != nil || len(fresh) == 0 {
			return nil, err
		}
		last, n, err := h.record(ctx, tx, fresh)
		emails = n
		return last, err
	})
	if err != nil {
		return err
	}
	for _, f := range fresh {
		metricNotifications.WithLabelValues(f.Status).Inc()
	}
	metricEmails.WithLabelValues("queued").Add(float64(emails))
	return nil
}

// decoded is what apply records, from the records of its batches.
type decoded struct {
	regs   []user.Registered
	placed map[uuid.UUID]uuid.UUID // order -> customer, from the order.placed among them
	notes  []Notification
	ids    []uuid.UUID // notes' event ids
}

// add decodes b's records; what cannot be decoded goes to the dead-letter topic.
func (d *decoded) add(ctx context.Context, b consumer.Batch) error {
	for _, r := range b.Records {
		e, err := record.ToEvent(r)
		if err != nil {
			if err := b.DeadLetter(ctx, r, err); err != nil {
				return err
			}
			continue
		}
		de, err := schemas.Default().Decode(e.Type, e.SchemaVersion, e.Payload)
		if errors.Is(err, schemas.ErrUnknownEventType) {
			continue // not ours to care about
		}
		if err != nil {
			if err := b.DeadLetter(ctx, r, err); err != nil {
				return err
			}
			continue
		}
		n := Notification{Type: "order.status", Version: e.Version, OccurredAt: e.OccurredAt.UTC()}
		switch de := de.(type) {
		case user.Registered:
			d.regs = append(d.regs, de)
			continue
		case order.Placed:
			n.OrderID, n.CustomerID, n.Status = uuid.UUID(de.OrderID), uuid.UUID(de.CustomerID), "pending"
			d.placed[n.OrderID] = n.CustomerID
		case order.Confirmed:
			n.OrderID, n.Status = uuid.UUID(de.OrderID), "confirmed"
		case order.Cancelled:
			n.OrderID, n.Status, n.Reason, n.Detail = uuid.UUID(de.OrderID), "cancelled", string(de.Reason), de.Detail
		default:
			continue
		}
		d.notes = append(d.notes, n)
		d.ids = append(d.ids, e.ID)
	}
	return nil
}

// fresh is a notification to record: not recorded before.
type fresh struct {
	Notification
	eventID uuid.UUID
}

// prepare records the batch's customers and orders and returns the notifications not
// recorded yet (a redelivered batch has none), each with its customer: one round trip.
func (h *History) prepare(ctx context.Context, tx pgx.Tx, regs []user.Registered, placed map[uuid.UUID]uuid.UUID,
	notes []Notification, ids []uuid.UUID) ([]fresh, error) {
	q := &pgx.Batch{}
	for _, r := range regs {
		q.Queue(`INSERT INTO notify_customers (user_id, email, name) VALUES ($1, $2, $3)
			ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, name = excluded.name`,
			uuid.UUID(r.UserID), r.Email, r.Name)
	}
	orders, customers := make([]uuid.UUID, 0, len(placed)), make([]uuid.UUID, 0, len(placed))
	for o, c := range placed {
		orders, customers = append(orders, o), append(customers, c)
	}
	q.Queue(`INSERT INTO notify_orders (order_id, customer_id) SELECT * FROM unnest($1::uuid[], $2::uuid[])
		ON CONFLICT DO NOTHING`, orders, customers)
	// Confirmed and cancelled come after placed in the same partition (same key): their
	// placed is in this batch or recorded by an earlier one.
	var unknown []uuid.UUID
	for _, n := range notes {
		if _, ok := placed[n.OrderID]; !ok && n.CustomerID == uuid.Nil {
			unknown = append(unknown, n.OrderID)
		}
	}
	known := map[uuid.UUID]uuid.UUID{}
	q.Queue(`SELECT order_id, customer_id FROM notify_orders WHERE order_id = ANY($1)`, unknown).Query(func(rows pgx.Rows) error {
		var o, c uuid.UUID
		_, err := pgx.ForEachRow(rows, []any{&o, &c}, func() error { known[o] = c; return nil })
		return err
	})
	seen := map[uuid.UUID]bool{}
	q.Queue(`SELECT event_id FROM order_notifications WHERE event_id = ANY($1)`, ids).Query(func(rows pgx.Rows) error {
		var id uuid.UUID
		_, err := pgx.ForEachRow(rows, []any{&id}, func() error { seen[id] = true; return nil })
		return err
	})
	if err := tx.SendBatch(ctx, q).Close(); err != nil {
		return nil, err
	}
	var out []fresh
	for i, n := range notes {
		if seen[ids[i]] {
			continue // redelivered
		}
		seen[ids[i]] = true // once, should a batch hold a record twice
		if n.CustomerID == uuid.Nil {
			c, ok := placed[n.OrderID]
			if !ok {
				if c, ok = known[n.OrderID]; !ok {
					return nil, fmt.Errorf("notify %s: customer of order %s: %w", ids[i], n.OrderID, pgx.ErrNoRows)
				}
			}
			n.CustomerID = c
		}
		out = append(out, fresh{n, ids[i]})
	}
	return out, nil
}

// record numbers the notifications per customer, stores them, announces them and queues
// their emails: one round trip, and the statements it returns to send with the COMMIT,
// with the number of emails they queue. Each customer's sequence is taken under its row's lock
// (held to commit), so a customer's notifications become visible in sequence order; the
// rows are locked in customer order, so that two batches never wait for each other in a
// cycle.
func (h *History) record(ctx context.Context, tx pgx.Tx, fs []fresh) (*pgx.Batch, int, error) {
	count := map[uuid.UUID]int64{}
	for _, f := range fs {
		count[f.CustomerID]++
	}
	customers := make([]uuid.UUID, 0, len(count))
	for c := range count {
		customers = append(customers, c)
	}
	slices.SortFunc(customers, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	counts := make([]int64, len(customers))
	for i, c := range customers {
		counts[i] = count[c]
	}
	next := map[uuid.UUID]int64{} // the next seq to hand out, per customer
	rows, err := tx.Query(ctx, `INSERT INTO notify_customers (user_id, last_seq)
		SELECT * FROM unnest($1::uuid[], $2::bigint[]) ORDER BY 1
		ON CONFLICT (user_id) DO UPDATE SET last_seq = notify_customers.last_seq + excluded.last_seq
		RETURNING user_id, last_seq`, customers, counts)
	if err != nil {
		return nil, 0, err
	}
	var (
		c    uuid.UUID
		last int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&c, &last}, func() error { next[c] = last - count[c] + 1; return nil }); err != nil {
		return nil, 0, err
	}

	n := len(fs)
	var (
		custs, events, orders                = make([]uuid.UUID, n), make([]uuid.UUID, n), make([]uuid.UUID, n)
		seqs, versions                       = make([]int64, n), make([]int64, n)
		statuses, reasons, details, payloads = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		at                                   = make([]time.Time, n)
		mailEvents, mailCustomers            []uuid.UUID
		subjects, bodies                     []string
	)
	for i := range fs {
		f := &fs[i]
		f.Seq = next[f.CustomerID]
		next[f.CustomerID]++
		payload, err := json.Marshal(announcement{Notification: f.Notification, Customer: f.CustomerID})
		if err != nil {
			return nil, 0, err
		}
		custs[i], seqs[i], events[i], orders[i] = f.CustomerID, f.Seq, f.eventID, f.OrderID
		statuses[i], reasons[i], details[i], versions[i], at[i] = f.Status, f.Reason, f.Detail, f.Version, f.OccurredAt
		payloads[i] = string(payload)
		if h.Email && (f.Status == "confirmed" || f.Status == "cancelled") {
			subject, body := emailText(f.Notification)
			mailEvents, mailCustomers = append(mailEvents, f.eventID), append(mailCustomers, f.CustomerID)
			subjects, bodies = append(subjects, subject), append(bodies, body)
		}
	}
	q := &pgx.Batch{}
	q.Queue(`INSERT INTO order_notifications (customer_id, seq, event_id, order_id, status, reason, detail, version, occurred_at)
		SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[],
		                     $8::bigint[], $9::timestamptz[])`,
		custs, seqs, events, orders, statuses, reasons, details, versions, at)
	// Delivered at commit, in this order.
	q.Queue(`SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS u(p, i) ORDER BY i`, Channel, payloads)
	if len(mailEvents) > 0 {
		q.Queue(`INSERT INTO email_outbox (event_id, customer_id, subject, body)
			SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) ON CONFLICT (event_id) DO NOTHING`,
			mailEvents, mailCustomers, subjects, bodies)
	}
	return q, len(mailEvents), nil
}

func emailText(n Notification) (subject, body string) {
	short := n.OrderID.String()[:8]
	if n.Status == "confirmed" {
		return fmt.Sprintf("Your order %s is confirmed", short),
			fmt.Sprintf("Good news: your order %s is confirmed and paid.\n\nOrder id: %s\n", short, n.OrderID)
	}
	why := map[string]string{
		"out_of_stock":      "some items are out of stock",
		"payment_declined":  "the payment was declined",
		"fraud_suspected":   "the payment could not be accepted",
		"cancelled_by_user": "you cancelled it",
		"timeout":           "the payment did not complete in time",
	}[n.Reason]
	if why == "" {
		why = n.Reason
	}
	return fmt.Sprintf("Your order %s is cancelled", short),
		fmt.Sprintf("Your order %s was cancelled: %s. Nothing was charged, or the charge was refunded.\n\nOrder id: %s\n", short, why, n.OrderID)
}

// Since returns a customer's notifications with seq > since, oldest first, at most limit.
func Since(ctx context.Context, pool *pgxpool.Pool, customer uuid.UUID, since int64, limit int) ([]Notification, error) {
	rows, err := pool.Query(ctx, `SELECT seq, order_id, status, reason, detail, version, occurred_at
		FROM order_notifications WHERE customer_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, customer, since, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Notification, error) {
		n := Notification{Type: "order.status", CustomerID: customer}
		err := r.Scan(&n.Seq, &n.OrderID, &n.Status, &n.Reason, &n.Detail, &n.Version, &n.OccurredAt)
		return n, err
	})
}
