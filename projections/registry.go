package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Advisory lock keys are hashed in SQL with the current schema, so that projections in
// different schemas (tests) never wait for each other.
const (
	// liveLockSQL is taken shared by every live batch and exclusively by the switch-over of
	// a rebuild: a switch waits for the batches in flight and new batches wait for it.
	liveLockShared    = `SELECT pg_advisory_xact_lock_shared(hashtextextended('ordo.projection.live.' || current_schema() || '.' || $1, 0))`
	liveLockExclusive = `SELECT pg_advisory_xact_lock(hashtextextended('ordo.projection.live.' || current_schema() || '.' || $1, 0))`
	// rebuildLock is a session lock held by `ordo replay` for the whole rebuild.
	rebuildLock   = `SELECT pg_try_advisory_lock(hashtextextended('ordo.projection.rebuild.' || current_schema() || '.' || $1, 0))`
	rebuildUnlock = `SELECT pg_advisory_unlock(hashtextextended('ordo.projection.rebuild.' || current_schema() || '.' || $1, 0))`
	setupLock     = `SELECT pg_advisory_xact_lock(hashtextextended('ordo.projection.setup.' || current_schema(), 0))`
)

// Setup makes sure every projection has an active version: a projection that has never
// had one gets version 1 (empty tables, filled by the live projector from Kafka or by
// `ordo replay`). It is idempotent and safe to run concurrently (`ordo migrate` and
// every `ordo project` call it).
func Setup(ctx context.Context, pool *pgxpool.Pool) error {
	for _, m := range models {
		if err := setup(ctx, pool, m); err != nil {
			return fmt.Errorf("set up projection %s: %w", m.name(), err)
		}
	}
	return nil
}

func setup(ctx context.Context, pool *pgxpool.Pool, m model) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, setupLock); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM projection_versions WHERE name = $1`, m.name()).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil // active already, or a first rebuild is building it
		}
		if err := m.create(ctx, tx, 1); err != nil {
			return err
		}
		if err := m.indexes(ctx, tx, 1); err != nil {
			return err
		}
		if err := replaceView(ctx, tx, m, 1); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO projection_versions (name, version, state, activated_at) VALUES ($1, 1, 'active', now())`, m.name())
		return err
	})
}

// replaceView points read_<name> at a version's main table, inside the caller's
// transaction: queries see the old version until it commits and the new one after.
func replaceView(ctx context.Context, tx pgx.Tx, m model, version int) error {
	view := pgx.Identifier{viewName(m.name())}.Sanitize()
	table := pgx.Identifier{m.tables(version)[0]}.Sanitize()
	if _, err := tx.Exec(ctx, `DROP VIEW IF EXISTS `+view); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `CREATE VIEW `+view+` AS SELECT * FROM `+table)
	return err
}

// activeVersion returns the active version of a projection (0 when there is none).
func activeVersion(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, name string) (int, error) {
	var v int
	err := q.QueryRow(ctx, `SELECT version FROM projection_versions WHERE name = $1 AND state = 'active'`, name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// offsetStore implements consumer.OffsetStore over projection_offsets for one
// projection: its consumer group resumes each partition where the active version's last
// committed batch ended.
type offsetStore struct {
	pool *pgxpool.Pool
	name string
}

// NextOffsets implements consumer.OffsetStore.
func (o offsetStore) NextOffsets(ctx context.Context, _ string, partitions map[string][]int32) (map[string]map[int32]int64, error) {
	rows, err := o.pool.Query(ctx, `SELECT o.topic, o.partition, o.next_offset
		FROM projection_offsets o JOIN projection_versions v ON v.name = o.name AND v.version = o.version AND v.state = 'active'
		WHERE o.name = $1`, o.name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	stored := map[string]map[int32]int64{}
	for rows.Next() {
		var (
			t    string
			p    int32
			next int64
		)
		if err := rows.Scan(&t, &p, &next); err != nil {
			return nil, err
		}
		if stored[t] == nil {
			stored[t] = map[int32]int64{}
		}
		stored[t][p] = next
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := map[string]map[int32]int64{}
	for t, ps := range partitions {
		for _, p := range ps {
			if next, ok := stored[t][p]; ok {
				if out[t] == nil {
					out[t] = map[int32]int64{}
				}
				out[t][p] = next
			}
		}
	}
	return out, nil
}

// PartitionOffset is where a version's live projector is in one Kafka partition.
type PartitionOffset struct {
	Topic      string
	Partition  int32
	NextOffset int64
	// Position is the highest global position applied from the partition.
	Position  int64
	UpdatedAt time.Time
}

// VersionStatus is one version of a projection.
type VersionStatus struct {
	Version int
	State   string // building, active, retired
	// Position: for a building version, the store position rebuilt so far; for the
	// active one, the highest global position applied (by the rebuild or live).
	Position    int64
	Events      int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
	ActivatedAt *time.Time
	Offsets     []PartitionOffset
}

// Status is a projection's registry entry, as `ordo replay --list` shows it.
type Status struct {
	Name     string
	Group    string
	Versions []VersionStatus // newest first
}

// Active returns the active version, if any.
func (s Status) Active() (VersionStatus, bool) {
	for _, v := range s.Versions {
		if v.State == "active" {
			return v, true
		}
	}
	return VersionStatus{}, false
}

// Building returns the version being rebuilt, if any.
func (s Status) Building() (VersionStatus, bool) {
	for _, v := range s.Versions {
		if v.State == "building" {
			return v, true
		}
	}
	return VersionStatus{}, false
}

// List returns every projection's versions with their positions and offsets.
func List(ctx context.Context, pool *pgxpool.Pool) ([]Status, error) {
	var out []Status
	for _, m := range models {
		st := Status{Name: m.name(), Group: m.group()}
		rows, err := pool.Query(ctx, `SELECT v.version, v.state, greatest(v.position, coalesce(max(o.position), 0)), v.events,
				v.created_at, v.updated_at, v.activated_at
			FROM projection_versions v LEFT JOIN projection_offsets o ON o.name = v.name AND o.version = v.version
			WHERE v.name = $1 GROUP BY v.name, v.version ORDER BY v.version DESC`, m.name())
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", m.name(), err)
		}
		st.Versions, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (VersionStatus, error) {
			var v VersionStatus
			err := r.Scan(&v.Version, &v.State, &v.Position, &v.Events, &v.CreatedAt, &v.UpdatedAt, &v.ActivatedAt)
			return v, err
		})
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", m.name(), err)
		}
		for i := range st.Versions {
			rows, err := pool.Query(ctx, `SELECT topic, partition, next_offset, position, updated_at FROM projection_offsets
				WHERE name = $1 AND version = $2 ORDER BY topic, partition`, m.name(), st.Versions[i].Version)
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", m.name(), err)
			}
			st.Versions[i].Offsets, err = pgx.CollectRows(rows, pgx.RowToStructByPos[PartitionOffset])
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", m.name(), err)
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// DropRetired drops the tables of a projection's retired versions (kept after a switch
// so that an operator can compare or go back) and returns the versions dropped.
func DropRetired(ctx context.Context, pool *pgxpool.Pool, name string) ([]int, error) {
	m, err := modelByName(name)
	if err != nil {
		return nil, err
	}
	var dropped []int
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `DELETE FROM projection_versions WHERE name = $1 AND state = 'retired' RETURNING version`, name)
		if err != nil {
			return err
		}
		if dropped, err = pgx.CollectRows(rows, pgx.RowTo[int]); err != nil {
			return err
		}
		slices.Sort(dropped)
		for _, v := range dropped {
			for _, t := range m.tables(v) {
				if _, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+pgx.Identifier{t}.Sanitize()); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, `DELETE FROM projection_offsets WHERE name = $1 AND version = $2`, name, v); err != nil {
				return err
			}
		}
		return nil
	})
	return dropped, err
}
