package notify

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/domain/user"
	"github.com/ordo-platform/ordo/eventstore/record"
	"github.com/ordo-platform/ordo/internal/consumer"
	"github.com/ordo-platform/ordo/internal/pgmigrate"
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

// History records order status changes; it is the consumer.Handler of Group.
type History struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	// Email queues an email for confirmed and cancelled orders when true.
	Email bool
}

// NewHistory returns the history handler.
func NewHistory(pool *pgxpool.Pool, email bool, log *slog.Logger) *History {
	return &History{pool: pool, Email: email, log: log}
}

// Handle implements consumer.Handler: one transaction per batch.
func (h *History) Handle(ctx context.Context, b consumer.Batch) error {
	tx, err := h.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var statuses []string
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
		status, err := h.apply(ctx, tx, e.ID, e.Version, e.OccurredAt, de)
		if err != nil {
			return fmt.Errorf("notify %s: %w", e.ID, err)
		}
		if status != "" {
			statuses = append(statuses, status)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	for _, s := range statuses {
		metricNotifications.WithLabelValues(s).Inc()
	}
	return nil
}

// apply records one event and returns the status it notified ("" for none).
func (h *History) apply(ctx context.Context, tx pgx.Tx, eventID uuid.UUID, version int64, at time.Time, e domain.Event) (string, error) {
	var (
		orderID  uuid.UUID
		customer uuid.UUID
		status   string
		reason   string
		detail   string
	)
	switch e := e.(type) {
	case user.Registered:
		_, err := tx.Exec(ctx, `INSERT INTO notify_customers (user_id, email, name) VALUES ($1, $2, $3)
			ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, name = excluded.name`,
			uuid.UUID(e.UserID), e.Email, e.Name)
		return "", err
	case order.Placed:
		orderID, customer, status = uuid.UUID(e.OrderID), uuid.UUID(e.CustomerID), "pending"
		if _, err := tx.Exec(ctx, `INSERT INTO notify_orders (order_id, customer_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
			orderID, customer); err != nil {
			return "", err
		}
	case order.Confirmed:
		orderID, status = uuid.UUID(e.OrderID), "confirmed"
	case order.Cancelled:
		orderID, status, reason, detail = uuid.UUID(e.OrderID), "cancelled", string(e.Reason), e.Detail
	default:
		return "", nil
	}
	if customer == uuid.Nil {
		// Confirmed and cancelled come after placed in the same partition (same key).
		if err := tx.QueryRow(ctx, `SELECT customer_id FROM notify_orders WHERE order_id = $1`, orderID).Scan(&customer); err != nil {
			return "", fmt.Errorf("customer of order %s: %w", orderID, err)
		}
	}
	var seen bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM order_notifications WHERE event_id = $1)`, eventID).Scan(&seen); err != nil {
		return "", err
	}
	if seen {
		return "", nil // redelivered
	}
	var seq int64
	if err := tx.QueryRow(ctx, `INSERT INTO notify_customers (user_id, last_seq) VALUES ($1, 1)
		ON CONFLICT (user_id) DO UPDATE SET last_seq = notify_customers.last_seq + 1 RETURNING last_seq`, customer).Scan(&seq); err != nil {
		return "", err
	}
	n := Notification{Type: "order.status", Seq: seq, CustomerID: customer, OrderID: orderID, Status: status,
		Reason: reason, Detail: detail, Version: version, OccurredAt: at.UTC()}
	if _, err := tx.Exec(ctx, `INSERT INTO order_notifications (customer_id, seq, event_id, order_id, status, reason, detail, version, occurred_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, customer, seq, eventID, orderID, status, reason, detail, version, n.OccurredAt); err != nil {
		return "", err
	}
	payload, err := json.Marshal(announcement{Notification: n, Customer: customer})
	if err != nil {
		return "", err
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, string(payload)); err != nil {
		return "", err
	}
	if h.Email && (status == "confirmed" || status == "cancelled") {
		subject, body := emailText(n)
		if _, err := tx.Exec(ctx, `INSERT INTO email_outbox (event_id, customer_id, subject, body) VALUES ($1, $2, $3, $4)
			ON CONFLICT (event_id) DO NOTHING`, eventID, customer, subject, body); err != nil {
			return "", err
		}
		metricEmails.WithLabelValues("queued").Inc()
	}
	return status, nil
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
