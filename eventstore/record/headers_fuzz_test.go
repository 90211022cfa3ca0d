package record_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/record"
	"github.com/ordo-platform/ordo/internal/topic"
)

// headerNames are the headers ToEvent reads; the fuzzer picks them by index so that it
// spends its bytes on values, repeats and omissions rather than on spelling names.
var headerNames = []string{
	record.HeaderEventType, record.HeaderEventID, record.HeaderSchemaVersion, record.HeaderSchemaFingerprint,
	record.HeaderStreamType, record.HeaderStreamVersion, record.HeaderGlobalPosition, record.HeaderOccurredAt,
	record.HeaderRecordedAt, record.HeaderCorrelationID, record.HeaderCausationID, record.HeaderActor,
	record.HeaderTraceParent,
}

// decodeHeaders turns fuzz bytes into record headers: per header one byte picks a
// known name (below 2×len(headerNames)) or announces a name of its own (a length byte
// and the bytes), then a length byte and the value. Any byte may be in a name or a value.
func decodeHeaders(b []byte) []kgo.RecordHeader {
	var out []kgo.RecordHeader
	next := func(n int) []byte {
		n = min(n, len(b))
		v := b[:n]
		b = b[n:]
		return v
	}
	for len(b) > 0 {
		k := int(next(1)[0])
		var name string
		if k < 2*len(headerNames) {
			name = headerNames[k%len(headerNames)]
		} else {
			l := next(1)
			if len(l) == 0 {
				break
			}
			name = string(next(int(l[0])))
		}
		var value []byte
		if l := next(1); len(l) == 1 {
			value = next(int(l[0]))
		}
		out = append(out, kgo.RecordHeader{Key: name, Value: value})
	}
	return out
}

// encodeHeaders is the inverse of decodeHeaders for the seeds (values up to 255 bytes).
func encodeHeaders(hs []kgo.RecordHeader) []byte {
	var out []byte
	for _, h := range hs {
		known := -1
		for i, n := range headerNames {
			if n == h.Key {
				known = i
			}
		}
		if known >= 0 {
			out = append(out, byte(known))
		} else {
			out = append(out, 0xff, byte(len(h.Key)))
			out = append(out, h.Key...)
		}
		out = append(out, byte(len(h.Value)))
		out = append(out, h.Value...)
	}
	return out
}

// FuzzRecordHeaders: whatever key, headers (any names, values, repeats, omissions) and
// value a Kafka record arriving at a consumer carries, ToEvent returns an error wrapping
// ErrMalformed and a zero event, or an event that agrees with the general parsers
// (strconv, time.Parse) on every number and time, and that FromEvent writes back into
// a record decoding to the same event. Never a panic. Complements FuzzToEvent, which
// fuzzes the values of a fixed set of headers.
//
//	go test ./eventstore/record -run '^$' -fuzz FuzzRecordHeaders -fuzztime 30s
func FuzzRecordHeaders(f *testing.F) {
	good, err := record.FromEvent(sample(), topic.Default)
	require.NoError(f, err)
	f.Add(good.Key, encodeHeaders(good.Headers), good.Value)
	for i := range good.Headers {
		// Each header missing, repeated, and emptied.
		missing := append(append([]kgo.RecordHeader{}, good.Headers[:i]...), good.Headers[i+1:]...)
		f.Add(good.Key, encodeHeaders(missing), good.Value)
		f.Add(good.Key, encodeHeaders(append(append([]kgo.RecordHeader{}, good.Headers...), good.Headers[i])), good.Value)
		emptied := append([]kgo.RecordHeader{}, good.Headers...)
		emptied[i] = kgo.RecordHeader{Key: good.Headers[i].Key}
		f.Add(good.Key, encodeHeaders(emptied), good.Value)
	}
	f.Add([]byte{}, []byte{}, []byte{})
	f.Add(good.Key, append(encodeHeaders(good.Headers), 0xff, 3, 'x', '-', 'y', 1, 0), good.Value)

	f.Fuzz(func(t *testing.T, key, headerBytes, value []byte) {
		r := &kgo.Record{Key: key, Value: value, Headers: decodeHeaders(headerBytes)}
		e, err := record.ToEvent(r)
		if err != nil {
			require.ErrorIs(t, err, record.ErrMalformed)
			require.Zero(t, e)
			return
		}
		require.NotEmpty(t, e.StreamID)
		require.Equal(t, string(key), e.StreamID)
		require.Equal(t, value, e.Payload)
		require.GreaterOrEqual(t, e.Version, int64(1))
		seen := map[string]int{}
		for _, h := range r.Headers {
			seen[h.Key]++
			v := string(h.Value)
			switch h.Key {
			case record.HeaderStreamVersion:
				requireInt(t, v, e.Version)
			case record.HeaderGlobalPosition:
				requireInt(t, v, e.Position)
			case record.HeaderSchemaVersion:
				n, err := strconv.ParseInt(v, 10, 64)
				require.NoError(t, err, "schema-version %q accepted", v)
				require.Equal(t, int(n), e.SchemaVersion)
			case record.HeaderOccurredAt:
				requireTime(t, v, e.OccurredAt)
			case record.HeaderRecordedAt:
				requireTime(t, v, e.RecordedAt)
			case record.HeaderEventType:
				require.Equal(t, v, e.Type)
			case record.HeaderStreamType:
				require.Equal(t, v, e.StreamType)
			}
		}
		for name, n := range seen {
			require.Equal(t, 1, n, "header %s given %d times and accepted", name, n)
		}
		// Written back (when the stream type has a topic), the event reads the same.
		again, err := record.FromEvent(e, topic.Default)
		if err != nil {
			return
		}
		e2, err := record.ToEvent(again)
		require.NoError(t, err, "FromEvent wrote a record ToEvent refuses")
		requireSameEvent(t, e, e2)
	})
}

func requireInt(t *testing.T, s string, got int64) {
	t.Helper()
	want, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err, "%q accepted as a number", s)
	require.Equal(t, want, got, "%q", s)
}

func requireTime(t *testing.T, s string, got time.Time) {
	t.Helper()
	want, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err, "%q accepted as a time", s)
	require.True(t, want.Equal(got), "%q read as %s", s, got)
}

// requireSameEvent compares two events, times by instant (a time written with an
// offset comes back in UTC).
func requireSameEvent(t *testing.T, a, b eventstore.Event) {
	t.Helper()
	require.True(t, a.OccurredAt.Equal(b.OccurredAt), "occurred-at %s vs %s", a.OccurredAt, b.OccurredAt)
	require.True(t, a.RecordedAt.Equal(b.RecordedAt), "recorded-at %s vs %s", a.RecordedAt, b.RecordedAt)
	a.OccurredAt, a.RecordedAt, b.OccurredAt, b.RecordedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if len(a.SchemaFingerprint) == 0 && len(b.SchemaFingerprint) == 0 {
		a.SchemaFingerprint, b.SchemaFingerprint = nil, nil
	}
	if len(a.Payload) == 0 && len(b.Payload) == 0 {
		a.Payload, b.Payload = nil, nil
	}
	require.Equal(t, a, b)
}
