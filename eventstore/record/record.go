// Package record converts between stored events and Kafka records, the one wire format
// between the relay and every consumer: key = stream id, value = the Avro payload,
// headers = the rest of the envelope, timestamp = when the event was recorded.
package record

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/internal/topic"
)

// Header names.
const (
	HeaderEventType         = "event-type"
	HeaderEventID           = "event-id"
	HeaderSchemaVersion     = "schema-version"
	HeaderSchemaFingerprint = "schema-fingerprint"
	HeaderStreamType        = "stream-type"
	HeaderStreamVersion     = "stream-version"
	HeaderGlobalPosition    = "global-position"
	HeaderOccurredAt        = "occurred-at"
	HeaderRecordedAt        = "recorded-at"
	HeaderCorrelationID     = "correlation-id"
	HeaderCausationID       = "causation-id"
	HeaderActor             = "actor"
	HeaderTraceParent       = "traceparent"
)

// ErrMalformed: a record is not an Ordo event record.
var ErrMalformed = errors.New("record: not an ordo event")

// FromEvent builds the Kafka record of a stored event, for the topic names gives it.
func FromEvent(e eventstore.Event, names topic.Names) (*kgo.Record, error) {
	t, err := names.ForStreamType(e.StreamType)
	if err != nil {
		return nil, err
	}
	h := []kgo.RecordHeader{
		{Key: HeaderEventType, Value: []byte(e.Type)},
		{Key: HeaderEventID, Value: []byte(e.ID.String())},
		{Key: HeaderSchemaVersion, Value: []byte(strconv.Itoa(e.SchemaVersion))},
		{Key: HeaderSchemaFingerprint, Value: []byte(hex.EncodeToString(e.SchemaFingerprint))},
		{Key: HeaderStreamType, Value: []byte(e.StreamType)},
		{Key: HeaderStreamVersion, Value: []byte(strconv.FormatInt(e.Version, 10))},
		{Key: HeaderGlobalPosition, Value: []byte(strconv.FormatInt(e.Position, 10))},
		{Key: HeaderOccurredAt, Value: []byte(e.OccurredAt.UTC().Format(time.RFC3339Nano))},
		{Key: HeaderRecordedAt, Value: []byte(e.RecordedAt.UTC().Format(time.RFC3339Nano))},
	}
	if e.Metadata.CorrelationID != uuid.Nil {
		h = append(h, kgo.RecordHeader{Key: HeaderCorrelationID, Value: []byte(e.Metadata.CorrelationID.String())})
	}
	if e.Metadata.CausationID != uuid.Nil {
		h = append(h, kgo.RecordHeader{Key: HeaderCausationID, Value: []byte(e.Metadata.CausationID.String())})
	}
	if e.Metadata.Actor != "" {
		h = append(h, kgo.RecordHeader{Key: HeaderActor, Value: []byte(e.Metadata.Actor)})
	}
	if e.Metadata.TraceParent != "" {
		h = append(h, kgo.RecordHeader{Key: HeaderTraceParent, Value: []byte(e.Metadata.TraceParent)})
	}
	return &kgo.Record{
		Topic:     t,
		Key:       []byte(e.StreamID),
		Value:     e.Payload,
		Headers:   h,
		Timestamp: e.RecordedAt,
	}, nil
}

// ToEvent reads the event back out of a record. Every header FromEvent always writes
// must be present and well formed; the optional ones may be missing.
func ToEvent(r *kgo.Record) (eventstore.Event, error) {
	var (
		e    eventstore.Event
		errs []error
		seen = map[string]bool{}
	)
	e.StreamID = string(r.Key)
	e.Payload = r.Value
	if e.StreamID == "" {
		errs = append(errs, errors.New("no key (stream id)"))
	}
	for _, h := range r.Headers {
		if seen[h.Key] {
			errs = append(errs, fmt.Errorf("header %s repeated", h.Key))
			continue
		}
		seen[h.Key] = true
		v := string(h.Value)
		var err error
		switch h.Key {
		case HeaderEventType:
			e.Type = v
		case HeaderEventID:
			e.ID, err = uuid.Parse(v)
		case HeaderSchemaVersion:
			e.SchemaVersion, err = strconv.Atoi(v)
		case HeaderSchemaFingerprint:
			e.SchemaFingerprint, err = hex.DecodeString(v)
		case HeaderStreamType:
			e.StreamType = v
		case HeaderStreamVersion:
			e.Version, err = strconv.ParseInt(v, 10, 64)
		case HeaderGlobalPosition:
			e.Position, err = strconv.ParseInt(v, 10, 64)
		case HeaderOccurredAt:
			e.OccurredAt, err = time.Parse(time.RFC3339Nano, v)
		case HeaderRecordedAt:
			e.RecordedAt, err = time.Parse(time.RFC3339Nano, v)
		case HeaderCorrelationID:
			e.Metadata.CorrelationID, err = uuid.Parse(v)
		case HeaderCausationID:
			e.Metadata.CausationID, err = uuid.Parse(v)
		case HeaderActor:
			e.Metadata.Actor = v
		case HeaderTraceParent:
			e.Metadata.TraceParent = v
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("header %s %q: %w", h.Key, truncate(v), err))
		}
	}
	for _, k := range []string{HeaderEventType, HeaderEventID, HeaderSchemaVersion, HeaderStreamType, HeaderStreamVersion, HeaderGlobalPosition, HeaderOccurredAt, HeaderRecordedAt} {
		if !seen[k] {
			errs = append(errs, fmt.Errorf("header %s missing", k))
		}
	}
	if seen[HeaderStreamVersion] && e.Version < 1 {
		errs = append(errs, fmt.Errorf("stream version %d: want >= 1", e.Version))
	}
	if err := errors.Join(errs...); err != nil {
		return eventstore.Event{}, fmt.Errorf("%w: %s/%d@%d: %w", ErrMalformed, r.Topic, r.Partition, r.Offset, err)
	}
	return e, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
