package projections

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/internal/pgmigrate"
	"github.com/ordo-platform/ordo/schemas"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the registry tables (projection_versions, projection_offsets). The
// read-model tables themselves are created per version by Setup and Rebuild.
func Migrations() pgmigrate.Set {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	return pgmigrate.Set{Name: "projections", FS: sub}
}

// Projection names.
const (
	// Orders is the order view and each customer's order list (stream type "order").
	Orders = "orders"
	// Products is the catalogue with stock (stream types "product" and "inventory").
	Products = "products"
)

// Consumer groups of the live projectors. Constants: renaming one loses nothing (the
// offsets live in Postgres, keyed by projection) but is pointless churn.
const (
	GroupOrders   = "ordo-projector-orders"
	GroupProducts = "ordo-projector-products"
)

// Documented errors.
var (
	// ErrUnknownProjection: no projection has that name.
	ErrUnknownProjection = errors.New("projections: unknown projection")
	// ErrRebuildRunning: another rebuild of the same projection holds its lock.
	ErrRebuildRunning = errors.New("projections: a rebuild of this projection is already running")
	// ErrNotFound: the read model has no such row.
	ErrNotFound = errors.New("projections: not found")
	// ErrNotCaughtUp: the read model did not reach the requested version in time.
	ErrNotCaughtUp = errors.New("projections: read model has not caught up yet")
	// ErrBadCursor: a page cursor is not one this package made.
	ErrBadCursor = errors.New("projections: invalid cursor")
	// ErrNotFollowed: a stream id that is not one, or of a type no read model follows
	// (a client's read-your-writes request naming it is a bad request).
	ErrNotFollowed = errors.New("projections: no read model follows this stream")
)

// event is a stored event with its decoded payload. data is nil when the payload
// cannot be decoded from the store: such an event is a no-op that only advances its
// stream's version, both live and in a rebuild, so both end in the same state.
type event struct {
	eventstore.Event
	data domain.Event
}

// applyMode says how a batch is written.
type applyMode int

const (
	// live: rows are locked while folded, written with guarded upserts.
	live applyMode = iota
	// bulk: a rebuild into tables nobody else writes; new rows go in with COPY.
	bulk
)

// healFunc returns the events of a stream with versions in [from, to], in order. The
// live projector uses the event store to fill a gap in a stream (records missing from
// Kafka); a rebuild reads everything in order and has none.
type healFunc func(ctx context.Context, streamID string, from, to int64) ([]event, error)

// applyStats counts what a batch did.
type applyStats struct {
	applied    int // events folded into a row
	duplicates int // events at or below the row's version: already applied
	healed     int // events read from the store to fill gaps
	ignored    int // events of stream types or with ids the model does not use
}

// model is one read model: its tables per version and how events change them.
type model interface {
	name() string
	group() string
	streamTypes() []string
	// tables returns the version's tables, the first being the one the view exposes.
	tables(version int) []string
	// create creates the version's tables with their primary keys; indexes adds the
	// secondary indexes (after a bulk load, which is faster than maintaining them).
	create(ctx context.Context, tx pgx.Tx, version int) error
	indexes(ctx context.Context, tx pgx.Tx, version int) error
	// apply folds events (in position or partition order) into the version's rows.
	apply(ctx context.Context, tx pgx.Tx, version int, events []event, mode applyMode, heal healFunc) (applyStats, error)
}

var models = []model{ordersModel{}, productsModel{}}

func modelByName(name string) (model, error) {
	for _, m := range models {
		if m.name() == name {
			return m, nil
		}
	}
	return nil, fmt.Errorf("%w %q (known: %v)", ErrUnknownProjection, name, Names())
}

// Names returns every projection's name.
func Names() []string {
	out := make([]string, 0, len(models))
	for _, m := range models {
		out = append(out, m.name())
	}
	return out
}

func tableName(projection string, version int, suffix string) string {
	return "read_" + projection + "_v" + strconv.Itoa(version) + suffix
}

// viewName is what queries read: a view over the active version's main table, replaced
// in the transaction that switches versions.
func viewName(projection string) string { return "read_" + projection }

func wants(m model, streamType string) bool { return slices.Contains(m.streamTypes(), streamType) }

// decode decodes a stored event's payload with the codec. A failure is returned to the
// caller (the live path dead-letters the record; the store path makes it a no-op).
func decode(codec *schemas.Codec, e eventstore.Event) (event, error) {
	data, err := codec.Decode(e.Type, e.SchemaVersion, e.Payload)
	if err != nil {
		return event{Event: e}, fmt.Errorf("decode %s %s@%d: %w", e.Type, e.StreamID, e.Version, err)
	}
	return event{Event: e, data: data}, nil
}

// copyUUID is id as pgx encodes it natively in a COPY (16 bytes). A uuid.UUID is a
// driver.Valuer to pgx: its text form, then parsed again, for every value.
func copyUUID(id uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: true} }

// streamKey returns the aggregate id of a stream id ("order-<uuid>").
func streamKey(streamID string) (domain.ID, string, bool) {
	t, id, err := domain.ParseStreamID(streamID)
	if err != nil {
		return domain.ID{}, "", false
	}
	return id, t, true
}
