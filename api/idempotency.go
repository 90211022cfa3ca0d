package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/ordo-platform/ordo/app"
	"github.com/ordo-platform/ordo/eventstore"
)

const (
	headerIdempotencyKey = "Idempotency-Key"
	headerReplayed       = "Idempotent-Replayed"
	maxIdempotencyKeyLen = 255
	// idempotencyAttempts bounds how often a request is run again in a fresh transaction
	// after losing a race on a stream (see serveIdempotent).
	idempotencyAttempts = 3
)

// idempotency keeps Idempotency-Key records in Postgres (table idempotency_keys).
type idempotency struct {
	env *app.Env
	ttl time.Duration
	// slots bounds the transactions held open by idempotent requests to half the pool:
	// each holds a connection for its transaction while its handler needs another to
	// read streams, and a request waiting for a duplicate holds one too. Without the
	// bound, a burst of them could take every connection and wait for ever.
	slots chan struct{}
}

func newIdempotency(env *app.Env, ttl time.Duration) *idempotency {
	n := 1
	if env.Store != nil {
		n = max(1, int(env.Store.Pool().Config().MaxConns)/2)
	}
	return &idempotency{env: env, ttl: ttl, slots: make(chan struct{}, n)}
}

// idempotent makes a command route honour Idempotency-Key (DESIGN.md): the first
// response to a key is stored in the transaction of the command's events, and a request
// with the same key and the same body gets that response again, with
// Idempotent-Replayed: true, without running the command; the same key with another
// body (or path) is 422. Without the header the route runs as usual.
//
// How: begin a transaction, take a transaction-scoped advisory lock on (scope, key) so
// that a concurrent duplicate waits for the first to finish, look the key up, and if it
// is new run the handler with app.WithTx (its appends join the transaction), store the
// response, commit, and only then send it. The advisory lock rather than an early
// INSERT of the key row keeps the transaction without a transaction id until the
// handler appends, so readers of the event store's global order (which wait for every
// older open transaction) are not held up by password hashing or stream reads.
// 5xx answers, 429s and lost races are rolled back, not stored: a retry may succeed.
func (s *Server) idempotent(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		values := c.Request().Header.Values(headerIdempotencyKey)
		if len(values) == 0 {
			return next(c)
		}
		key := values[0]
		if len(values) > 1 || !validIdempotencyKey(key) {
			return newProblem(http.StatusBadRequest, codeInvalidIdempotency,
				fmt.Sprintf("Idempotency-Key must be one value of 1 to %d printable ASCII characters, such as a UUID", maxIdempotencyKeyLen))
		}
		body, err := s.body(c)
		if err != nil {
			return err
		}
		r := c.Request()
		scope := "ip:" + c.RealIP()
		if p, ok := principal(c); ok {
			scope = "user:" + p.UserID.String()
		}
		scope += " " + r.Method + " " + c.Path()
		h := sha256.New()
		fmt.Fprintf(h, "%s\n%s\n", r.Method, r.URL.Path)
		h.Write(body)
		return s.serveIdempotent(c, scope, key, h.Sum(nil), next)
	}
}

func validIdempotencyKey(k string) bool {
	if len(k) < 1 || len(k) > maxIdempotencyKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

func (s *Server) serveIdempotent(c echo.Context, scope, key string, sum []byte, next echo.HandlerFunc) error {
	ctx := c.Request().Context()
	select {
	case s.idem.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.idem.slots }()
	for attempt := 1; ; attempt++ {
		done, err := s.idempotentAttempt(c, scope, key, sum, next, attempt == idempotencyAttempts)
		if done || err != nil {
			return err
		}
	}
}

type storedResponse struct {
	hash        []byte
	status      int
	contentType string
	location    string
	body        []byte
}

// idempotentAttempt runs the request once in a transaction. It returns done=false when
// the handler lost a race on a stream and may run again in a fresh transaction: a
// transaction that has appended (or tried to) cannot append after a younger one, so
// retrying inside it is futile.
func (s *Server) idempotentAttempt(c echo.Context, scope, key string, sum []byte, next echo.HandlerFunc, last bool) (bool, error) {
	req := c.Request()
	ctx := req.Context()
	pool := s.deps.App.Store.Pool()
	tx, err := pool.Begin(ctx)
	if err != nil {
		return true, fmt.Errorf("idempotency: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, idempotencyLockID(scope, key)); err != nil {
		return true, fmt.Errorf("idempotency: lock key: %w", err)
	}
	var st storedResponse
	err = tx.QueryRow(ctx, `
		SELECT request_hash, status, content_type, location, body FROM idempotency_keys
		WHERE scope = $1 AND key = $2 AND created_at > now() - make_interval(secs => $3)`,
		scope, key, s.idem.ttl.Seconds()).Scan(&st.hash, &st.status, &st.contentType, &st.location, &st.body)
	switch {
	case err == nil:
		_ = tx.Rollback(ctx)
		return true, s.replay(c, st, sum)
	case !errors.Is(err, pgx.ErrNoRows):
		return true, fmt.Errorf("idempotency: look up key: %w", err)
	}

	// Run the handler into a buffer, with its appends in tx.
	orig := c.Response()
	rec := &recorder{header: http.Header{}}
	c.SetResponse(echo.NewResponse(rec, s.echo))
	c.Set(ctxTransient, false)
	c.SetRequest(req.WithContext(app.WithTx(ctx, tx)))
	herr := next(c)
	c.SetRequest(req)
	if herr != nil && errors.Is(herr, eventstore.ErrVersionConflict) && !last {
		c.SetResponse(orig)
		return false, nil
	}
	if herr != nil {
		c.Error(herr) // renders the problem into rec
	}
	c.SetResponse(orig)
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	if transientFlag, _ := c.Get(ctxTransient).(bool); status >= 500 || transientFlag {
		_ = tx.Rollback(ctx)
		return true, rec.copyTo(orig, status)
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO idempotency_keys (scope, key, request_hash, status, content_type, location, body)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (scope, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, status = EXCLUDED.status,
			content_type = EXCLUDED.content_type, location = EXCLUDED.location, body = EXCLUDED.body,
			created_at = now()`,
		scope, key, sum, status, rec.header.Get(echo.HeaderContentType), rec.header.Get(echo.HeaderLocation), rec.body.Bytes())
	if err != nil {
		return true, fmt.Errorf("idempotency: store response: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return true, fmt.Errorf("idempotency: commit: %w", err)
	}
	s.deps.App.Store.Notify()
	return true, rec.copyTo(orig, status)
}

func (s *Server) replay(c echo.Context, st storedResponse, sum []byte) error {
	if !bytes.Equal(st.hash, sum) {
		return newProblem(http.StatusUnprocessableEntity, codeIdempotencyKeyReused,
			"this Idempotency-Key was already used for a different request; use a new key for a new request")
	}
	metricIdempotentReplays.Inc()
	h := c.Response().Header()
	if st.contentType != "" {
		h.Set(echo.HeaderContentType, st.contentType)
	}
	if st.location != "" {
		h.Set(echo.HeaderLocation, st.location)
	}
	h.Set(headerReplayed, "true")
	c.Response().WriteHeader(st.status)
	_, err := c.Response().Write(st.body)
	return err
}

// deleteExpired deletes the keys older than the retention.
func (i *idempotency) deleteExpired(ctx context.Context) (int64, error) {
	tag, err := i.env.Store.Pool().Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)`, i.ttl.Seconds())
	if err != nil {
		return 0, fmt.Errorf("delete expired idempotency keys: %w", err)
	}
	return tag.RowsAffected(), nil
}

func idempotencyLockID(scope, key string) int64 {
	sum := sha256.Sum256([]byte("ordo.idempotency\x00" + scope + "\x00" + key))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

// recorder buffers a response so that it is sent only after its transaction commits.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

func (r *recorder) copyTo(w *echo.Response, status int) error {
	h := w.Header()
	for k, vs := range r.header {
		h[k] = vs
	}
	w.WriteHeader(status)
	_, err := w.Write(r.body.Bytes())
	return err
}
