package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/wneessen/go-mail"

	"github.com/ordo-platform/ordo/internal/lifecycle"
)

// MailConfig configures the SMTP mailer.
type MailConfig struct {
	// Addr is the SMTP server, host:port (ORDO_SMTP_ADDR); empty disables email.
	Addr string
	// From is the sender address.
	From string
	// Username and Password enable SMTP AUTH (PLAIN) when set.
	Username, Password string
	// RequireTLS refuses to send without STARTTLS; otherwise TLS is used when offered.
	RequireTLS bool
	// Poll is how often the outbox is checked.
	Poll time.Duration
	// MaxAttempts before an email is marked failed.
	MaxAttempts int
}

// Enabled reports whether email is configured.
func (c MailConfig) Enabled() bool { return c.Addr != "" }

// Validate reports every problem at once.
func (c MailConfig) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	if _, port, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("ORDO_SMTP_ADDR %q: want host:port", c.Addr))
	} else if _, err := strconv.Atoi(port); err != nil {
		errs = append(errs, fmt.Errorf("ORDO_SMTP_ADDR %q: port is not a number", c.Addr))
	}
	if c.From == "" {
		errs = append(errs, errors.New("ORDO_SMTP_FROM is required when ORDO_SMTP_ADDR is set"))
	}
	if (c.Username == "") != (c.Password == "") {
		errs = append(errs, errors.New("ORDO_SMTP_USERNAME and ORDO_SMTP_PASSWORD go together"))
	}
	return errors.Join(errs...)
}

// Mailer sends the email outbox through SMTP: at least once, retried with backoff,
// marked failed after MaxAttempts. Several replicas may run: rows are claimed with
// FOR UPDATE SKIP LOCKED.
type Mailer struct {
	lifecycle.Stopper
	cfg  MailConfig
	pool *pgxpool.Pool
	log  *slog.Logger
}

// NewMailer returns the mailer role.
func NewMailer(cfg MailConfig, pool *pgxpool.Pool, log *slog.Logger) *Mailer {
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	return &Mailer{cfg: cfg, pool: pool, log: log.With("role", "mailer")}
}

// Name implements lifecycle.Role.
func (m *Mailer) Name() string { return "mailer" }

// Start sends until stopped.
func (m *Mailer) Start(ctx context.Context) error {
	ctx, done := m.Begin(ctx)
	defer done()
	for {
		n, err := m.SendDue(ctx)
		if err != nil && ctx.Err() == nil {
			m.log.Warn("sending email failed", "err", err)
		}
		if n > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(m.cfg.Poll):
		}
	}
}

type outgoing struct {
	id       int64
	to       string
	subject  string
	body     string
	attempts int
}

// SendDue sends up to 20 due emails and returns how many it handled. Rows are leased
// for two minutes by one short statement and updated one by one after each send: no
// transaction stays open while talking to the SMTP server (an open transaction would
// hold back every reader of the event store's global order).
func (m *Mailer) SendDue(ctx context.Context) (int, error) {
	rows, err := m.pool.Query(ctx, `WITH due AS (
			SELECT id FROM email_outbox WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()
			ORDER BY id LIMIT 20 FOR UPDATE SKIP LOCKED
		), leased AS (
			UPDATE email_outbox o SET next_attempt_at = now() + interval '2 minutes' FROM due WHERE o.id = due.id
			RETURNING o.id, o.customer_id, o.subject, o.body, o.attempts
		)
		SELECT l.id, coalesce(c.email, ''), l.subject, l.body, l.attempts
		FROM leased l LEFT JOIN notify_customers c ON c.user_id = l.customer_id ORDER BY l.id`)
	if err != nil {
		return 0, err
	}
	due, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (outgoing, error) {
		var o outgoing
		err := r.Scan(&o.id, &o.to, &o.subject, &o.body, &o.attempts)
		return o, err
	})
	if err != nil {
		return 0, err
	}
	for _, o := range due {
		sendErr := m.send(ctx, o)
		switch {
		case sendErr == nil:
			_, err = m.pool.Exec(ctx, `UPDATE email_outbox SET sent_at = now(), attempts = attempts + 1 WHERE id = $1`, o.id)
			metricEmails.WithLabelValues("sent").Inc()
		case o.attempts+1 >= m.cfg.MaxAttempts:
			_, err = m.pool.Exec(ctx, `UPDATE email_outbox SET failed_at = now(), attempts = attempts + 1, last_error = $2 WHERE id = $1`, o.id, sendErr.Error())
			metricEmails.WithLabelValues("failed").Inc()
			m.log.Error("email given up", "id", o.id, "err", sendErr)
		default:
			backoff := time.Duration(1<<min(o.attempts, 10)) * 5 * time.Second
			_, err = m.pool.Exec(ctx, `UPDATE email_outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = now() + $3::interval WHERE id = $1`,
				o.id, sendErr.Error(), backoff.String())
			metricEmails.WithLabelValues("retried").Inc()
		}
		if err != nil {
			return 0, err
		}
	}
	return len(due), nil
}

func (m *Mailer) send(ctx context.Context, o outgoing) error {
	if o.to == "" {
		return errors.New("the customer's email address is not known yet")
	}
	host, portText, _ := net.SplitHostPort(m.cfg.Addr)
	port, _ := strconv.Atoi(portText)
	policy := mail.TLSOpportunistic
	if m.cfg.RequireTLS {
		policy = mail.TLSMandatory
	}
	opts := []mail.Option{mail.WithPort(port), mail.WithTLSPolicy(policy), mail.WithTimeout(15 * time.Second)}
	if m.cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername(m.cfg.Username), mail.WithPassword(m.cfg.Password))
	}
	c, err := mail.NewClient(host, opts...)
	if err != nil {
		return err
	}
	msg := mail.NewMsg()
	if err := msg.From(m.cfg.From); err != nil {
		return fmt.Errorf("from: %w", err)
	}
	if err := msg.To(o.to); err != nil {
		return fmt.Errorf("to: %w", err)
	}
	msg.Subject(o.subject)
	msg.SetBodyString(mail.TypeTextPlain, o.body)
	return c.DialAndSendWithContext(ctx, msg)
}
