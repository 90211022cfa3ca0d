package postgres

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PipeTx is a pgx.Tx that spares the round trips of its own control statements:
// BEGIN travels in one pipeline with the first statement, and CommitWith sends the
// last statements and COMMIT in one. A short transaction of a read, an append and a
// state save then costs three round trips instead of five.
//
// Statements can also be queued (Queue) to travel with the next statement sent, at the
// latest with COMMIT: several writes whose results the caller does not need at once
// then cost no round trip of their own.
//
// A statement that fails aborts the transaction as usual; the caller rolls back. Its
// savepoints (Begin) are sent as statements of their own. LargeObjects is not
// supported (it returns the zero value).
type PipeTx struct {
	conn    *pgxpool.Conn
	begun   bool
	closed  bool
	pending []*pgx.QueuedQuery
}

// Queue queues a statement to be sent in front of the transaction's next one (or with
// its COMMIT), and returns it so that the caller can set its result callback (Exec,
// Query, QueryRow), which runs when the statement's result arrives. A statement that
// fails in the server fails the statements sent after it, COMMIT among them, and that
// error is the one returned. A callback's error is returned as well, but the
// statements sent with it have run by then: a condition the commit depends on must
// fail in the server, not in a callback. Queued statements still unsent when the
// transaction rolls back are dropped.
func (t *PipeTx) Queue(sql string, args ...any) *pgx.QueuedQuery {
	qq := &pgx.QueuedQuery{SQL: sql, Arguments: args}
	t.pending = append(t.pending, qq)
	return qq
}

// BeginPipe takes a connection from pool for a transaction that begins with its first
// statement. Nothing is sent yet. The caller ends it with Commit, CommitWith or
// Rollback, which return the connection.
func BeginPipe(ctx context.Context, pool *pgxpool.Pool) (*PipeTx, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return &PipeTx{conn: conn}, nil
}

// InPipe runs fn in a PipeTx and commits it with the batch fn returns (nil: nothing
// more to send), or rolls it back if fn fails (or panics).
func InPipe(ctx context.Context, pool *pgxpool.Pool, fn func(tx *PipeTx) (last *pgx.Batch, err error)) error {
	tx, err := BeginPipe(ctx, pool)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // ErrTxClosed after the commit
	last, err := fn(tx)
	if err != nil {
		return err
	}
	return tx.CommitWith(ctx, last)
}

// direct reports whether a statement can go on its own: the transaction has begun and
// nothing is queued.
func (t *PipeTx) direct() bool { return t.begun && len(t.pending) == 0 }

// withPrefix returns b with what must go first in front: BEGIN when the transaction
// has not begun yet, then the queued statements. The transaction counts as begun from
// then on: if the pipeline fails, Rollback still ends whatever the server started.
func (t *PipeTx) withPrefix(b *pgx.Batch) (_ *pgx.Batch, begins bool, queued []*pgx.QueuedQuery) {
	if t.direct() {
		return b, false, nil
	}
	begins, queued = !t.begun, t.pending
	t.begun, t.pending = true, nil
	qs := make([]*pgx.QueuedQuery, 0, len(b.QueuedQueries)+len(queued)+1)
	if begins {
		qs = append(qs, &pgx.QueuedQuery{SQL: "BEGIN"})
	}
	qs = append(qs, queued...)
	return &pgx.Batch{QueuedQueries: append(qs, b.QueuedQueries...)}, begins, queued
}

// SendBatch implements pgx.Tx. The results of BEGIN and of the queued statements are
// read (and their callbacks run) before it returns; b's are left to the caller.
func (t *PipeTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.closed {
		return pgx.FailedBatchResults(b, pgx.ErrTxClosed)
	}
	b, begins, queued := t.withPrefix(b)
	br := t.conn.SendBatch(ctx, b)
	if begins {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return pgx.FailedBatchResults(b, fmt.Errorf("begin: %w", err))
		}
	}
	for _, qq := range queued {
		var err error
		if qq.Fn != nil {
			err = qq.Fn(br)
		} else {
			_, err = br.Exec()
		}
		if err != nil {
			_ = br.Close()
			return pgx.FailedBatchResults(b, err)
		}
	}
	return br
}

// flush sends BEGIN and the queued statements, if any, on their own.
func (t *PipeTx) flush(ctx context.Context) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	if t.direct() {
		return nil
	}
	return t.SendBatch(ctx, &pgx.Batch{}).Close()
}

// sendFirst sends a statement with BEGIN and the queued statements in front.
func (t *PipeTx) sendFirst(ctx context.Context, sql string, args []any) pgx.BatchResults {
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	return t.SendBatch(ctx, b)
}

// Exec implements pgx.Tx.
func (t *PipeTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.closed {
		return pgconn.CommandTag{}, pgx.ErrTxClosed
	}
	if t.direct() {
		return t.conn.Exec(ctx, sql, args...)
	}
	br := t.sendFirst(ctx, sql, args)
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

// Query implements pgx.Tx.
func (t *PipeTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if t.closed {
		return nil, pgx.ErrTxClosed
	}
	if t.direct() {
		return t.conn.Query(ctx, sql, args...)
	}
	br := t.sendFirst(ctx, sql, args)
	rows, err := br.Query()
	if err != nil {
		_ = br.Close() // reports err again
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// QueryRow implements pgx.Tx.
func (t *PipeTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := t.Query(ctx, sql, args...)
	return row{rows: rows, err: err}
}

// CopyFrom implements pgx.Tx (BEGIN and the queued statements go first on their own).
func (t *PipeTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.flush(ctx); err != nil {
		return 0, err
	}
	return t.conn.CopyFrom(ctx, table, columns, src)
}

// Prepare implements pgx.Tx.
func (t *PipeTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	if t.closed {
		return nil, pgx.ErrTxClosed
	}
	return t.conn.Conn().Prepare(ctx, name, sql)
}

// Begin implements pgx.Tx: a savepoint.
func (t *PipeTx) Begin(ctx context.Context) (pgx.Tx, error) {
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	sp := &savepoint{tx: t, name: fmt.Sprintf("pipe_sp_%d", savepoints.Add(1))}
	if _, err := t.conn.Exec(ctx, "SAVEPOINT "+sp.name); err != nil {
		return nil, err
	}
	return sp, nil
}

// LargeObjects implements pgx.Tx; large objects are not supported.
func (t *PipeTx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

// Conn implements pgx.Tx.
func (t *PipeTx) Conn() *pgx.Conn { return t.conn.Conn() }

// Commit implements pgx.Tx. A transaction that sent and queued nothing has nothing to
// commit.
func (t *PipeTx) Commit(ctx context.Context) error {
	return t.CommitWith(ctx, nil)
}

// CommitWith sends b's statements and COMMIT in one pipeline (with BEGIN in front if
// nothing was sent before), runs b's callbacks, and returns the connection. If a
// statement fails, the server skips the rest and COMMIT with it; CommitWith then rolls
// back and returns the statement's error.
func (t *PipeTx) CommitWith(ctx context.Context, b *pgx.Batch) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	if b == nil || b.Len() == 0 {
		if !t.begun && len(t.pending) == 0 {
			t.release()
			return nil
		}
		b = &pgx.Batch{}
	} else {
		b = &pgx.Batch{QueuedQueries: append([]*pgx.QueuedQuery(nil), b.QueuedQueries...)}
	}
	b.Queue("COMMIT").Exec(func(tag pgconn.CommandTag) error {
		if tag.String() != "COMMIT" {
			return pgx.ErrTxCommitRollback
		}
		return nil
	})
	err := t.SendBatch(ctx, b).Close()
	if err != nil {
		// Whatever failed, the server may still be in the transaction (aborted): end it.
		// The pool discards a connection that is not idle after this.
		_, _ = t.conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
	}
	t.release()
	return err
}

// Rollback implements pgx.Tx. It is a no-op on an ended transaction's ErrTxClosed,
// as pgx's is, so that it can be deferred.
func (t *PipeTx) Rollback(ctx context.Context) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	var err error
	t.pending = nil
	if t.begun {
		_, err = t.conn.Exec(ctx, "ROLLBACK")
	}
	t.release()
	return err
}

func (t *PipeTx) release() {
	t.closed = true
	t.conn.Release()
}

var savepoints atomic.Int64

// savepoint is a nested transaction of a PipeTx.
type savepoint struct {
	tx     *PipeTx
	name   string
	closed bool
}

func (s *savepoint) Begin(ctx context.Context) (pgx.Tx, error) { return s.tx.Begin(ctx) }

func (s *savepoint) Commit(ctx context.Context) error {
	if s.closed {
		return pgx.ErrTxClosed
	}
	s.closed = true
	_, err := s.tx.Exec(ctx, "RELEASE SAVEPOINT "+s.name)
	return err
}

func (s *savepoint) Rollback(ctx context.Context) error {
	if s.closed {
		return pgx.ErrTxClosed
	}
	s.closed = true
	_, err := s.tx.Exec(ctx, "ROLLBACK TO SAVEPOINT "+s.name)
	return err
}

func (s *savepoint) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	return s.tx.CopyFrom(ctx, table, columns, src)
}

func (s *savepoint) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return s.tx.SendBatch(ctx, b)
}

func (s *savepoint) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

func (s *savepoint) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	return s.tx.Prepare(ctx, name, sql)
}

func (s *savepoint) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return s.tx.Exec(ctx, sql, args...)
}

func (s *savepoint) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return s.tx.Query(ctx, sql, args...)
}

func (s *savepoint) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return s.tx.QueryRow(ctx, sql, args...)
}

func (s *savepoint) Conn() *pgx.Conn { return s.tx.Conn() }

// batchRows are the rows of a pipeline's last statement: closing them (or reading past
// the last) ends the pipeline too, so that the connection is free for the next.
type batchRows struct {
	pgx.Rows
	br  pgx.BatchResults
	err error
	end bool
}

func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *batchRows) Close() {
	if r.end {
		return
	}
	r.end = true
	r.Rows.Close()
	r.err = r.br.Close()
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// row is pgx's QueryRow over Query.
type row struct {
	rows pgx.Rows
	err  error
}

func (r row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}
