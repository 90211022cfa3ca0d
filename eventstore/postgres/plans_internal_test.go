package postgres

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/internal/testenv"
)

// TestGroupStatementPlansGenerically: the group committer's connections plan generically
// and resolve the store's schema; the caller's pool keeps Postgres's choice; a store
// without group commit opens no such connections (nor does one whose copy of the pool
// cannot connect: it writes its groups on the caller's pool, as before).
func TestGroupStatementPlansGenerically(t *testing.T) {
	ctx := context.Background()
	pool := testenv.PostgresSchema(t, Migrations())
	s, err := New(ctx, pool, WithGroupCommit(2))
	require.NoError(t, err)
	t.Cleanup(s.Close)
	require.NotSame(t, pool, s.groupPool)
	require.EqualValues(t, 2, s.groupPool.Config().MaxConns)

	var mode, schema, want string
	require.NoError(t, s.groupPool.QueryRow(ctx, "SELECT current_setting('plan_cache_mode'), current_schema()").Scan(&mode, &schema))
	require.NoError(t, pool.QueryRow(ctx, "SELECT current_schema()").Scan(&want))
	require.Equal(t, "force_generic_plan", mode)
	require.Equal(t, want, schema)
	require.NoError(t, pool.QueryRow(ctx, "SELECT current_setting('plan_cache_mode')").Scan(&mode))
	require.Equal(t, "auto", mode, "the caller's pool is left as it was")
	require.NotContains(t, pool.Config().ConnConfig.RuntimeParams, "plan_cache_mode", "and so are its new connections")

	off, err := New(ctx, pool, WithGroupCommit(0))
	require.NoError(t, err)
	t.Cleanup(off.Close)
	require.Same(t, pool, off.groupPool)

	// A copy that cannot connect: a Postgres that refuses a startup setting (as a
	// PgBouncer does with parameters it does not know) stands for it here.
	cfg := pool.Config().Copy()
	cfg.ConnConfig.RuntimeParams["ordo_no_such_setting"] = "1"
	_, err = genericPlans(ctx, pool, 1, "")
	require.Error(t, err, "the schema differs")
	broken, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(broken.Close)
	_, err = genericPlans(ctx, broken, 1, "")
	require.Error(t, err, "the setting is refused at connect")
}
