package app

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/eventstore"
)

// Page limits of ReadStreamEvents.
const (
	DefaultStreamPage = 100
	MaxStreamPage     = 1000
)

// CodeStreamNotFound: the stream has no events.
const CodeStreamNotFound = "stream_not_found"

// ReadStreamEventsQuery asks for a page of a stream's events, from FromVersion on.
type ReadStreamEventsQuery struct {
	StreamID string
	// FromVersion is the first version to return (1 when zero).
	FromVersion int64
	// Limit is the page size (DefaultStreamPage when zero, at most MaxStreamPage).
	Limit int
	Actor Actor
}

// StreamEvent is a stored event with its payload decoded to JSON.
type StreamEvent struct {
	ID            uuid.UUID
	Type          string
	Version       int64
	Position      int64
	SchemaVersion int
	OccurredAt    time.Time
	RecordedAt    time.Time
	Metadata      eventstore.Metadata
	// Data is the payload as JSON (secrets redacted), or nil when it could not be
	// decoded; DecodeError then says why.
	Data        json.RawMessage
	DecodeError string
}

// StreamPage is a page of events. NextFromVersion is where the next page starts, or 0
// when this page reached the end of the stream.
type StreamPage struct {
	StreamID        string
	Events          []StreamEvent
	NextFromVersion int64
}

// ReadStreamEvents returns the raw events of any stream, decoded (admins only): the
// operator's view of the source of truth.
type ReadStreamEvents struct{ env *Env }

// NewReadStreamEvents returns the handler.
func NewReadStreamEvents(env *Env) *ReadStreamEvents { return &ReadStreamEvents{env: env} }

// Handle returns one page. A stream without events is a NotFound error.
func (h *ReadStreamEvents) Handle(ctx context.Context, q ReadStreamEventsQuery) (StreamPage, error) {
	if err := requireAdmin(q.Actor); err != nil {
		return StreamPage{}, err
	}
	var errFrom, errLimit error
	if q.FromVersion == 0 {
		q.FromVersion = 1
	}
	if q.FromVersion < 1 {
		errFrom = domain.Invalid(domain.CodeInvalidInput, "from_version", "from_version must be at least 1")
	}
	if q.Limit == 0 {
		q.Limit = DefaultStreamPage
	}
	if q.Limit < 1 || q.Limit > MaxStreamPage {
		errLimit = domain.Invalid(domain.CodeInvalidInput, "limit", fmt.Sprintf("limit must be between 1 and %d", MaxStreamPage))
	}
	_, _, errStream := domain.ParseStreamID(q.StreamID)
	if err := domain.JoinValidation(errStream, errFrom, errLimit); err != nil {
		return StreamPage{}, err
	}
	events, err := h.env.Store.ReadStream(ctx, q.StreamID, q.FromVersion, q.Limit+1)
	if err != nil {
		return StreamPage{}, fmt.Errorf("read stream %s: %w", q.StreamID, err)
	}
	page := StreamPage{StreamID: q.StreamID, Events: make([]StreamEvent, 0, min(len(events), q.Limit))}
	if len(events) == 0 {
		v, err := h.env.Store.StreamVersion(ctx, q.StreamID)
		if err != nil {
			return StreamPage{}, fmt.Errorf("version of stream %s: %w", q.StreamID, err)
		}
		if v == 0 {
			return StreamPage{}, domain.NotFound(CodeStreamNotFound, fmt.Sprintf("stream %s has no events", q.StreamID))
		}
	}
	if len(events) > q.Limit {
		events = events[:q.Limit]
		page.NextFromVersion = events[len(events)-1].Version + 1
	}
	for _, e := range events {
		se := StreamEvent{
			ID: e.ID, Type: e.Type, Version: e.Version, Position: e.Position, SchemaVersion: e.SchemaVersion,
			OccurredAt: e.OccurredAt, RecordedAt: e.RecordedAt, Metadata: e.Metadata,
		}
		data, err := h.env.Codec.DecodeJSON(e.Type, e.SchemaVersion, e.Payload)
		if err != nil {
			se.DecodeError = err.Error()
		} else {
			se.Data = data
		}
		page.Events = append(page.Events, se)
	}
	return page, nil
}
