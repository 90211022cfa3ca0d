package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/internal/postgres"
	"github.com/ordo-platform/ordo/internal/testenv"
)

func pipePool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool := testenv.PostgresSchema(t)
	_, err := pool.Exec(context.Background(), `CREATE TABLE items (id int PRIMARY KEY, note text NOT NULL DEFAULT '')`)
	require.NoError(t, err)
	return pool
}

func ids(t *testing.T, pool *pgxpool.Pool) []int {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT id FROM items ORDER BY id`)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowTo[int])
	require.NoError(t, err)
	return got
}

// begin begins a PipeTx that a failed test rolls back (else closing the pool would wait
// for its connection for good).
func begin(t *testing.T, pool *pgxpool.Pool) *postgres.PipeTx {
	t.Helper()
	tx, err := postgres.BeginPipe(context.Background(), pool)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	return tx
}

// requireClean: every connection went back to the pool, and the ones it kept are not
// inside a transaction.
func requireClean(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	require.Zero(t, pool.Stat().AcquiredConns(), "connections returned")
	for _, c := range pool.AcquireAllIdle(context.Background()) {
		status := c.Conn().PgConn().TxStatus()
		c.Release()
		require.Equal(t, byte('I'), status, "an idle connection outside any transaction")
	}
}

// Every kind of first statement begins the transaction it travels with: a later
// statement runs in the same transaction, and nothing is visible outside until the
// commit.
func TestPipeTxFirstStatementBeginsTheTransaction(t *testing.T) {
	t.Parallel()
	pool := pipePool(t)
	ctx := context.Background()
	first := map[string]func(tx *postgres.PipeTx, id int) error{
		"exec": func(tx *postgres.PipeTx, id int) error {
			_, err := tx.Exec(ctx, `INSERT INTO items (id) VALUES ($1)`, id)
			return err
		},
		"query": func(tx *postgres.PipeTx, id int) error {
			rows, err := tx.Query(ctx, `INSERT INTO items (id) VALUES ($1) RETURNING id`, id)
			if err != nil {
				return err
			}
			got, err := pgx.CollectRows(rows, pgx.RowTo[int]) // reads to the end, then closes
			if err == nil && (len(got) != 1 || got[0] != id) {
				err = errors.New("unexpected rows")
			}
			return err
		},
		"query row": func(tx *postgres.PipeTx, id int) error {
			var got int
			return tx.QueryRow(ctx, `INSERT INTO items (id) VALUES ($1) RETURNING id`, id).Scan(&got)
		},
		"batch": func(tx *postgres.PipeTx, id int) error {
			b := &pgx.Batch{}
			b.Queue(`INSERT INTO items (id) VALUES ($1)`, id)
			return tx.SendBatch(ctx, b).Close()
		},
	}
	id := 0
	for name, f := range first {
		for _, end := range []string{"commit", "commit with", "rollback"} {
			id += 10
			tx := begin(t, pool)
			require.NoError(t, f(tx, id), "%s first", name)
			var xid1, xid2 string
			require.NoError(t, tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(&xid1))
			_, err := tx.Exec(ctx, `INSERT INTO items (id) VALUES ($1)`, id+1)
			require.NoError(t, err)
			require.NoError(t, tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(&xid2))
			require.Equal(t, xid1, xid2, "%s: one transaction", name)
			require.NotContains(t, ids(t, pool), id, "%s: not visible before the commit", name)
			switch end {
			case "commit":
				require.NoError(t, tx.Commit(ctx))
			case "commit with":
				b := &pgx.Batch{}
				b.Queue(`INSERT INTO items (id) VALUES ($1)`, id+2)
				require.NoError(t, tx.CommitWith(ctx, b))
			case "rollback":
				require.NoError(t, tx.Rollback(ctx))
			}
			require.ErrorIs(t, tx.Rollback(ctx), pgx.ErrTxClosed, "a deferred rollback after the end")
			got := ids(t, pool)
			switch end {
			case "commit":
				require.Subset(t, got, []int{id, id + 1}, "%s, %s", name, end)
			case "commit with":
				require.Subset(t, got, []int{id, id + 1, id + 2}, "%s, %s", name, end)
			case "rollback":
				require.NotContains(t, got, id, "%s, %s", name, end)
				require.NotContains(t, got, id+1, "%s, %s", name, end)
			}
			requireClean(t, pool)
		}
	}
}

// A statement that fails in CommitWith's pipeline skips the COMMIT after it: nothing
// of the transaction is kept, the statement's error is returned, and the connection
// goes back clean.
func TestPipeTxCommitWithAFailingStatementRollsBack(t *testing.T) {
	t.Parallel()
	pool := pipePool(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `INSERT INTO items (id) VALUES (1)`)
	require.NoError(t, err)
	for _, begun := range []bool{false, true} {
		tx := begin(t, pool)
		if begun {
			_, err = tx.Exec(ctx, `INSERT INTO items (id) VALUES (2)`)
			require.NoError(t, err)
		}
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO items (id) VALUES (3)`)
		b.Queue(`INSERT INTO items (id) VALUES (1)`) // unique violation
		b.Queue(`INSERT INTO items (id) VALUES (4)`)
		err = tx.CommitWith(ctx, b)
		var pgErr *pgconn.PgError
		require.ErrorAs(t, err, &pgErr, "begun %v", begun)
		require.Equal(t, "23505", pgErr.Code)
		require.Equal(t, []int{1}, ids(t, pool), "begun %v: nothing kept", begun)
		requireClean(t, pool)
	}
}

// A failing first statement fails its own call; the transaction is then aborted, as
// in any transaction, and Rollback ends it.
func TestPipeTxFailingFirstStatement(t *testing.T) {
	t.Parallel()
	pool := pipePool(t)
	ctx := context.Background()
	tx := begin(t, pool)
	var n int
	err := tx.QueryRow(ctx, `SELECT id FROM items WHERE id = 1/0`).Scan(&n)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "22012", pgErr.Code)
	_, err = tx.Exec(ctx, `INSERT INTO items (id) VALUES (1)`)
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "25P02", pgErr.Code, "in failed transaction")
	require.NoError(t, tx.Rollback(ctx))
	require.Empty(t, ids(t, pool))
	requireClean(t, pool)

	// No rows from a first QueryRow is pgx.ErrNoRows, and the transaction goes on.
	tx = begin(t, pool)
	require.ErrorIs(t, tx.QueryRow(ctx, `SELECT id FROM items`).Scan(&n), pgx.ErrNoRows)
	_, err = tx.Exec(ctx, `INSERT INTO items (id) VALUES (5)`)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	require.Equal(t, []int{5}, ids(t, pool))
	requireClean(t, pool)
}

// A transaction that sent nothing commits nothing and gives its connection back.
func TestPipeTxEmpty(t *testing.T) {
	t.Parallel()
	pool := pipePool(t)
	ctx := context.Background()
	for _, end := range []func(*postgres.PipeTx) error{
		func(tx *postgres.PipeTx) error { return tx.Commit(ctx) },
		func(tx *postgres.PipeTx) error { return tx.CommitWith(ctx, &pgx.Batch{}) },
		func(tx *postgres.PipeTx) error { return tx.Rollback(ctx) },
	} {
		tx := begin(t, pool)
		require.Equal(t, int32(1), pool.Stat().AcquiredConns())
		require.NoError(t, end(tx))
		requireClean(t, pool)
	}
}

// Savepoints: a nested transaction's rollback undoes only what it did.
func TestPipeTxSavepoints(t *testing.T) {
	t.Parallel()
	pool := pipePool(t)
	ctx := context.Background()
	tx := begin(t, pool)
	sp, err := tx.Begin(ctx) // the first statement: BEGIN, then the savepoint
	require.NoError(t, err)
	_, err = sp.Exec(ctx, `INSERT INTO items (id) VALUES (1)`)
	require.NoError(t, err)
	require.NoError(t, sp.Commit(ctx))
	sp, err = tx.Begin(ctx)
	require.NoError(t, err)
	_, err = sp.Exec(ctx, `INSERT INTO items (id) VALUES (2)`)
	require.NoError(t, err)
	_, err = sp.Exec(ctx, `INSERT INTO items (id) VALUES (1)`) // fails: the savepoint is aborted
	require.Error(t, err)
	require.NoError(t, sp.Rollback(ctx))
	_, err = tx.Exec(ctx, `INSERT INTO items (id) VALUES (3)`)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	require.Equal(t, []int{1, 3}, ids(t, pool))
	requireClean(t, pool)
}

// Queued statements travel with the next statement, whatever it is, or with the
// COMMIT: a later read sees them, their callbacks run before that statement's results
// are read, and a queued statement (or its callback) that fails fails the statement it
// travelled with, and with it the commit.
func TestPipeTxQueue(t *testing.T) {
	t.Parallel()
	pool := pipePool(t)
	ctx := context.Background()

	tx := begin(t, pool)
	var got []int
	tx.Queue(`INSERT INTO items (id) VALUES (1) RETURNING id`).QueryRow(func(row pgx.Row) error {
		var id int
		err := row.Scan(&id)
		got = append(got, id)
		return err
	})
	tx.Queue(`INSERT INTO items (id) VALUES (2)`)
	require.Empty(t, ids(t, pool))
	var n int
	require.NoError(t, tx.QueryRow(ctx, `SELECT count(*) FROM items`).Scan(&n), "a read flushes the queue")
	require.Equal(t, 2, n, "the read sees the queued inserts")
	require.Equal(t, []int{1}, got, "the callback ran")
	tx.Queue(`INSERT INTO items (id) VALUES (3)`)
	require.NoError(t, tx.Commit(ctx), "the commit sends what is left")
	require.Equal(t, []int{1, 2, 3}, ids(t, pool))
	requireClean(t, pool)

	// Queued only: the commit sends BEGIN, the statement and COMMIT in one pipeline; a
	// rollback drops what is still queued.
	for _, c := range []struct {
		id     int
		commit bool
	}{{4, true}, {8, false}} {
		tx = begin(t, pool)
		tx.Queue(`INSERT INTO items (id) VALUES ($1)`, c.id)
		if c.commit {
			require.NoError(t, tx.Commit(ctx))
		} else {
			require.NoError(t, tx.Rollback(ctx))
		}
		require.Equal(t, []int{1, 2, 3, 4}, ids(t, pool), "after %d", c.id)
		requireClean(t, pool)
	}

	// A queued statement that fails: the commit fails with its error and nothing of the
	// transaction is kept.
	tx = begin(t, pool)
	_, err := tx.Exec(ctx, `INSERT INTO items (id) VALUES (5)`)
	require.NoError(t, err)
	tx.Queue(`INSERT INTO items (id) VALUES (1)`) // unique violation
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO items (id) VALUES (7)`)
	err = tx.CommitWith(ctx, b)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "23505", pgErr.Code)
	require.Equal(t, []int{1, 2, 3, 4}, ids(t, pool), "nothing kept")
	requireClean(t, pool)

	// A callback's error is returned (the statements sent with it have run).
	tx = begin(t, pool)
	refused := errors.New("refused by the callback")
	tx.Queue(`SELECT 1`).Exec(func(pgconn.CommandTag) error { return refused })
	require.ErrorIs(t, tx.QueryRow(ctx, `SELECT 1`).Scan(&n), refused)
	require.NoError(t, tx.Rollback(ctx))
	requireClean(t, pool)
}
