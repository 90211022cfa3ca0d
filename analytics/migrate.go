package analytics

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one versioned file of analytics/migrations: NNNNN_name.sql.
type Migration struct {
	Version    int
	Name       string
	Statements []string
}

var migrationName = regexp.MustCompile(`^(\d{5})_([a-z0-9_]+)\.sql$`)

// Migrations returns the embedded migrations in version order.
func Migrations() ([]Migration, error) {
	return parseMigrations(migrationFiles, "migrations")
}

func parseMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("analytics migration %s: want NNNNN_name.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		text, err := fs.ReadFile(fsys, dir+"/"+e.Name())
		if err != nil {
			return nil, err
		}
		stmts := splitStatements(string(text))
		if len(stmts) == 0 {
			return nil, fmt.Errorf("analytics migration %s has no statement", e.Name())
		}
		for _, s := range stmts {
			if !idempotent(s) {
				return nil, fmt.Errorf("analytics migration %s: statement is not idempotent (use IF NOT EXISTS): %.80s", e.Name(), s)
			}
		}
		out = append(out, Migration{Version: v, Name: m[2], Statements: stmts})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	for i := range out {
		if out[i].Version != i+1 {
			return nil, fmt.Errorf("analytics migrations: versions must be 1..N without gaps; %05d is missing", i+1)
		}
	}
	return out, nil
}

// splitStatements splits a migration at every ';' that ends a line, dropping comment
// lines and empty statements.
func splitStatements(text string) []string {
	var (
		out []string
		cur strings.Builder
	)
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") || trimmed == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			if s := strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"); s != "" {
				out = append(out, s)
			}
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

var idempotentStmt = regexp.MustCompile(`(?is)^\s*(CREATE\s+(TABLE|VIEW|MATERIALIZED\s+VIEW|DATABASE)\s+IF\s+NOT\s+EXISTS|ALTER\s+TABLE\s+\S+\s+(ADD|DROP|MODIFY)\s+COLUMN\s+IF\s+|DROP\s+(TABLE|VIEW)\s+IF\s+EXISTS|INSERT\s+INTO\s+\S+_state\s)`)

// idempotent reports whether running s twice is harmless: creations with IF NOT EXISTS,
// drops with IF EXISTS, and backfills of the *_state tables, whose idempotent aggregate
// states make a repeated INSERT ... SELECT change nothing.
func idempotent(s string) bool { return idempotentStmt.MatchString(s) }

// MigrateResult says what Migrate did.
type MigrateResult struct {
	Database string
	// Version is the newest version applied, now or before.
	Version int
	// Applied are the migrations applied by this call.
	Applied []Migration
}

const versionTable = `CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    UInt32,
    name       String,
    applied_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY version`

// Migrate creates the database if needed and applies the pending migrations in order,
// recording each in the database's own schema_migrations table. Every statement is
// idempotent, so a run interrupted half way is finished by the next, and concurrent runs
// converge (each may apply a migration; both results are the same).
func Migrate(ctx context.Context, addr, database string, log *slog.Logger) (MigrateResult, error) {
	res := MigrateResult{Database: database}
	if err := ValidateDatabase(database); err != nil {
		return res, err
	}
	migrations, err := Migrations()
	if err != nil {
		return res, err
	}
	admin, err := Open(addr, "default")
	if err != nil {
		return res, err
	}
	err = admin.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+database)
	_ = admin.Close()
	if err != nil {
		return res, fmt.Errorf("clickhouse: create database %s: %w", database, err)
	}
	conn, err := Open(addr, database)
	if err != nil {
		return res, err
	}
	defer conn.Close()
	if err := conn.Exec(ctx, versionTable); err != nil {
		return res, fmt.Errorf("clickhouse: create schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	rows, err := conn.Query(ctx, "SELECT DISTINCT version FROM schema_migrations")
	if err != nil {
		return res, fmt.Errorf("clickhouse: read schema_migrations: %w", err)
	}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return res, err
		}
		applied[int(v)] = true
		res.Version = max(res.Version, int(v))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, err
	}
	for _, m := range migrations {
		if applied[m.Version] {
			continue
		}
		for i, stmt := range m.Statements {
			if err := conn.Exec(ctx, stmt); err != nil {
				return res, fmt.Errorf("clickhouse migration %05d_%s statement %d: %w", m.Version, m.Name, i+1, err)
			}
		}
		if err := recordMigration(ctx, conn, m); err != nil {
			return res, fmt.Errorf("clickhouse: record migration %05d: %w", m.Version, err)
		}
		log.Info("clickhouse migration applied", "database", database, "version", m.Version, "name", m.Name)
		res.Applied = append(res.Applied, m)
		res.Version = max(res.Version, m.Version)
	}
	return res, nil
}

// recordMigration inserts m's row into schema_migrations. INSERT ... VALUES with bound arguments
// does not work over the native protocol with ClickHouse 18.16; a batch does.
func recordMigration(ctx context.Context, conn driver.Conn, m Migration) error {
	b, err := conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name, applied_at)")
	if err != nil {
		return err
	}
	if err := b.Append(uint32(m.Version), m.Name, time.Now().UTC()); err != nil {
		_ = b.Abort()
		return err
	}
	return b.Send()
}
