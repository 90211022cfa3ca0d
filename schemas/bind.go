package schemas

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/ordo-platform/ordo/domain"
)

// binding connects one domain event type to the Go struct that mirrors its
// newest Avro schema. R carries `avro` tags (and identical `json` tags, for
// DecodeJSON); toRecord and toEvent are the hand-written mapping.
type binding struct {
	eventType string
	sample    domain.Event // zero value of the domain type
	record    reflect.Type // R
	encode    func(api avro.API, schema avro.Schema, e domain.Event) ([]byte, error)
	decode    func(r *avro.Reader, schema avro.Schema) (domain.Event, error)
	// decodeJSON decodes like decode and renders the event as JSON too.
	decodeJSON func(r *avro.Reader, schema avro.Schema) (domain.Event, []byte, error)
	// writeJSON renders an R as json.Marshal does, faster; nil when R has a field it
	// does not support (decodeJSON then uses Marshal).
	writeJSON jsonWriter
}

func bind[E domain.Event, R any](toRecord func(E) R, toEvent func(*R) (E, error)) binding {
	var zero E
	writeJSON := jsonWriterFor(reflect.TypeFor[R]())
	readEvent := func(r *avro.Reader, schema avro.Schema) (E, error) {
		var rec R
		r.ReadVal(schema, &rec)
		if err := finish(r); err != nil {
			return zero, err
		}
		return toEvent(&rec)
	}
	return binding{
		eventType: zero.EventType(),
		sample:    zero,
		record:    reflect.TypeFor[R](),
		writeJSON: writeJSON,
		encode: func(api avro.API, schema avro.Schema, e domain.Event) ([]byte, error) {
			var ev E
			switch v := any(e).(type) {
			case E:
				ev = v
			case *E:
				if v == nil {
					return nil, fmt.Errorf("%w: nil %T", ErrUnsupportedEvent, e)
				}
				ev = *v
			default:
				return nil, fmt.Errorf("%w: %T claims type %q but is not %T", ErrUnsupportedEvent, e, zero.EventType(), zero)
			}
			rec := toRecord(ev)
			return api.Marshal(schema, &rec)
		},
		decode: func(r *avro.Reader, schema avro.Schema) (domain.Event, error) {
			e, err := readEvent(r, schema)
			if err != nil {
				return nil, err
			}
			return e, nil
		},
		decodeJSON: func(r *avro.Reader, schema avro.Schema) (domain.Event, []byte, error) {
			e, err := readEvent(r, schema)
			if err != nil {
				return nil, nil, err
			}
			// Render from the domain value: ids come out canonical whatever
			// spelling the payload had.
			rec := toRecord(e)
			if writeJSON != nil {
				return e, writeJSON.writeJSON(reflect.ValueOf(&rec).Elem()), nil
			}
			js, err := json.Marshal(&rec)
			if err != nil {
				return nil, nil, err
			}
			return e, js, nil
		},
	}
}

// timestamp is a time.Time in an Avro timestamp-micros field. Avro reads it
// as a time.Time (the codec accepts any type convertible to time.Time); JSON
// writes it in RFC 3339 with exactly six fractional digits, in UTC.
type timestamp time.Time

const rfc3339Micro = "2006-01-02T15:04:05.000000Z07:00"

// MarshalJSON implements json.Marshaler.
func (t timestamp) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(rfc3339Micro)+2)
	b = append(b, '"')
	b = time.Time(t).UTC().AppendFormat(b, rfc3339Micro)
	return append(b, '"'), nil
}

// Timestamps outside years 1 to 9999 cannot be written in RFC 3339 and do
// not come from Ordo; a payload holding one is malformed.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

// secret is a string that JSON renders as "[redacted]".
type secret string

// MarshalJSON implements json.Marshaler.
func (secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// fields accumulates conversion errors of one record so that the mapping
// functions stay linear.
type fields struct{ err error }

func (f *fields) id(name, s string) domain.ID {
	id, err := domain.ParseID(s)
	if err != nil && f.err == nil {
		f.err = fmt.Errorf("field %s: %q is not a UUID", name, truncate(s))
	}
	return id
}

func (f *fields) time(name string, t timestamp) time.Time {
	tt := time.Time(t)
	if (tt.Before(minTime) || tt.After(maxTime)) && f.err == nil {
		f.err = fmt.Errorf("field %s: timestamp out of range (years 1 to 9999)", name)
	}
	return tt
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
