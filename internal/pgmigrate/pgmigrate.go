// Package pgmigrate applies the embedded Postgres migrations of Ordo's components with
// goose. Each component (event store, auth, read models, sagas) owns its SQL files and
// its own version table, so components evolve independently and never renumber each
// other's migrations.
package pgmigrate

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Set is one component's migrations.
type Set struct {
	// Name names the component; its version table is goose_<name>.
	Name string
	// FS holds the *.sql files at its root.
	FS fs.FS
}

// Applied reports what Up applied for one set.
type Applied struct {
	Set     string
	Version int64
	Applied []string
}

// Up applies every pending migration of every set, in order, holding a Postgres session
// lock so that concurrent `ordo migrate` runs wait for each other.
func Up(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger, sets ...Set) ([]Applied, error) {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	// One lock per schema: migrations of different schemas (tests) never wait for each
	// other, two `ordo migrate` on the same database do.
	var schema string
	if err := db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return nil, fmt.Errorf("migrate: current schema: %w", err)
	}
	h := fnv.New64a()
	h.Write([]byte("ordo.migrate." + schema))
	lockID := int64(h.Sum64())
	var out []Applied
	for _, s := range sets {
		a, err := up(ctx, db, log, s, lockID)
		if err != nil {
			return out, fmt.Errorf("migrate %s: %w", s.Name, err)
		}
		out = append(out, a)
	}
	return out, nil
}

func up(ctx context.Context, db *sql.DB, log *slog.Logger, s Set, lockID int64) (Applied, error) {
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID), lock.WithLockTimeout(1, 600))
	if err != nil {
		return Applied{}, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, s.FS,
		goose.WithTableName("goose_"+s.Name),
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return Applied{}, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return Applied{}, err
	}
	a := Applied{Set: s.Name}
	for _, r := range results {
		a.Applied = append(a.Applied, r.Source.Path)
		log.Info("migration applied", "set", s.Name, "file", r.Source.Path, "took", r.Duration)
	}
	if a.Version, err = p.GetDBVersion(ctx); err != nil {
		return a, err
	}
	return a, nil
}
