package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/eventstore/record"
)

// The dead-letter topic in the operator console. GET /v1/admin/dlq reads the newest
// records of the topic straight from its partitions (no consumer group, so looking
// commits nothing and disturbs no one), decodes each where it can, and says which were
// re-driven. POST /v1/admin/dlq/redrive re-produces records, without their dlq-*
// headers, to the topic they came from, once: each re-drive is recorded in
// dlq_redrives in the transaction that waits for Kafka's acknowledgement.

// Limits of the DLQ routes.
const (
	defaultDLQPage = 100
	maxDLQPage     = 1000
	// maxRedrive bounds the records one POST re-drives (all=true takes the oldest
	// first; the answer's remaining says how many are left).
	maxRedrive = 1000
	// dlqReadTimeout bounds reading the partitions of the dead-letter topic.
	dlqReadTimeout = 10 * time.Second
)

const (
	codeDLQRecordNotFound = "dlq_record_not_found"
	dlqHeaderPrefix       = "dlq-"
)

type dlqResponse struct {
	Topic string `json:"topic"`
	// Total is the number of records the topic holds now (end minus start offsets).
	Total   int64       `json:"total"`
	Records []dlqRecord `json:"records"`
}

type dlqRecord struct {
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Timestamp time.Time `json:"timestamp"`
	Key       string    `json:"key"`
	// The dead-letter headers: why, who and where from.
	Reason          string     `json:"reason"`
	Group           string     `json:"group,omitempty"`
	Source          string     `json:"source,omitempty"` // "relay" for the relay's dead letters
	SourceTopic     string     `json:"source_topic,omitempty"`
	SourcePartition *int32     `json:"source_partition,omitempty"`
	SourceOffset    *int64     `json:"source_offset,omitempty"`
	DeadLetteredAt  *time.Time `json:"dead_lettered_at,omitempty"`
	// Headers are the original record's headers (the dlq-* ones are above).
	Headers map[string]string `json:"headers"`
	// Event is the record decoded as an Ordo event; DecodeError says why it could not be,
	// and ValuePreview then shows the start of the value (text, or base64 for binary).
	Event        *dlqEvent `json:"event,omitempty"`
	DecodeError  string    `json:"decode_error,omitempty"`
	ValuePreview string    `json:"value_preview,omitempty"`
	ValueBytes   int       `json:"value_bytes"`
	// Target is where a re-drive sends it ("" with RedriveProblem when it cannot be).
	Target         string   `json:"target,omitempty"`
	RedriveProblem string   `json:"redrive_problem,omitempty"`
	Redriven       *redrive `json:"redriven,omitempty"`
}

type dlqEvent struct {
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	StreamID      string          `json:"stream_id"`
	StreamType    string          `json:"stream_type"`
	Version       int64           `json:"version"`
	Position      int64           `json:"position"`
	OccurredAt    time.Time       `json:"occurred_at"`
	Data          json.RawMessage `json:"data,omitempty"`
}

type redrive struct {
	At              time.Time `json:"at"`
	By              string    `json:"by"`
	TargetTopic     string    `json:"target_topic"`
	TargetPartition *int32    `json:"target_partition,omitempty"`
	TargetOffset    *int64    `json:"target_offset,omitempty"`
}

func (s *Server) dlqReady() error {
	a := s.deps.Admin
	if a.Kafka == nil || a.NewKafkaClient == nil || a.Topics.Prefix == "" || s.deps.App == nil {
		return newProblem(http.StatusServiceUnavailable, codeUnavailable, "the dead-letter topic is not served by this process")
	}
	return nil
}

// handleAdminDLQ: GET /v1/admin/dlq?limit= (admin) → the newest records, oldest first.
func (s *Server) handleAdminDLQ(c echo.Context) error {
	if err := s.dlqReady(); err != nil {
		return err
	}
	limit := defaultDLQPage
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxDLQPage {
			return newProblem(http.StatusBadRequest, codeInvalidQuery, fmt.Sprintf("limit must be an integer from 1 to %d", maxDLQPage)).
				withField("limit", fmt.Sprintf("not an integer from 1 to %d", maxDLQPage))
		}
		limit = n
	}
	ctx := c.Request().Context()
	dlq := s.deps.Admin.Topics.DeadLetter()
	starts, ends, err := s.dlqOffsets(ctx)
	if err != nil {
		return err
	}
	out := dlqResponse{Topic: dlq, Records: []dlqRecord{}}
	from := map[int32]int64{}
	to := map[int32]int64{}
	ends.Each(func(end kadm.ListedOffset) {
		start, _ := starts.Lookup(dlq, end.Partition)
		if end.Offset > start.Offset {
			out.Total += end.Offset - start.Offset
			from[end.Partition] = max(start.Offset, end.Offset-int64(limit))
			to[end.Partition] = end.Offset
		}
	})
	recs, err := s.readDLQ(ctx, from, to)
	if err != nil {
		return err
	}
	// Newest last: by time of dead-lettering, then where they sit.
	slices.SortStableFunc(recs, func(a, b *kgo.Record) int {
		if c := a.Timestamp.Compare(b.Timestamp); c != 0 {
			return c
		}
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	if len(recs) > limit {
		recs = recs[len(recs)-limit:]
	}
	done, err := s.redriven(ctx, dlq, recs)
	if err != nil {
		return err
	}
	for _, r := range recs {
		d := s.describeDLQ(r)
		if rd, ok := done[dlqKey{r.Partition, r.Offset}]; ok {
			d.Redriven = &rd
		}
		out.Records = append(out.Records, d)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}

func (s *Server) dlqOffsets(ctx context.Context) (kadm.ListedOffsets, kadm.ListedOffsets, error) {
	ctx, cancel := context.WithTimeout(ctx, dlqReadTimeout)
	defer cancel()
	adm := kadm.NewClient(s.deps.Admin.Kafka)
	dlq := s.deps.Admin.Topics.DeadLetter()
	starts, err := adm.ListStartOffsets(ctx, dlq)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, nil, kafkaUnavailable("list the dead-letter topic's offsets", err)
	}
	ends, err := adm.ListEndOffsets(ctx, dlq)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, nil, kafkaUnavailable("list the dead-letter topic's offsets", err)
	}
	return starts, ends, nil
}

func kafkaUnavailable(what string, err error) *Problem {
	p := newProblem(http.StatusServiceUnavailable, codeUnavailable, "Kafka did not answer; retry shortly").withHeader("Retry-After", "2")
	p.cause = fmt.Errorf("%s: %w", what, err)
	return p
}

// readDLQ reads the dead-letter topic's partitions from from[p] up to to[p]
// (exclusive), directly.
func (s *Server) readDLQ(ctx context.Context, from, to map[int32]int64) ([]*kgo.Record, error) {
	if len(from) == 0 {
		return nil, nil
	}
	dlq := s.deps.Admin.Topics.DeadLetter()
	offsets := map[int32]kgo.Offset{}
	for p, o := range from {
		offsets[p] = kgo.NewOffset().At(o)
	}
	cl, err := s.deps.Admin.NewKafkaClient(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{dlq: offsets}))
	if err != nil {
		return nil, kafkaUnavailable("read the dead-letter topic", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, dlqReadTimeout)
	defer cancel()
	pending := map[int32]bool{}
	for p := range from {
		pending[p] = true
	}
	var out []*kgo.Record
	for len(pending) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			// Offsets that hold no record (transaction markers, compaction) never arrive:
			// what was read is the answer.
			break
		}
		if err := fs.Err0(); err != nil && !errors.Is(err, context.Canceled) {
			return nil, kafkaUnavailable("read the dead-letter topic", err)
		}
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				if r.Offset < to[p.Partition] {
					out = append(out, r)
				}
				if r.Offset+1 >= to[p.Partition] {
					delete(pending, p.Partition)
				}
			}
			if p.HighWatermark > 0 && p.HighWatermark <= from[p.Partition] {
				delete(pending, p.Partition)
			}
		})
	}
	return out, nil
}

type dlqKey struct {
	partition int32
	offset    int64
}

// redriven returns the re-drives recorded for recs.
func (s *Server) redriven(ctx context.Context, dlq string, recs []*kgo.Record) (map[dlqKey]redrive, error) {
	out := map[dlqKey]redrive{}
	if len(recs) == 0 {
		return out, nil
	}
	parts, offs := make([]int32, len(recs)), make([]int64, len(recs))
	for i, r := range recs {
		parts[i], offs[i] = r.Partition, r.Offset
	}
	rows, err := s.deps.App.Store.Pool().Query(ctx, `SELECT r."partition", r."offset", r.redriven_at, r.redriven_by,
			r.target_topic, r.target_partition, r.target_offset
		FROM dlq_redrives r JOIN unnest($2::int[], $3::bigint[]) AS k(p, o) ON r."partition" = k.p AND r."offset" = k.o
		WHERE r.topic = $1`, dlq, parts, offs)
	if err != nil {
		return nil, fmt.Errorf("read dlq_redrives: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k  dlqKey
			rd redrive
			by [16]byte
		)
		if err := rows.Scan(&k.partition, &k.offset, &rd.At, &by, &rd.TargetTopic, &rd.TargetPartition, &rd.TargetOffset); err != nil {
			return nil, fmt.Errorf("read dlq_redrives: %w", err)
		}
		rd.At = rd.At.UTC()
		rd.By = uuid.UUID(by).String()
		out[k] = rd
	}
	return out, rows.Err()
}

// describeDLQ turns a dead letter into what the console shows.
func (s *Server) describeDLQ(r *kgo.Record) dlqRecord {
	d := dlqRecord{Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UTC(), Key: string(r.Key),
		Headers: map[string]string{}, ValueBytes: len(r.Value)}
	for _, h := range r.Headers {
		v := string(h.Value)
		switch h.Key {
		case "dlq-reason":
			d.Reason = v
		case "dlq-group":
			d.Group = v
		case "dlq-source":
			d.Source = v
		case "dlq-topic":
			d.SourceTopic = v
		case "dlq-partition":
			if n, err := strconv.ParseInt(v, 10, 32); err == nil {
				p := int32(n)
				d.SourcePartition = &p
			}
		case "dlq-offset":
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				d.SourceOffset = &n
			}
		case "dlq-at":
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				t = t.UTC()
				d.DeadLetteredAt = &t
			}
		default:
			if !strings.HasPrefix(h.Key, dlqHeaderPrefix) {
				d.Headers[h.Key] = printable(h.Value, 512)
			}
		}
	}
	orig := original(r)
	e, err := record.ToEvent(orig)
	if err == nil {
		ev := &dlqEvent{ID: e.ID.String(), Type: e.Type, SchemaVersion: e.SchemaVersion, StreamID: e.StreamID,
			StreamType: e.StreamType, Version: e.Version, Position: e.Position, OccurredAt: e.OccurredAt.UTC()}
		var data []byte
		if data, err = s.deps.App.Codec.DecodeJSON(e.Type, e.SchemaVersion, e.Payload); err == nil {
			ev.Data = data
		}
		d.Event = ev
	}
	if err != nil {
		d.DecodeError = err.Error()
		// The raw bytes of an event type the codec knows may hold what its decoded form
		// redacts (password hashes): only bytes of no known type are shown.
		if _, known := s.deps.App.Codec.Latest(headerValue(r, record.HeaderEventType)); known {
			d.ValuePreview = "(not shown: the payload of a known event type may hold secrets)"
		} else {
			d.ValuePreview = printable(r.Value, 512)
		}
	}
	if t, err := s.redriveTarget(r); err != nil {
		d.RedriveProblem = err.Error()
	} else {
		d.Target = t
	}
	return d
}

func headerValue(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// printable shows b as text when it is UTF-8 without control characters, else as
// base64; at most n bytes of it.
func printable(b []byte, n int) string {
	cut := b
	more := ""
	if len(cut) > n {
		cut, more = cut[:n], "…"
	}
	if utf8.Valid(cut) && !strings.ContainsFunc(string(cut), func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' }) {
		return string(cut) + more
	}
	return "base64:" + base64.StdEncoding.EncodeToString(cut) + more
}

// original is the record as it was before it was dead-lettered: same key and value, its
// headers without the dlq-* ones.
func original(r *kgo.Record) *kgo.Record {
	o := &kgo.Record{Key: r.Key, Value: r.Value, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
	for _, h := range r.Headers {
		if !strings.HasPrefix(h.Key, dlqHeaderPrefix) {
			o.Headers = append(o.Headers, h)
		}
	}
	return o
}

// redriveTarget is the event topic a dead letter came from: its dlq-topic header (a
// consumer's dead letter) or, for the relay's, the topic of its stream type. Only
// Ordo's event topics qualify: a re-drive never writes anywhere else.
func (s *Server) redriveTarget(r *kgo.Record) (string, error) {
	var target, streamType string
	for _, h := range r.Headers {
		switch h.Key {
		case "dlq-topic":
			target = string(h.Value)
		case record.HeaderStreamType:
			streamType = string(h.Value)
		}
	}
	names := s.deps.Admin.Topics
	if target == "" {
		if streamType == "" {
			return "", errors.New("the record names no original topic (no dlq-topic or stream-type header)")
		}
		t, err := names.ForStreamType(streamType)
		if err != nil {
			return "", fmt.Errorf("stream type %q has no topic (fix the code, then re-drive)", truncateParam(streamType))
		}
		target = t
	}
	if !slices.Contains(names.Events(), target) {
		return "", fmt.Errorf("original topic %q is not one of Ordo's event topics", truncateParam(target))
	}
	return target, nil
}

type redriveRequest struct {
	Records []redriveRef `json:"records"`
	All     bool         `json:"all"`
}

type redriveRef struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
}

type redriveResponse struct {
	Redriven []redriveOutcome `json:"redriven"`
	// Skipped were re-driven before (by anyone): nothing was produced for them.
	Skipped []redriveOutcome `json:"skipped"`
	Failed  []redriveOutcome `json:"failed"`
	// Remaining counts records of an all=true request left for another one.
	Remaining int `json:"remaining"`
}

type redriveOutcome struct {
	Partition       int32      `json:"partition"`
	Offset          int64      `json:"offset"`
	TargetTopic     string     `json:"target_topic,omitempty"`
	TargetPartition *int32     `json:"target_partition,omitempty"`
	TargetOffset    *int64     `json:"target_offset,omitempty"`
	RedrivenAt      *time.Time `json:"redriven_at,omitempty"`
	Error           string     `json:"error,omitempty"`
}

// handleAdminRedrive: POST /v1/admin/dlq/redrive {records:[{partition, offset}]} or
// {all:true} (admin) → 200 with what was re-driven, skipped (done before) and failed.
func (s *Server) handleAdminRedrive(c echo.Context) error {
	if err := s.dlqReady(); err != nil {
		return err
	}
	var req redriveRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	switch {
	case req.All == (len(req.Records) > 0):
		return newProblem(http.StatusUnprocessableEntity, domain.CodeInvalidInput, "give either records (a list of {partition, offset}) or all: true").
			withField("records", "give records or all, not both or neither")
	case len(req.Records) > maxRedrive:
		return newProblem(http.StatusUnprocessableEntity, domain.CodeInvalidInput, fmt.Sprintf("at most %d records per request", maxRedrive)).
			withField("records", fmt.Sprintf("at most %d", maxRedrive))
	}
	ctx := c.Request().Context()
	dlq := s.deps.Admin.Topics.DeadLetter()
	starts, ends, err := s.dlqOffsets(ctx)
	if err != nil {
		return err
	}
	from, to := map[int32]int64{}, map[int32]int64{}
	want := map[dlqKey]bool{}
	if req.All {
		ends.Each(func(end kadm.ListedOffset) {
			if start, _ := starts.Lookup(dlq, end.Partition); end.Offset > start.Offset {
				from[end.Partition], to[end.Partition] = start.Offset, end.Offset
			}
		})
	} else {
		for _, ref := range req.Records {
			end, ok := ends.Lookup(dlq, ref.Partition)
			start, _ := starts.Lookup(dlq, ref.Partition)
			if !ok || ref.Offset < start.Offset || ref.Offset >= end.Offset {
				return newProblem(http.StatusNotFound, codeDLQRecordNotFound,
					fmt.Sprintf("the dead-letter topic has no record at partition %d, offset %d", ref.Partition, ref.Offset))
			}
			k := dlqKey{ref.Partition, ref.Offset}
			want[k] = true
			if f, ok := from[k.partition]; !ok || k.offset < f {
				from[k.partition] = k.offset
			}
			to[k.partition] = max(to[k.partition], k.offset+1)
		}
	}
	recs, err := s.readDLQ(ctx, from, to)
	if err != nil {
		return err
	}
	if !req.All {
		recs = slices.DeleteFunc(recs, func(r *kgo.Record) bool { return !want[dlqKey{r.Partition, r.Offset}] })
		if len(recs) < len(want) {
			return newProblem(http.StatusNotFound, codeDLQRecordNotFound, "some of the records could not be read from the dead-letter topic")
		}
	}
	slices.SortStableFunc(recs, func(a, b *kgo.Record) int { return a.Timestamp.Compare(b.Timestamp) })
	out := redriveResponse{Redriven: []redriveOutcome{}, Skipped: []redriveOutcome{}, Failed: []redriveOutcome{}}
	if req.All {
		done, err := s.redriven(ctx, dlq, recs)
		if err != nil {
			return err
		}
		recs = slices.DeleteFunc(recs, func(r *kgo.Record) bool {
			_, ok := done[dlqKey{r.Partition, r.Offset}]
			return ok
		})
		if len(recs) > maxRedrive {
			out.Remaining = len(recs) - maxRedrive
			recs = recs[:maxRedrive]
		}
	}
	by := uuid.UUID(actor(c).UserID)
	for _, r := range recs {
		o, skipped, err := s.redriveOne(ctx, dlq, r, by)
		switch {
		case err != nil:
			o.Error = err.Error()
			out.Failed = append(out.Failed, o)
		case skipped:
			out.Skipped = append(out.Skipped, o)
		default:
			out.Redriven = append(out.Redriven, o)
		}
	}
	if len(out.Redriven) > 0 {
		s.log.InfoContext(ctx, "dead letters re-driven", "count", len(out.Redriven), "skipped", len(out.Skipped),
			"failed", len(out.Failed), "user_id", by.String())
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}

// redriveOne re-produces r to its original topic unless it was re-driven before. The
// dlq_redrives row is inserted first (a concurrent re-drive of the same record waits
// on it) and committed only after Kafka acknowledged the record; a failed produce rolls
// it back so that the record can be re-driven again.
func (s *Server) redriveOne(ctx context.Context, dlq string, r *kgo.Record, by uuid.UUID) (redriveOutcome, bool, error) {
	o := redriveOutcome{Partition: r.Partition, Offset: r.Offset}
	target, err := s.redriveTarget(r)
	if err != nil {
		return o, false, err
	}
	o.TargetTopic = target
	skipped := false
	err = pgx.BeginFunc(ctx, s.deps.App.Store.Pool(), func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO dlq_redrives (topic, "partition", "offset", target_topic, redriven_by)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, dlq, r.Partition, r.Offset, target, by)
		if err != nil {
			return fmt.Errorf("record the re-drive: %w", err)
		}
		if tag.RowsAffected() == 0 {
			skipped = true
			var at time.Time
			if err := tx.QueryRow(ctx, `SELECT redriven_at FROM dlq_redrives WHERE topic = $1 AND "partition" = $2 AND "offset" = $3`,
				dlq, r.Partition, r.Offset).Scan(&at); err == nil {
				at = at.UTC()
				o.RedrivenAt = &at
			}
			return nil
		}
		rec := original(r)
		rec.Topic, rec.Partition, rec.Offset = target, 0, 0
		pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		res, err := s.deps.Admin.Kafka.ProduceSync(pctx, rec).First()
		if err != nil {
			return fmt.Errorf("produce to %s: %w", target, err)
		}
		o.TargetPartition, o.TargetOffset = &res.Partition, &res.Offset
		now := time.Now().UTC()
		o.RedrivenAt = &now
		_, err = tx.Exec(ctx, `UPDATE dlq_redrives SET target_partition = $4, target_offset = $5
			WHERE topic = $1 AND "partition" = $2 AND "offset" = $3`, dlq, r.Partition, r.Offset, res.Partition, res.Offset)
		return err
	})
	return o, skipped, err
}
