package record_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/record"
	"github.com/ordo-platform/ordo/internal/topic"
)

func sample() eventstore.Event {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return eventstore.Event{
		ID: eventstore.NewID(), StreamID: "order-" + uuid.NewString(), StreamType: "order",
		Version: 3, Position: 1 << 20, Type: "order.placed", SchemaVersion: 1,
		SchemaFingerprint: []byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4},
		OccurredAt:        now.Add(-time.Second), RecordedAt: now,
		Metadata: eventstore.Metadata{CorrelationID: uuid.New(), CausationID: uuid.New(), Actor: "user:x",
			TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		Payload: []byte{0, 1, 2},
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	e := sample()
	r, err := record.FromEvent(e, topic.Default)
	require.NoError(t, err)
	require.Equal(t, "ordo.orders.v1", r.Topic)
	require.Equal(t, e.StreamID, string(r.Key))
	got, err := record.ToEvent(r)
	require.NoError(t, err)
	require.Equal(t, e, got)
	// The producer stamps the record at publication (Kafka's retention counts from it);
	// the recorded-at time travels in its header and comes back above.
	require.True(t, r.Timestamp.IsZero(), "no record timestamp: %v", r.Timestamp)
}

// Headers in any order read the same as in FromEvent's,
// and a repeat is refused wherever it comes.
func TestHeadersInAnyOrder(t *testing.T) {
	t.Parallel()
	e := sample()
	r, err := record.FromEvent(e, topic.Default)
	require.NoError(t, err)
	n := len(r.Headers)
	for shift := range n {
		for _, reverse := range []bool{false, true} {
			hs := make([]kgo.RecordHeader, n)
			for i := range n {
				j := (i + shift) % n
				if reverse {
					j = n - 1 - j
				}
				hs[i] = r.Headers[j]
			}
			got, err := record.ToEvent(&kgo.Record{Key: r.Key, Value: r.Value, Headers: hs})
			require.NoError(t, err, "shift %d reverse %v", shift, reverse)
			require.Equal(t, e, got)

			again := append(append([]kgo.RecordHeader{}, hs...), hs[shift])
			_, err = record.ToEvent(&kgo.Record{Key: r.Key, Value: r.Value, Headers: again})
			require.ErrorIs(t, err, record.ErrMalformed)
			require.ErrorContains(t, err, "header "+hs[shift].Key+" repeated")
		}
	}
}

func TestUnknownStreamTypeHasNoTopic(t *testing.T) {
	t.Parallel()
	e := sample()
	e.StreamType = "nope"
	_, err := record.FromEvent(e, topic.Default)
	require.Error(t, err)
}

func TestMalformedRecords(t *testing.T) {
	t.Parallel()
	good := func() *kgo.Record {
		r, err := record.FromEvent(sample(), topic.Default)
		require.NoError(t, err)
		return r
	}
	tests := []struct {
		name   string
		mangle func(r *kgo.Record)
	}{
		{"no key", func(r *kgo.Record) { r.Key = nil }},
		{"no headers", func(r *kgo.Record) { r.Headers = nil }},
		{"bad event id", func(r *kgo.Record) { set(r, record.HeaderEventID, "not-a-uuid") }},
		{"bad version", func(r *kgo.Record) { set(r, record.HeaderStreamVersion, "x") }},
		{"zero version", func(r *kgo.Record) { set(r, record.HeaderStreamVersion, "0") }},
		{"bad time", func(r *kgo.Record) { set(r, record.HeaderOccurredAt, "yesterday") }},
		{"bad fingerprint", func(r *kgo.Record) { set(r, record.HeaderSchemaFingerprint, "zz") }},
		{"repeated header", func(r *kgo.Record) {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: record.HeaderEventType, Value: []byte("x")})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := good()
			tt.mangle(r)
			_, err := record.ToEvent(r)
			require.ErrorIs(t, err, record.ErrMalformed)
		})
	}
}

func set(r *kgo.Record, key, value string) {
	for i := range r.Headers {
		if r.Headers[i].Key == key {
			r.Headers[i].Value = []byte(value)
		}
	}
}

// FuzzToEvent: whatever arrives from Kafka, decoding returns an event or an error, and a
// decoded event round-trips.
func FuzzToEvent(f *testing.F) {
	r, _ := record.FromEvent(sample(), topic.Default)
	f.Add(r.Key, "order.placed", "0193", "1", "3", "5", "2026-01-01T00:00:00Z")
	f.Add([]byte{}, "", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, key []byte, typ, id, schemaVersion, version, position, at string) {
		rec := &kgo.Record{Key: key, Headers: []kgo.RecordHeader{
			{Key: record.HeaderEventType, Value: []byte(typ)},
			{Key: record.HeaderEventID, Value: []byte(id)},
			{Key: record.HeaderSchemaVersion, Value: []byte(schemaVersion)},
			{Key: record.HeaderStreamType, Value: []byte("order")},
			{Key: record.HeaderStreamVersion, Value: []byte(version)},
			{Key: record.HeaderGlobalPosition, Value: []byte(position)},
			{Key: record.HeaderOccurredAt, Value: []byte(at)},
			{Key: record.HeaderRecordedAt, Value: []byte(at)},
		}}
		e, err := record.ToEvent(rec)
		if err != nil {
			return
		}
		require.NotEmpty(t, e.StreamID)
		require.GreaterOrEqual(t, e.Version, int64(1))
	})
}

// TestHeaderValues pins the wire format of every header (consumers in other processes
// and other languages parse it), whatever way FromEvent builds it.
func TestHeaderValues(t *testing.T) {
	t.Parallel()
	e := sample()
	e.Version, e.Position, e.SchemaVersion = 12, 7<<16+3, 2
	r, err := record.FromEvent(e, topic.Default)
	require.NoError(t, err)
	want := map[string]string{
		record.HeaderEventType:         e.Type,
		record.HeaderEventID:           e.ID.String(),
		record.HeaderSchemaVersion:     "2",
		record.HeaderSchemaFingerprint: "deadbeef01020304",
		record.HeaderStreamType:        "order",
		record.HeaderStreamVersion:     "12",
		record.HeaderGlobalPosition:    "458755",
		record.HeaderOccurredAt:        e.OccurredAt.UTC().Format(time.RFC3339Nano),
		record.HeaderRecordedAt:        e.RecordedAt.UTC().Format(time.RFC3339Nano),
		record.HeaderCorrelationID:     e.Metadata.CorrelationID.String(),
		record.HeaderCausationID:       e.Metadata.CausationID.String(),
		record.HeaderActor:             "user:x",
		record.HeaderTraceParent:       e.Metadata.TraceParent,
	}
	got := map[string]string{}
	for _, h := range r.Headers {
		got[h.Key] = string(h.Value)
		require.Equal(t, len(h.Value), cap(h.Value), "header %s: an append to it must not run into the next one", h.Key)
	}
	require.Equal(t, want, got)
	require.Equal(t, e.StreamID, string(r.Key))
	require.Equal(t, len(r.Key), cap(r.Key))
}

func BenchmarkFromEvent(b *testing.B) {
	e := sample()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := record.FromEvent(e, topic.Default); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkToEvent(b *testing.B) {
	r, err := record.FromEvent(sample(), topic.Default)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := record.ToEvent(r); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBuilderAgreesWithFromEvent: records built together share buffers, and each must
// still be exactly FromEvent's, whatever the sizes and optional headers of its
// neighbours, across the chunks the Builder allocates, and unchanged by what is built
// after it.
func TestBuilderAgreesWithFromEvent(t *testing.T) {
	t.Parallel()
	const n = 2500 // more than one chunk of 1024 records
	events := make([]eventstore.Event, n)
	for i := range events {
		e := sample()
		e.Position, e.Version = int64(i)<<16+int64(i%7), int64(i+1)
		switch i % 5 {
		case 0:
			e.Metadata = eventstore.Metadata{} // no optional header
		case 1:
			e.Metadata.Actor = strings.Repeat("a", i) // longer than any record before it
		case 2:
			e.StreamID = "order-" + strings.Repeat("x", i%300)
			e.Metadata.TraceParent = ""
		case 3:
			e.SchemaFingerprint = nil
			e.Metadata.CausationID = uuid.Nil
		}
		events[i] = e
	}
	for _, size := range []int{0, 1, 3, n} {
		b := record.NewBuilder(size)
		got := make([]*kgo.Record, n)
		for i, e := range events {
			var err error
			got[i], err = b.FromEvent(e, topic.Default)
			require.NoError(t, err)
		}
		for i, e := range events {
			want, err := record.FromEvent(e, topic.Default)
			require.NoError(t, err)
			require.Equal(t, want, got[i], "builder for %d, record %d", size, i)
			require.Equal(t, len(got[i].Key), cap(got[i].Key))
			require.Equal(t, len(got[i].Headers), cap(got[i].Headers))
			for _, h := range got[i].Headers {
				require.Equal(t, len(h.Value), cap(h.Value), "record %d header %s", i, h.Key)
			}
		}
	}
	var zero record.Builder
	r, err := zero.FromEvent(events[1], topic.Default)
	require.NoError(t, err)
	want, err := record.FromEvent(events[1], topic.Default)
	require.NoError(t, err)
	require.Equal(t, want, r)
	_, err = record.NewBuilder(10).FromEvent(eventstore.Event{StreamType: "nope"}, topic.Default)
	require.ErrorIs(t, err, topic.ErrUnknownStreamType)
}

func BenchmarkBuilder(b *testing.B) {
	e := sample()
	b.ReportAllocs()
	bld := record.NewBuilder(10000)
	for b.Loop() {
		if _, err := bld.FromEvent(e, topic.Default); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBuilderBeyondItsRoom: times outside years 0-9999 format longer than the room a
// Builder reserves for a time; the Builder must still build them right, and the records
// around them too.
func TestBuilderBeyondItsRoom(t *testing.T) {
	t.Parallel()
	b := record.NewBuilder(4)
	var got, want []*kgo.Record
	for i := range 6 {
		e := sample()
		if i == 2 {
			e.OccurredAt = time.Date(123456, 1, 2, 3, 4, 5, 6, time.UTC)
			e.RecordedAt = time.Date(-20000, 1, 2, 3, 4, 5, 6, time.UTC)
		}
		r, err := b.FromEvent(e, topic.Default)
		require.NoError(t, err)
		got = append(got, r)
		w, err := record.FromEvent(e, topic.Default)
		require.NoError(t, err)
		want = append(want, w)
	}
	require.Equal(t, want, got)
}
