// Package eventstore is Ordo's source of truth: an append-only log of events grouped
// into streams (one per aggregate instance) and totally ordered by a global position.
//
// The Store interface lives here; implementations live in sub-packages (postgres) and
// must pass the conformance suite in eventstoretest. The relay that publishes stored
// events to Kafka and the catch-up subscription are built on ReadAll and so work with
// any implementation.
package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Documented errors. Implementations translate driver errors into these; callers test
// them with errors.Is.
var (
	// ErrVersionConflict: the stream is not at the expected version (another writer won).
	ErrVersionConflict = errors.New("eventstore: version conflict")
	// ErrStreamNotFound: the stream has no events.
	ErrStreamNotFound = errors.New("eventstore: stream not found")
	// ErrDuplicateEvent: an event id was appended before with different content or to
	// another stream; a retry of the same append is not an error.
	ErrDuplicateEvent = errors.New("eventstore: event id already used by another append")
	// ErrInvalidAppend: the append itself is malformed (no events, empty type, ...).
	ErrInvalidAppend = errors.New("eventstore: invalid append")
)

// ExpectedVersion is the optimistic-concurrency condition of an append: Any, NoStream,
// or the exact version (>= 1) the stream must be at.
type ExpectedVersion int64

const (
	// Any appends whatever the stream's version.
	Any ExpectedVersion = -1
	// NoStream appends only when the stream has no events yet.
	NoStream ExpectedVersion = 0
)

// Exact returns the condition "the stream is at version v" (v = 0 is NoStream).
func Exact(v int64) ExpectedVersion { return ExpectedVersion(v) }

func (e ExpectedVersion) String() string {
	switch e {
	case Any:
		return "any"
	case NoStream:
		return "no stream"
	default:
		return fmt.Sprintf("version %d", int64(e))
	}
}

// Stream names a stream: its type (the aggregate type, which picks the Kafka topic) and
// its id ("order-0193...").
type Stream struct {
	Type string
	ID   string
}

func (s Stream) String() string { return s.ID }

// Metadata travels with every event for causality and tracing.
type Metadata struct {
	// CorrelationID ties together every event caused by one original request.
	CorrelationID uuid.UUID
	// CausationID is the id of the command or event that caused this one.
	CausationID uuid.UUID
	// Actor is who caused it ("user:<id>", "saga:order", "system").
	Actor string
	// TraceParent is the W3C traceparent of the span that appended the event.
	TraceParent string
}

// NewEvent is an event to append. ID must be a UUID (UUIDv7 by convention, made by
// NewID); it makes retries idempotent.
type NewEvent struct {
	ID                uuid.UUID
	Type              string
	SchemaVersion     int
	SchemaFingerprint []byte
	Payload           []byte
	OccurredAt        time.Time
	Metadata          Metadata
}

// Event is a stored event: what was appended plus where and when it was stored.
type Event struct {
	ID         uuid.UUID
	StreamID   string
	StreamType string
	// Version is the event's 1-based position within its stream.
	Version int64
	// Position is the event's global position: strictly increasing in commit order.
	Position          int64
	Type              string
	SchemaVersion     int
	SchemaFingerprint []byte
	OccurredAt        time.Time
	RecordedAt        time.Time
	Metadata          Metadata
	Payload           []byte
}

// AppendResult says where an append landed.
type AppendResult struct {
	// FirstVersion and LastVersion are the stream versions of the first and last event.
	FirstVersion, LastVersion int64
	// FirstPosition and LastPosition are their global positions.
	FirstPosition, LastPosition int64
}

// Store is an event store.
type Store interface {
	// Append adds events to the end of a stream, atomically, if the stream is at the
	// expected version; otherwise it returns ErrVersionConflict and stores nothing.
	// Appending events whose ids were all stored before by the same append stores
	// nothing new and returns the first result.
	Append(ctx context.Context, stream Stream, expected ExpectedVersion, events ...NewEvent) (AppendResult, error)
	// ReadStream returns up to limit events of a stream with version >= from, in version
	// order. A stream without events returns an empty slice and no error.
	ReadStream(ctx context.Context, streamID string, from int64, limit int) ([]Event, error)
	// ReadAll returns up to limit events with global position > after, in position
	// order. It never skips an event that commits later with a smaller position.
	ReadAll(ctx context.Context, after int64, limit int) ([]Event, error)
	// StreamVersion returns the current version of a stream (0 when it has no events).
	StreamVersion(ctx context.Context, streamID string) (int64, error)
	// HeadPosition returns the highest global position that ReadAll can return now.
	HeadPosition(ctx context.Context) (int64, error)
}

// Notifier is implemented by stores that can say when new events may be readable, so
// subscribers do not have to poll at a high rate.
type Notifier interface {
	// Appended returns a channel that is closed once events may have been appended
	// after the call. Take it before reading, then wait on it: nothing is missed.
	// Spurious wake-ups are allowed.
	Appended() <-chan struct{}
}

// StreamTypeReader is implemented by stores that can leave out, on their side, the
// events of stream types a reader skips (a rebuild of one read model reads the whole
// store for a few stream types).
type StreamTypeReader interface {
	// ReadAllTypes reads as ReadAll(ctx, after, limit) does and returns, of those events,
	// the ones whose stream type is one of streamTypes, with how many events ReadAll
	// would have returned and the position of the last of them (after when none): the
	// next read goes on from there.
	ReadAllTypes(ctx context.Context, after int64, limit int, streamTypes []string) (events []Event, read int, last int64, err error)
}

// Backlogger is implemented by stores that can say how far behind a reader at a given
// position is, for lag metrics.
type Backlogger interface {
	// Backlog counts the events ReadAll would return after position (up to an
	// implementation-defined cap) and returns the recording time of the oldest of them
	// (zero when there are none).
	Backlog(ctx context.Context, after int64) (count int64, oldest time.Time, err error)
}

// NewID returns a new event id: a UUIDv7, so ids sort roughly by time.
func NewID() uuid.UUID {
	return uuid.Must(uuid.NewV7())
}

// Validate checks an append's arguments before any I/O.
func Validate(stream Stream, expected ExpectedVersion, events []NewEvent) error {
	var errs []error
	if stream.ID == "" {
		errs = append(errs, errors.New("empty stream id"))
	}
	if stream.Type == "" {
		errs = append(errs, errors.New("empty stream type"))
	}
	if expected < Any {
		errs = append(errs, fmt.Errorf("expected version %d is neither Any, NoStream nor a version", int64(expected)))
	}
	if len(events) == 0 {
		errs = append(errs, errors.New("no events"))
	}
	seen := make(map[uuid.UUID]bool, len(events))
	for i, e := range events {
		if e.ID == uuid.Nil {
			errs = append(errs, fmt.Errorf("event %d: no id", i))
		}
		if seen[e.ID] {
			errs = append(errs, fmt.Errorf("event %d: id %s repeated in the same append", i, e.ID))
		}
		seen[e.ID] = true
		if e.Type == "" {
			errs = append(errs, fmt.Errorf("event %d: no type", i))
		}
		if e.OccurredAt.IsZero() {
			errs = append(errs, fmt.Errorf("event %d: no occurred-at time", i))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidAppend, err)
	}
	return nil
}
