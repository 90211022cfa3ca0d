package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/ordo-platform/ordo/app"
	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/eventstore"
)

// The live event stream of the operator console: GET /v1/admin/events reads the store in
// global order (ReadAll) and decodes each event, optionally keeping only one event type
// or one stream. Without ?after= it answers the newest events (the tail); with it, the
// events after that position, so a client that passes back next_after every second
// follows the store as it grows and never skips an event that commits late: ReadAll
// stops below the positions that a running transaction could still take.

// Limits of GET /v1/admin/events.
const (
	defaultEventsPage = 100
	maxEventsPage     = 500
	// eventsScanBudget bounds the events one request reads to find matches for a type
	// filter (a rare type in a busy store); the answer's next_after says where the scan
	// stopped, and the next poll goes on from there.
	eventsScanBudget = 20_000
	eventsReadPage   = 2_000
	// tailWindow bounds how far back the tail looks for events of a filtered type.
	tailWindow = 100_000
)

type adminEventsResponse struct {
	Events []adminEvent `json:"events"`
	// NextAfter is the position to pass as ?after= next time: the last position read
	// (matched or not), or the request's own after when nothing new was readable.
	NextAfter int64 `json:"next_after"`
	// Head is the highest position readable now; CaughtUp says the scan reached it.
	Head     int64 `json:"head"`
	CaughtUp bool  `json:"caught_up"`
	// Types are every event type the codec knows, for the console's filter.
	Types []string `json:"types"`
}

// adminEvent is an event of the store as GET /v1/streams/{stream}/events shows it, plus
// its stream and traceparent.
type adminEvent struct {
	StreamID   string `json:"stream_id"`
	StreamType string `json:"stream_type"`
	streamEventResponse
	TraceParent string `json:"traceparent,omitempty"`
}

type eventsQuery struct {
	after    int64
	hasAfter bool
	typ      string
	stream   string
	limit    int
}

func parseEventsQuery(c echo.Context) (eventsQuery, error) {
	q := eventsQuery{limit: defaultEventsPage, typ: c.QueryParam("type"), stream: c.QueryParam("stream")}
	bad := newProblem(http.StatusBadRequest, codeInvalidQuery, "invalid query parameters")
	if v := c.QueryParam("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			bad = bad.withField("after", "must be a position (an integer, 0 or more)")
		}
		q.after, q.hasAfter = n, true
	}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxEventsPage {
			bad = bad.withField("limit", fmt.Sprintf("must be an integer from 1 to %d", maxEventsPage))
		}
		q.limit = n
	}
	if len(q.typ) > 200 {
		bad = bad.withField("type", "too long")
	} else if !printableText(q.typ) {
		// Postgres refuses NUL and invalid UTF-8 in a text parameter: refuse them here
		// (400) rather than let the query fail (500).
		bad = bad.withField("type", "must be an event type name, such as order.placed")
	}
	if q.stream != "" {
		if _, _, err := domain.ParseStreamID(q.stream); err != nil {
			bad = bad.withField("stream", "must be a stream id, <type>-<uuid>")
		}
	}
	if len(bad.Fields) > 0 {
		bad.Detail = "invalid query parameters: see fields"
		return q, bad
	}
	return q, nil
}

// printableText reports whether s is valid UTF-8 without control characters (NUL
// included): what a name or an identifier in a query parameter may hold.
func printableText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

func (q eventsQuery) matches(e eventstore.Event) bool {
	return (q.typ == "" || e.Type == q.typ) && (q.stream == "" || e.StreamID == q.stream)
}

// handleAdminEvents: GET /v1/admin/events?after=&type=&stream=&limit= (admin).
func (s *Server) handleAdminEvents(c echo.Context) error {
	if s.deps.App == nil {
		return newProblem(http.StatusServiceUnavailable, codeUnavailable, "the event store is not served by this process")
	}
	q, err := parseEventsQuery(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	store := s.deps.App.Store
	head, err := store.HeadPosition(ctx)
	if err != nil {
		return err
	}
	if !q.hasAfter {
		// The tail: start just before the limit-th newest matching event.
		if q.after, err = s.tailStart(ctx, q, head); err != nil {
			return err
		}
	}
	var (
		events []eventstore.Event
		next   int64
		done   bool
	)
	if q.stream != "" {
		events, next, err = s.streamEventsAfter(ctx, q, head)
		done = true
	} else {
		events, next, done, err = s.scanEventsAfter(ctx, q, head)
	}
	if err != nil {
		return err
	}
	out := adminEventsResponse{Events: make([]adminEvent, 0, len(events)), NextAfter: next, Head: head,
		CaughtUp: done || next >= head, Types: s.deps.App.Codec.Types()}
	for _, e := range events {
		out.Events = append(out.Events, s.adminEvent(e))
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}

// scanEventsAfter reads the store after q.after in global order, keeping the matching
// events, until it has q.limit of them, reaches head or has read eventsScanBudget.
func (s *Server) scanEventsAfter(ctx context.Context, q eventsQuery, head int64) ([]eventstore.Event, int64, bool, error) {
	var (
		out     []eventstore.Event
		next    = q.after
		scanned int
	)
	for scanned < eventsScanBudget && next < head {
		page := eventsReadPage
		if q.typ == "" {
			page = q.limit - len(out) // nothing is filtered out: read exactly what is needed
		}
		batch, err := s.deps.App.Store.ReadAll(ctx, next, page)
		if err != nil {
			return nil, 0, false, err
		}
		for _, e := range batch {
			if e.Position > head {
				return out, next, true, nil // appended after this request began: next time
			}
			next = e.Position
			scanned++
			if q.matches(e) {
				out = append(out, e)
				if len(out) == q.limit {
					return out, next, next >= head, nil
				}
			}
		}
		if len(batch) < page {
			return out, next, true, nil
		}
	}
	return out, next, next >= head, nil
}

// streamEventsAfter answers a stream filter from the stream's own events (an index
// lookup, however busy the rest of the store is): those with a position in
// (q.after, head], in position order. Events of one stream almost always commit in
// version order, but not always in position order (a transaction that began early may
// commit the next version), so the read starts at the smallest version past q.after.
func (s *Server) streamEventsAfter(ctx context.Context, q eventsQuery, head int64) ([]eventstore.Event, int64, error) {
	var from int64
	err := s.deps.App.Store.Pool().QueryRow(ctx,
		`SELECT coalesce(min(version), 0) FROM events WHERE stream_id = $1 AND position > $2 AND position <= $3`,
		q.stream, q.after, head).Scan(&from)
	if err != nil {
		return nil, 0, fmt.Errorf("find stream %s after %d: %w", q.stream, q.after, err)
	}
	next := q.after
	if from == 0 {
		return nil, max(next, head), nil
	}
	var out []eventstore.Event
	for {
		batch, err := s.deps.App.Store.ReadStream(ctx, q.stream, from, eventsReadPage)
		if err != nil {
			return nil, 0, err
		}
		for _, e := range batch {
			if e.Position > q.after && e.Position <= head && q.matches(e) {
				out = append(out, e)
			}
		}
		if len(batch) < eventsReadPage {
			break
		}
		from = batch[len(batch)-1].Version + 1
	}
	sortByPosition(out)
	if len(out) > q.limit {
		out = out[:q.limit]
		return out, out[len(out)-1].Position, nil
	}
	return out, head, nil
}

func sortByPosition(es []eventstore.Event) {
	for i := 1; i < len(es); i++ { // nearly sorted already: insertion sort
		for j := i; j > 0 && es[j].Position < es[j-1].Position; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

// tailStart returns the position just before the q.limit-th newest event matching q
// (looking back at most tailWindow events, or the whole stream with a stream filter).
// The event store reads only forward, so this one query finds where to start.
func (s *Server) tailStart(ctx context.Context, q eventsQuery, head int64) (int64, error) {
	var (
		start int64
		err   error
		pool  = s.deps.App.Store.Pool()
	)
	if q.stream != "" {
		err = pool.QueryRow(ctx, `SELECT coalesce(min(position), 0) FROM (
			SELECT position FROM events WHERE stream_id = $1 AND position <= $2 AND ($3 = '' OR type = $3)
			ORDER BY version DESC LIMIT $4) last_n`, q.stream, head, q.typ, q.limit).Scan(&start)
	} else {
		err = pool.QueryRow(ctx, `SELECT coalesce(min(position), 0) FROM (
			SELECT position FROM (SELECT position, type FROM events WHERE position <= $1 ORDER BY position DESC LIMIT $2) recent
			WHERE $3 = '' OR type = $3 ORDER BY position DESC LIMIT $4) last_n`, head, tailWindow, q.typ, q.limit).Scan(&start)
	}
	if err != nil {
		return 0, fmt.Errorf("find the tail of the event store: %w", err)
	}
	if start == 0 { // nothing matches: follow from the head
		return head, nil
	}
	return start - 1, nil
}

func (s *Server) adminEvent(e eventstore.Event) adminEvent {
	data, err := s.deps.App.Codec.DecodeJSON(e.Type, e.SchemaVersion, e.Payload)
	decodeErr := ""
	if err != nil {
		decodeErr = err.Error()
	}
	return adminEvent{StreamID: e.StreamID, StreamType: e.StreamType, TraceParent: e.Metadata.TraceParent,
		streamEventResponse: eventView(app.StreamEvent{ID: e.ID, Type: e.Type, Version: e.Version, Position: e.Position,
			SchemaVersion: e.SchemaVersion, OccurredAt: e.OccurredAt, RecordedAt: e.RecordedAt, Metadata: e.Metadata,
			Data: data, DecodeError: decodeErr})}
}
