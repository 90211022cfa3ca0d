package analytics

import (
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/analytics/internal/workload"
	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/internal/topic"
	"github.com/ordo-platform/ordo/schemas"
)

// A rebalance can come while an insert runs in the background (the poll loop allows it
// once the insert has started). The new assignment's offsets must be read after that
// insert recorded its own, or its events are delivered and inserted again.
func TestNextOffsetsWaitsForTheInsertInFlight(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, conn := NewTestDatabase(t)

	names := topic.Names{Prefix: db}
	s := NewSink(DefaultConfig(), conn, names, nil, quiet)
	h := s.h
	h.setLife(ctx)
	const tp = "orders"
	require.NoError(t, h.recordOffsets(ctx, map[string]map[int32]int64{tp: {0: 10}}))

	// An insert in flight that records offset 42 when it ends, 300 ms from now.
	in := &insert{done: make(chan struct{})}
	h.inflight = in
	go func() {
		time.Sleep(300 * time.Millisecond)
		in.err = h.recordOffsets(ctx, map[string]map[int32]int64{tp: {0: 42}})
		close(in.done)
	}()
	got, err := h.NextOffsets(ctx, h.group, map[string][]int32{tp: {0}})
	require.NoError(t, err)
	require.Equal(t, int64(42), got[tp][0], "the offsets were read before the insert in flight recorded its own")
	require.NoError(t, h.wait(ctx))
}

// A partition given away in a rebalance keeps the records it had left after its last
// batch; they are another member's to read, and must not hold back this one's tail.
func TestReadToEndCountsOnlyOwnedPartitions(t *testing.T) {
	t.Parallel()
	owned := map[string][]int32{"orders": {0, 1}}
	h := &sinkHandler{assigned: func() map[string][]int32 { return owned }}
	setPartition(&h.behind, "orders", 0, 0)
	setPartition(&h.behind, "orders", 1, 0)
	setPartition(&h.behind, "orders", 2, 500) // not ours any more
	require.True(t, h.readToEnd())
	setPartition(&h.behind, "orders", 1, 3)
	require.False(t, h.readToEnd())
	owned = map[string][]int32{"orders": {0}} // partition 1 given away
	require.True(t, h.readToEnd())
}

// TestABufferTakingOverIsSizedLikeTheFullOne: the buffer that takes the place of a
// detached one has room for as many rows per column, so filling it to the same size
// moves no column.
func TestABufferTakingOverIsSizedLikeTheFullOne(t *testing.T) {
	t.Parallel()
	g := workload.New(7, time.Now().Add(-time.Hour))
	events, err := workload.Stored(append(g.Setup(20, 50), g.Orders(300)...), schemas.Default())
	require.NoError(t, err)
	codec := schemas.Default()
	decoded := make([]Decoded, len(events))
	for i, e := range events {
		decoded[i], err = Decode(codec, e)
		require.NoError(t, err)
	}
	// Every column of a set, in order, with its length and capacity.
	type shape struct {
		name     string
		len, cap int
	}
	shapes := func(rs *rowSet) (out []shape) {
		for _, tb := range rs.tables() {
			for _, c := range tb.columns() {
				out = append(out, shape{tb.name() + "." + c.name, c.data.size(), reflect.ValueOf(c.data).Elem().Cap()})
			}
		}
		return out
	}

	w := NewWriter(nil)
	w.Add(decoded...)
	full := shapes(w.detach())
	next := w.buf
	empty := shapes(next)
	for i, c := range full {
		require.Positive(t, c.len, c.name) // the workload fills every column
		require.GreaterOrEqual(t, empty[i].cap, c.len, c.name)
	}
	w.Add(decoded...)
	for i, c := range shapes(next) {
		require.Equal(t, full[i].len, c.len, c.name)
		require.Equal(t, empty[i].cap, c.cap, "%s grew", c.name)
	}
}

// TestFingerprintsAreWrittenInHex: the fingerprint column holds the hex of each event's
// own fingerprint, remembered per schema, and no more than maxFingerprints are kept.
func TestFingerprintsAreWrittenInHex(t *testing.T) {
	t.Parallel()
	var rs rowSet
	a, b := []byte{0x00, 0xab, 0xff}, []byte{0x12, 0x34}
	for range 3 {
		rs.add(Decoded{Event: eventstore.Event{SchemaFingerprint: a}}, time.Time{})
		rs.add(Decoded{Event: eventstore.Event{SchemaFingerprint: b}}, time.Time{})
	}
	require.Equal(t, []string{"00abff", "1234", "00abff", "1234", "00abff", "1234"}, []string(rs.events.fingerprint))
	require.Len(t, rs.fingerprints, 2)

	for i := range maxFingerprints + 10 {
		fp := []byte{byte(i >> 8), byte(i)}
		require.Equal(t, hex.EncodeToString(fp), rs.fingerprintHex(fp))
	}
	require.Len(t, rs.fingerprints, maxFingerprints)
}
