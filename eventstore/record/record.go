// Package record converts between stored events and Kafka records, the one wire format
// between the relay and every consumer: key = stream id, value = the Avro payload,
// headers = the rest of the envelope, timestamp = when the event was recorded.
package record

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
//
// The key and every header value are cut from one buffer (capacity-capped, so that no
// append to one can run into the next): a record costs three allocations rather than
// one per header. A Builder does better for many records at once.
func FromEvent(e eventstore.Event, names topic.Names) (*kgo.Record, error) {
	var b Builder
	return b.FromEvent(e, names)
}

// Builder builds the records of many events with a few allocations in all rather than
// three each: their keys and header values are cut from shared buffers, their headers
// from one slice and the records from another, each allocated room for many records at
// a time. That is most of what the relay's own CPU went to per event it published
// besides franz-go (allocating and then collecting three small objects per record).
//
// A record stays valid for as long as anything references it (a shared buffer lives as
// long as any record cut from it), and no record's slice can be appended into the next
// one's. A Builder is not safe for concurrent use; its zero value allocates exactly one
// record's room at a time, as FromEvent does.
type Builder struct {
	per  int                // records' room to allocate at a time (0: one)
	buf  []byte             // room for keys and header values: len used, cap all
	hdrs []kgo.RecordHeader // room for headers: len used, cap all
	recs []kgo.Record       // room for records: len used, cap all
	// The topics of the stream types met so far (a handful): a topic name is built by
	// concatenation, one allocation per record otherwise.
	prefix              string
	streamTypes, topics []string
}

// NewBuilder returns a Builder that allocates room for up to n records at a time, at
// most 128: larger rooms are allocated as large objects, cold and zeroed at once, and
// measured slower than four small allocations per record (BenchmarkBuilder).
func NewBuilder(n int) *Builder {
	return &Builder{per: min(max(n, 1), 128)}
}

// topic returns names' topic for streamType, from the Builder's own few if it has it.
func (b *Builder) topic(streamType string, names topic.Names) (string, error) {
	if names.Prefix != b.prefix {
		b.prefix, b.streamTypes, b.topics = names.Prefix, b.streamTypes[:0], b.topics[:0]
	}
	for i, st := range b.streamTypes {
		if st == streamType {
			return b.topics[i], nil
		}
	}
	t, err := names.ForStreamType(streamType)
	if err == nil && b.per > 1 && len(b.streamTypes) < 32 {
		b.streamTypes, b.topics = append(b.streamTypes, streamType), append(b.topics, t)
	}
	return t, err
}

// maxHeaders is how many headers a record has at most.
const maxHeaders = 13

// FromEvent builds the Kafka record of a stored event, for the topic names gives it.
func (b *Builder) FromEvent(e eventstore.Event, names topic.Names) (*kgo.Record, error) {
	t, err := b.topic(e.StreamType, names)
	if err != nil {
		return nil, err
	}
	const (
		uuidLen = 36
		intLen  = 20 // an int64 in decimal, sign included
		timeLen = len("2006-01-02T15:04:05.999999999Z")
	)
	// need bounds what this record appends to buf, so it never outgrows its room.
	need := len(e.StreamID) + len(e.Type) + uuidLen + intLen + 2*len(e.SchemaFingerprint) +
		len(e.StreamType) + 2*intLen + 2*timeLen + 2*uuidLen + len(e.Metadata.Actor) + len(e.Metadata.TraceParent)
	per := max(b.per, 1)
	if cap(b.buf)-len(b.buf) < need {
		b.buf = make([]byte, 0, need*per)
	}
	if cap(b.hdrs)-len(b.hdrs) < maxHeaders {
		b.hdrs = make([]kgo.RecordHeader, 0, maxHeaders*per)
	}
	if len(b.recs) == cap(b.recs) {
		b.recs = make([]kgo.Record, 0, per)
	}
	from := len(b.buf)
	buf := b.buf
	h := b.hdrs[len(b.hdrs) : len(b.hdrs) : len(b.hdrs)+maxHeaders]
	buf = append(buf, e.StreamID...)
	key := cut(buf, from)
	n := len(buf)
	buf = append(buf, e.Type...)
	h = append(h, kgo.RecordHeader{Key: HeaderEventType, Value: cut(buf, n)})
	n = len(buf)
	buf = appendUUID(buf, e.ID)
	h = append(h, kgo.RecordHeader{Key: HeaderEventID, Value: cut(buf, n)})
	n = len(buf)
	buf = strconv.AppendInt(buf, int64(e.SchemaVersion), 10)
	h = append(h, kgo.RecordHeader{Key: HeaderSchemaVersion, Value: cut(buf, n)})
	n = len(buf)
	buf = hex.AppendEncode(buf, e.SchemaFingerprint)
	h = append(h, kgo.RecordHeader{Key: HeaderSchemaFingerprint, Value: cut(buf, n)})
	n = len(buf)
	buf = append(buf, e.StreamType...)
	h = append(h, kgo.RecordHeader{Key: HeaderStreamType, Value: cut(buf, n)})
	n = len(buf)
	buf = strconv.AppendInt(buf, e.Version, 10)
	h = append(h, kgo.RecordHeader{Key: HeaderStreamVersion, Value: cut(buf, n)})
	n = len(buf)
	buf = strconv.AppendInt(buf, e.Position, 10)
	h = append(h, kgo.RecordHeader{Key: HeaderGlobalPosition, Value: cut(buf, n)})
	n = len(buf)
	buf = e.OccurredAt.UTC().AppendFormat(buf, time.RFC3339Nano)
	h = append(h, kgo.RecordHeader{Key: HeaderOccurredAt, Value: cut(buf, n)})
	n = len(buf)
	buf = e.RecordedAt.UTC().AppendFormat(buf, time.RFC3339Nano)
	h = append(h, kgo.RecordHeader{Key: HeaderRecordedAt, Value: cut(buf, n)})
	if e.Metadata.CorrelationID != uuid.Nil {
		n = len(buf)
		buf = appendUUID(buf, e.Metadata.CorrelationID)
		h = append(h, kgo.RecordHeader{Key: HeaderCorrelationID, Value: cut(buf, n)})
	}
	if e.Metadata.CausationID != uuid.Nil {
		n = len(buf)
		buf = appendUUID(buf, e.Metadata.CausationID)
		h = append(h, kgo.RecordHeader{Key: HeaderCausationID, Value: cut(buf, n)})
	}
	if e.Metadata.Actor != "" {
		n = len(buf)
		buf = append(buf, e.Metadata.Actor...)
		h = append(h, kgo.RecordHeader{Key: HeaderActor, Value: cut(buf, n)})
	}
	if e.Metadata.TraceParent != "" {
		n = len(buf)
		buf = append(buf, e.Metadata.TraceParent...)
		h = append(h, kgo.RecordHeader{Key: HeaderTraceParent, Value: cut(buf, n)})
	}
	// need bounds the appends for times in years 0-9999; had they outgrown the room, the
	// values cut before would keep pointing into the old array, unchanged, as would
	// headers appended past maxHeaders.
	b.buf = buf
	if len(h) <= maxHeaders {
		b.hdrs = b.hdrs[:len(b.hdrs)+len(h)]
	}
	// No Timestamp: the producer stamps the record when it is published. Kafka's
	// time-based retention counts from the record's timestamp, so stamping it with the
	// event's recorded-at would let a backlog published after a long relay outage be
	// deleted at once; recorded-at travels in its header.
	b.recs = append(b.recs, kgo.Record{
		Topic:   t,
		Key:     key,
		Value:   e.Payload,
		Headers: h[:len(h):len(h)],
	})
	return &b.recs[len(b.recs)-1], nil
}

// cut returns what was appended to buf since start, capacity-capped so that no append
// to it can run into what follows.
func cut(buf []byte, start int) []byte { return buf[start:len(buf):len(buf)] }

// appendUUID appends u in its canonical form (as uuid.UUID.String, without allocating).
func appendUUID(dst []byte, u uuid.UUID) []byte {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return append(dst, b[:]...)
}

// header bits, for the headers a record has.
const (
	bitEventType = 1 << iota
	bitEventID
	bitSchemaVersion
	bitSchemaFingerprint
	bitStreamType
	bitStreamVersion
	bitGlobalPosition
	bitOccurredAt
	bitRecordedAt
	bitCorrelationID
	bitCausationID
	bitActor
	bitTraceParent
)

var requiredHeaders = []struct {
	bit  int
	name string
}{
	{bitEventType, HeaderEventType}, {bitEventID, HeaderEventID}, {bitSchemaVersion, HeaderSchemaVersion},
	{bitStreamType, HeaderStreamType}, {bitStreamVersion, HeaderStreamVersion},
	{bitGlobalPosition, HeaderGlobalPosition}, {bitOccurredAt, HeaderOccurredAt}, {bitRecordedAt, HeaderRecordedAt},
}

// ToEvent reads the event back out of a record. Every header FromEvent always writes
// must be present and well formed; the optional ones may be missing.
//
// Every consumer calls it for every record, so it parses the values as FromEvent writes
// them without converting each to a string first (falling back to the general parsers
// for anything else), and makes one string for all the text of the event.
func ToEvent(r *kgo.Record) (eventstore.Event, error) {
	var (
		e                               eventstore.Event
		errs                            []error
		seen                            int
		unknown                         map[string]bool // headers of other writers, to refuse repeats as before
		typ, streamType, actor, traceID []byte
	)
	e.Payload = r.Value
	if len(r.Key) == 0 {
		errs = append(errs, errors.New("no key (stream id)"))
	}
	for _, h := range r.Headers {
		bit := headerBit(h.Key)
		if bit == 0 {
			if unknown[h.Key] {
				errs = append(errs, fmt.Errorf("header %s repeated", h.Key))
			}
			if unknown == nil {
				unknown = map[string]bool{}
			}
			unknown[h.Key] = true
			continue
		}
		if seen&bit != 0 {
			errs = append(errs, fmt.Errorf("header %s repeated", h.Key))
			continue
		}
		seen |= bit
		v := h.Value
		var err error
		switch bit {
		case bitEventType:
			typ = v
		case bitEventID:
			e.ID, err = uuid.ParseBytes(v)
		case bitSchemaVersion:
			var n int64
			n, err = parseInt(v)
			e.SchemaVersion = int(n)
		case bitSchemaFingerprint:
			e.SchemaFingerprint = make([]byte, hex.DecodedLen(len(v)))
			_, err = hex.Decode(e.SchemaFingerprint, v)
		case bitStreamType:
			streamType = v
		case bitStreamVersion:
			e.Version, err = parseInt(v)
		case bitGlobalPosition:
			e.Position, err = parseInt(v)
		case bitOccurredAt:
			e.OccurredAt, err = parseTime(v)
		case bitRecordedAt:
			e.RecordedAt, err = parseTime(v)
		case bitCorrelationID:
			e.Metadata.CorrelationID, err = uuid.ParseBytes(v)
		case bitCausationID:
			e.Metadata.CausationID, err = uuid.ParseBytes(v)
		case bitActor:
			actor = v
		case bitTraceParent:
			traceID = v
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("header %s %q: %w", h.Key, truncate(string(v)), err))
		}
	}
	for _, h := range requiredHeaders {
		if seen&h.bit == 0 {
			errs = append(errs, fmt.Errorf("header %s missing", h.name))
		}
	}
	if seen&bitStreamVersion != 0 && e.Version < 1 {
		errs = append(errs, fmt.Errorf("stream version %d: want >= 1", e.Version))
	}
	if err := errors.Join(errs...); err != nil {
		return eventstore.Event{}, fmt.Errorf("%w: %s/%d@%d: %w", ErrMalformed, r.Topic, r.Partition, r.Offset, err)
	}
	// One string for the stream id, types, actor and traceparent.
	var sb strings.Builder
	sb.Grow(len(r.Key) + len(typ) + len(streamType) + len(actor) + len(traceID))
	for _, b := range [][]byte{r.Key, typ, streamType, actor, traceID} {
		sb.Write(b)
	}
	all := sb.String()
	cut := func(n int) string { s := all[:n]; all = all[n:]; return s }
	e.StreamID, e.Type, e.StreamType = cut(len(r.Key)), cut(len(typ)), cut(len(streamType))
	e.Metadata.Actor, e.Metadata.TraceParent = cut(len(actor)), cut(len(traceID))
	return e, nil
}

func headerBit(key string) int {
	switch key {
	case HeaderEventType:
		return bitEventType
	case HeaderEventID:
		return bitEventID
	case HeaderSchemaVersion:
		return bitSchemaVersion
	case HeaderSchemaFingerprint:
		return bitSchemaFingerprint
	case HeaderStreamType:
		return bitStreamType
	case HeaderStreamVersion:
		return bitStreamVersion
	case HeaderGlobalPosition:
		return bitGlobalPosition
	case HeaderOccurredAt:
		return bitOccurredAt
	case HeaderRecordedAt:
		return bitRecordedAt
	case HeaderCorrelationID:
		return bitCorrelationID
	case HeaderCausationID:
		return bitCausationID
	case HeaderActor:
		return bitActor
	case HeaderTraceParent:
		return bitTraceParent
	}
	return 0
}

// parseInt parses a decimal as FromEvent writes it (digits, maybe a minus), and anything
// else the way strconv.ParseInt does.
func parseInt(b []byte) (int64, error) {
	digits := b
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 18 { // 18 digits cannot overflow
		return strconv.ParseInt(string(b), 10, 64)
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return strconv.ParseInt(string(b), 10, 64)
		}
		n = n*10 + int64(c-'0')
	}
	if len(digits) < len(b) {
		n = -n
	}
	return n, nil
}

// parseTime parses an RFC 3339 time in UTC as FromEvent writes it
// ("2006-01-02T15:04:05.999999999Z"), and anything else with time.Parse.
func parseTime(b []byte) (time.Time, error) {
	num := func(b []byte) int {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	if len(b) >= 20 && b[4] == '-' && b[7] == '-' && b[10] == 'T' && b[13] == ':' && b[16] == ':' && b[len(b)-1] == 'Z' {
		y, mo, d, h, mi, s := num(b[0:4]), num(b[5:7]), num(b[8:10]), num(b[11:13]), num(b[14:16]), num(b[17:19])
		ns, ok := 0, true
		if frac := b[19 : len(b)-1]; len(frac) > 0 {
			ok = frac[0] == '.' && len(frac) >= 2 && len(frac) <= 10
			if ok {
				if ns = num(frac[1:]); ns < 0 {
					ok = false
				}
				for range 10 - len(frac) {
					ns *= 10
				}
			}
		}
		if ok && y >= 0 && mo >= 1 && mo <= 12 && d >= 1 && h >= 0 && h <= 23 && mi >= 0 && mi <= 59 && s >= 0 && s <= 59 {
			t := time.Date(y, time.Month(mo), d, h, mi, s, ns, time.UTC)
			if t.Day() == d { // not normalized from a day the month does not have
				return t, nil
			}
		}
	}
	return time.Parse(time.RFC3339Nano, string(b))
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
