package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/ordo-platform/ordo/app"
)

type streamPageResponse struct {
	Stream          string                `json:"stream"`
	Events          []streamEventResponse `json:"events"`
	NextFromVersion int64                 `json:"next_from_version,omitempty"`
}

type streamEventResponse struct {
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	Version       int64           `json:"version"`
	Position      int64           `json:"position"`
	SchemaVersion int             `json:"schema_version"`
	OccurredAt    time.Time       `json:"occurred_at"`
	RecordedAt    time.Time       `json:"recorded_at"`
	CorrelationID string          `json:"correlation_id,omitempty"`
	CausationID   string          `json:"causation_id,omitempty"`
	Actor         string          `json:"actor,omitempty"`
	Data          json.RawMessage `json:"data"`
	DecodeError   string          `json:"decode_error,omitempty"`
}

// handleStreamEvents: GET /v1/streams/{stream}/events?from_version=&limit= (admin) →
// a page of the stream's events, decoded.
func (s *Server) handleStreamEvents(c echo.Context) error {
	q := app.ReadStreamEventsQuery{StreamID: c.Param("stream"), Actor: actor(c)}
	// Stream ids are text: bytes that are not UTF-8 (or a NUL) could name no stream, and
	// Postgres would refuse them as a parameter.
	if !utf8.ValidString(q.StreamID) || strings.ContainsRune(q.StreamID, 0) {
		return newProblem(http.StatusBadRequest, codeInvalidQuery, "the stream id must be UTF-8 text").
			withField("stream", "must be UTF-8 text without NUL")
	}
	bad := newProblem(http.StatusBadRequest, codeInvalidQuery, "query parameters must be integers")
	if v := c.QueryParam("from_version"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			bad = bad.withField("from_version", "must be an integer")
		}
		q.FromVersion = n
	}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			bad = bad.withField("limit", "must be an integer")
		}
		q.Limit = n
	}
	if len(bad.Fields) > 0 {
		return bad
	}
	page, err := s.readStreamEvents.Handle(c.Request().Context(), q)
	if err != nil {
		return err
	}
	out := streamPageResponse{Stream: page.StreamID, Events: make([]streamEventResponse, len(page.Events)), NextFromVersion: page.NextFromVersion}
	for i, e := range page.Events {
		out.Events[i] = eventView(e)
	}
	return c.JSON(http.StatusOK, out)
}

// eventView is an event as the API shows it: envelope, metadata and the payload decoded
// (null, with decode_error, when it could not be).
func eventView(e app.StreamEvent) streamEventResponse {
	r := streamEventResponse{
		ID: e.ID.String(), Type: e.Type, Version: e.Version, Position: e.Position, SchemaVersion: e.SchemaVersion,
		OccurredAt: e.OccurredAt.UTC(), RecordedAt: e.RecordedAt.UTC(), Actor: e.Metadata.Actor,
		Data: e.Data, DecodeError: e.DecodeError,
	}
	if e.Data == nil {
		r.Data = json.RawMessage("null")
	}
	if e.Metadata.CorrelationID != [16]byte{} {
		r.CorrelationID = e.Metadata.CorrelationID.String()
	}
	if e.Metadata.CausationID != [16]byte{} {
		r.CausationID = e.Metadata.CausationID.String()
	}
	return r
}
