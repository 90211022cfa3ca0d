package postgres

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ordo-platform/ordo/eventstore"
)

// eventColumnTypes are the types of selectEvent's columns, in order.
var eventColumnTypes = [...]uint32{
	pgtype.Int8OID, pgtype.UUIDOID, pgtype.TextOID, pgtype.TextOID, pgtype.Int8OID, pgtype.TextOID,
	pgtype.Int4OID, pgtype.ByteaOID, pgtype.TimestamptzOID, pgtype.TimestamptzOID, pgtype.UUIDOID,
	pgtype.UUIDOID, pgtype.TextOID, pgtype.TextOID, pgtype.ByteaOID,
}

// collectEvents reads the rows of a selectEvent query.
//
// The relay, subscriptions and rebuilds read every event through here, so it decodes
// Postgres's wire format itself when every column arrives in binary (pgx's default for
// these types; text columns come as text, which is the same bytes): about half the time of pgx's generic Scan, which goes through a scan
// plan and an interface per column, and four allocations per event instead of a dozen
// (one string holds the stream id, actor and traceparent; one byte slice the fingerprint
// and payload; stream and event types are shared). Any other format (a connection in
// simple-protocol mode) takes the generic Scan.
func collectEvents(rows pgx.Rows, limit int) ([]eventstore.Event, error) {
	evs, _, err := collect(rows, limit, false)
	return evs, err
}

// collect is collectEvents for rows that, with counted, carry a bigint column after the
// event's; it returns that column's value in the last row (0 without rows).
func collect(rows pgx.Rows, limit int, counted bool) ([]eventstore.Event, int64, error) {
	defer rows.Close()
	columns := len(eventColumnTypes)
	if counted {
		columns++
	}
	var count int64
	// Room for a few events first, then, from the first that does not fit, for a whole
	// page of the usual sizes (the relay's 10,000, a rebuild's 50,000 grows from there):
	// growing the slice step by step copies every event read so far (40% of a 10,000-event
	// page's decoding), while reserving the whole page for every read is as bad the other
	// way: a relay following live traffic reads a handful of events many times a second,
	// and zeroing 10,000 events of room for each was 9% of the CPU of `ordo all` in
	// `ordo bench e2e`.
	const few = 64
	page := min(limit, 16384)
	out := make([]eventstore.Event, 0, min(page, few))
	fast := -1 // unknown until the first row
	names := interner{}
	for rows.Next() {
		if fast < 0 {
			fast = 0
			fds := rows.FieldDescriptions()
			if len(fds) != columns {
				return nil, 0, fmt.Errorf("read events: %d columns, want %d", len(fds), columns)
			}
			if binaryEventColumns(fds[:len(eventColumnTypes)]) && (!counted || fds[columns-1].DataTypeOID == pgtype.Int8OID &&
				fds[columns-1].Format == pgtype.BinaryFormatCode) {
				fast = 1
			}
		}
		var (
			e   eventstore.Event
			err error
		)
		switch {
		case fast == 1:
			v := rows.RawValues()
			if err = decodeEvent(v[:len(eventColumnTypes)], &e, names); err == nil && counted {
				if count, err = int8At(v[columns-1]); err != nil {
					err = fmt.Errorf("read event %s: count: %w", e.ID, err)
				}
			}
		case counted:
			e, err = scanEvent(rows, &count)
		default:
			e, err = scanEvent(rows)
		}
		if err != nil {
			return nil, 0, err
		}
		if len(out) == few && cap(out) == few && page > few {
			out = slices.Grow(out, page-few)
		}
		out = append(out, e)
	}
	return out, count, rows.Err()
}

func binaryEventColumns(fds []pgconn.FieldDescription) bool {
	if len(fds) != len(eventColumnTypes) {
		return false
	}
	for i, fd := range fds {
		if fd.DataTypeOID != eventColumnTypes[i] {
			return false
		}
		// pgx asks for text columns in text format; for text the two are the same bytes.
		if fd.Format != pgtype.BinaryFormatCode && fd.DataTypeOID != pgtype.TextOID {
			return false
		}
	}
	return true
}

var errNull = errors.New("unexpected NULL")

// decodeEvent decodes one row of selectEvent from its binary columns.
func decodeEvent(v [][]byte, e *eventstore.Event, names interner) error {
	if len(v) != len(eventColumnTypes) {
		return fmt.Errorf("read event: %d columns, want %d", len(v), len(eventColumnTypes))
	}
	for _, i := range [...]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14} { // NOT NULL columns
		if v[i] == nil {
			return fmt.Errorf("read event: column %d: %w", i, errNull)
		}
	}
	var err error
	if e.Position, err = int8At(v[0]); err != nil {
		return fmt.Errorf("read event: position: %w", err)
	}
	if e.ID, err = uuidAt(v[1]); err != nil {
		return fmt.Errorf("read event: id: %w", err)
	}
	if e.Version, err = int8At(v[4]); err != nil {
		return fmt.Errorf("read event %s: version: %w", e.ID, err)
	}
	if len(v[6]) != 4 {
		return fmt.Errorf("read event %s: schema version: %d bytes", e.ID, len(v[6]))
	}
	e.SchemaVersion = int(int32(binary.BigEndian.Uint32(v[6])))
	if e.OccurredAt, err = timeAt(v[8]); err != nil {
		return fmt.Errorf("read event %s: occurred at: %w", e.ID, err)
	}
	if e.RecordedAt, err = timeAt(v[9]); err != nil {
		return fmt.Errorf("read event %s: recorded at: %w", e.ID, err)
	}
	if e.Metadata.CorrelationID, err = uuidAt(v[10]); err != nil {
		return fmt.Errorf("read event %s: correlation id: %w", e.ID, err)
	}
	if e.Metadata.CausationID, err = uuidAt(v[11]); err != nil {
		return fmt.Errorf("read event %s: causation id: %w", e.ID, err)
	}
	e.StreamType, e.Type = names.get(v[3]), names.get(v[5])

	// The values pgx hands over live in its read buffer until the next row: copy them,
	// in one string and one byte slice for the whole event.
	stream, actor, trace := v[2], v[12], v[13]
	var sb strings.Builder
	sb.Grow(len(stream) + len(actor) + len(trace))
	sb.Write(stream)
	sb.Write(actor)
	sb.Write(trace)
	s := sb.String()
	a, t := len(stream), len(stream)+len(actor)
	e.StreamID, e.Metadata.Actor, e.Metadata.TraceParent = s[:a], s[a:t], s[t:]

	fp, payload := v[7], v[14]
	b := make([]byte, len(fp)+len(payload))
	copy(b, fp)
	copy(b[len(fp):], payload)
	e.SchemaFingerprint, e.Payload = b[:len(fp):len(fp)], b[len(fp):]
	return nil
}

func int8At(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("int8 of %d bytes", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// uuidAt decodes a uuid column; NULL is the zero UUID (as Metadata has it).
func uuidAt(b []byte) (uuid.UUID, error) {
	if b == nil {
		return uuid.Nil, nil
	}
	if len(b) != 16 {
		return uuid.Nil, fmt.Errorf("uuid of %d bytes", len(b))
	}
	return uuid.UUID(b), nil
}

const (
	microsecFromUnixEpochToY2K = 946_684_800 * 1_000_000
	infinityMicroseconds       = 1<<63 - 1
	negInfinityMicroseconds    = -1 << 63
)

// timeAt decodes a timestamptz exactly as pgx does (time.Unix, in the local zone).
func timeAt(b []byte) (time.Time, error) {
	if len(b) != 8 {
		return time.Time{}, fmt.Errorf("timestamptz of %d bytes", len(b))
	}
	us := int64(binary.BigEndian.Uint64(b))
	if us == infinityMicroseconds || us == negInfinityMicroseconds {
		return time.Time{}, errors.New("timestamptz is infinite")
	}
	return time.Unix(microsecFromUnixEpochToY2K/1_000_000+us/1_000_000,
		(microsecFromUnixEpochToY2K%1_000_000*1_000)+(us%1_000_000*1_000)), nil
}

// interner shares the strings of a read's few stream and event types.
type interner map[string]string

func (in interner) get(b []byte) string {
	if s, ok := in[string(b)]; ok { // no allocation for the lookup
		return s
	}
	s := string(b)
	if len(in) < 256 { // types are a closed set; anything else is not worth keeping
		in[s] = s
	}
	return s
}
