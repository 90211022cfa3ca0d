// Package eventstoretest is the conformance suite every eventstore.Store implementation
// must pass: appends and optimistic concurrency, idempotent retries, reads, ordering and
// catch-up subscriptions. An implementation's tests call Run with a constructor that
// returns a fresh, empty store per test.
package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/eventstore"
)

// NewStore returns a fresh, empty store for one test.
type NewStore func(t *testing.T) eventstore.Store

// Run runs the whole suite.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s eventstore.Store)
	}{
		{"AppendToNewStream", testAppendToNewStream},
		{"EnvelopeRoundTrip", testEnvelopeRoundTrip},
		{"ExpectedVersion", testExpectedVersion},
		{"IdempotentRetry", testIdempotentRetry},
		{"PartialDuplicateIsRejected", testPartialDuplicate},
		{"AllOrNothing", testAllOrNothing},
		{"InvalidAppend", testInvalidAppend},
		{"ReadStream", testReadStream},
		{"ReadAllOrder", testReadAllOrder},
		{"ConcurrentWritersOneStream", testConcurrentWritersOneStream},
		{"ConcurrentWritersManyStreams", testConcurrentWritersManyStreams},
		{"Subscribe", testSubscribe},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

// Event returns a valid event with a fresh id and the given type and payload.
func Event(typ string, payload string) eventstore.NewEvent {
	return eventstore.NewEvent{
		ID:                eventstore.NewID(),
		Type:              typ,
		SchemaVersion:     1,
		SchemaFingerprint: []byte{1, 2, 3, 4, 5, 6, 7, 8},
		Payload:           []byte(payload),
		OccurredAt:        time.Now().UTC().Truncate(time.Microsecond),
	}
}

// Stream returns a fresh stream of the given type.
func Stream(typ string) eventstore.Stream {
	return eventstore.Stream{Type: typ, ID: typ + "-" + uuid.NewString()}
}

// WaitVisible waits until ReadAll can return position: a store may hold back the global
// order while older transactions are still open anywhere in the database (see the
// Postgres implementation), so a test must not expect its own append there at once.
func WaitVisible(t testing.TB, s eventstore.Store, position int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		head, err := s.HeadPosition(context.Background())
		require.NoError(t, err)
		if head >= position {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("position %d not visible after 30 s (head %d)", position, head)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func events(n int) []eventstore.NewEvent {
	out := make([]eventstore.NewEvent, n)
	for i := range out {
		out[i] = Event("test.happened", fmt.Sprintf("payload %d", i))
	}
	return out
}

func testAppendToNewStream(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	st := Stream("order")
	res, err := s.Append(ctx, st, eventstore.NoStream, events(3)...)
	require.NoError(t, err)
	require.EqualValues(t, 1, res.FirstVersion)
	require.EqualValues(t, 3, res.LastVersion)
	require.Less(t, res.FirstPosition, res.LastPosition)

	v, err := s.StreamVersion(ctx, st.ID)
	require.NoError(t, err)
	require.EqualValues(t, 3, v)

	res2, err := s.Append(ctx, st, eventstore.Exact(3), events(2)...)
	require.NoError(t, err)
	require.EqualValues(t, 4, res2.FirstVersion)
	require.EqualValues(t, 5, res2.LastVersion)
	require.Greater(t, res2.FirstPosition, res.LastPosition)

	v, err = s.StreamVersion(ctx, "order-"+uuid.NewString())
	require.NoError(t, err)
	require.Zero(t, v, "a stream without events is at version 0")
}

func testEnvelopeRoundTrip(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	st := Stream("payment")
	in := Event("payment.authorized", "\x00\x01binary\xff")
	in.SchemaVersion = 3
	in.Metadata = eventstore.Metadata{
		CorrelationID: uuid.New(),
		CausationID:   uuid.New(),
		Actor:         "user:" + uuid.NewString(),
		TraceParent:   "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	}
	before := time.Now()
	res, err := s.Append(ctx, st, eventstore.NoStream, in)
	require.NoError(t, err)

	got, err := s.ReadStream(ctx, st.ID, 1, 10)
	require.NoError(t, err)
	require.Len(t, got, 1)
	e := got[0]
	require.Equal(t, in.ID, e.ID)
	require.Equal(t, st.ID, e.StreamID)
	require.Equal(t, st.Type, e.StreamType)
	require.EqualValues(t, 1, e.Version)
	require.Equal(t, res.FirstPosition, e.Position)
	require.Equal(t, in.Type, e.Type)
	require.Equal(t, 3, e.SchemaVersion)
	require.Equal(t, in.SchemaFingerprint, e.SchemaFingerprint)
	require.True(t, in.OccurredAt.Equal(e.OccurredAt), "occurred at %s, read %s", in.OccurredAt, e.OccurredAt)
	require.WithinDuration(t, before, e.RecordedAt, 5*time.Second)
	require.Equal(t, in.Metadata, e.Metadata)
	require.Equal(t, in.Payload, e.Payload)
}

func testExpectedVersion(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	st := Stream("order")
	_, err := s.Append(ctx, st, eventstore.Exact(1), events(1)...)
	require.ErrorIs(t, err, eventstore.ErrVersionConflict, "exact version on a missing stream")

	_, err = s.Append(ctx, st, eventstore.NoStream, events(2)...)
	require.NoError(t, err)

	tests := []struct {
		name     string
		expected eventstore.ExpectedVersion
		wantErr  error
	}{
		{"no stream on an existing stream", eventstore.NoStream, eventstore.ErrVersionConflict},
		{"exact version behind", eventstore.Exact(1), eventstore.ErrVersionConflict},
		{"exact version ahead", eventstore.Exact(3), eventstore.ErrVersionConflict},
		{"exact version right", eventstore.Exact(2), nil},
		{"any", eventstore.Any, nil},
	}
	for _, tt := range tests {
		before, err := s.StreamVersion(ctx, st.ID)
		require.NoError(t, err)
		_, err = s.Append(ctx, st, tt.expected, events(1)...)
		after, verr := s.StreamVersion(ctx, st.ID)
		require.NoError(t, verr)
		if tt.wantErr != nil {
			require.ErrorIs(t, err, tt.wantErr, tt.name)
			require.Equal(t, before, after, "%s: a conflict stores nothing", tt.name)
		} else {
			require.NoError(t, err, tt.name)
			require.Equal(t, before+1, after, tt.name)
		}
	}
}

func testIdempotentRetry(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	st := Stream("order")
	batch := events(3)
	first, err := s.Append(ctx, st, eventstore.NoStream, batch...)
	require.NoError(t, err)
	WaitVisible(t, s, first.LastPosition)
	head, err := s.HeadPosition(ctx)
	require.NoError(t, err)

	// The same append again, with every kind of expected version: the first result,
	// nothing new stored.
	for _, exp := range []eventstore.ExpectedVersion{eventstore.NoStream, eventstore.Any, eventstore.Exact(7)} {
		again, err := s.Append(ctx, st, exp, batch...)
		require.NoError(t, err, "retry with expected %s", exp)
		require.Equal(t, first, again)
	}
	v, err := s.StreamVersion(ctx, st.ID)
	require.NoError(t, err)
	require.EqualValues(t, 3, v)
	head2, err := s.HeadPosition(ctx)
	require.NoError(t, err)
	require.Equal(t, head, head2)
}

func testPartialDuplicate(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	st := Stream("order")
	batch := events(2)
	_, err := s.Append(ctx, st, eventstore.NoStream, batch...)
	require.NoError(t, err)

	// One old id with one new one: not a retry.
	_, err = s.Append(ctx, st, eventstore.Any, batch[0], Event("test.happened", "new"))
	require.ErrorIs(t, err, eventstore.ErrDuplicateEvent)
	// The same ids to another stream: not a retry either.
	_, err = s.Append(ctx, Stream("order"), eventstore.Any, batch...)
	require.ErrorIs(t, err, eventstore.ErrDuplicateEvent)

	v, err := s.StreamVersion(ctx, st.ID)
	require.NoError(t, err)
	require.EqualValues(t, 2, v)
}

func testAllOrNothing(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	other := Stream("order")
	taken := Event("test.happened", "taken")
	_, err := s.Append(ctx, other, eventstore.NoStream, taken)
	require.NoError(t, err)

	// The third event's id is taken: the first two must not be stored either.
	st := Stream("order")
	batch := append(events(2), taken, Event("test.happened", "last"))
	_, err = s.Append(ctx, st, eventstore.NoStream, batch...)
	require.Error(t, err)
	got, err := s.ReadStream(ctx, st.ID, 1, 100)
	require.NoError(t, err)
	require.Empty(t, got)
}

func testInvalidAppend(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	noID := Event("test.happened", "")
	noID.ID = uuid.Nil
	noType := Event("", "")
	noTime := Event("test.happened", "")
	noTime.OccurredAt = time.Time{}
	dup := Event("test.happened", "")

	tests := []struct {
		name   string
		stream eventstore.Stream
		events []eventstore.NewEvent
	}{
		{"no events", Stream("order"), nil},
		{"no stream id", eventstore.Stream{Type: "order"}, events(1)},
		{"no stream type", eventstore.Stream{ID: "order-x"}, events(1)},
		{"no event id", Stream("order"), []eventstore.NewEvent{noID}},
		{"no event type", Stream("order"), []eventstore.NewEvent{noType}},
		{"no occurred-at", Stream("order"), []eventstore.NewEvent{noTime}},
		{"repeated id", Stream("order"), []eventstore.NewEvent{dup, dup}},
	}
	for _, tt := range tests {
		_, err := s.Append(ctx, tt.stream, eventstore.Any, tt.events...)
		require.ErrorIs(t, err, eventstore.ErrInvalidAppend, tt.name)
	}
}

func testReadStream(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	st := Stream("order")
	batch := events(10)
	_, err := s.Append(ctx, st, eventstore.NoStream, batch[:4]...)
	require.NoError(t, err)
	_, err = s.Append(ctx, Stream("order"), eventstore.NoStream, events(3)...) // interleaved
	require.NoError(t, err)
	_, err = s.Append(ctx, st, eventstore.Exact(4), batch[4:]...)
	require.NoError(t, err)

	all, err := s.ReadStream(ctx, st.ID, 1, 100)
	require.NoError(t, err)
	require.Len(t, all, 10)
	for i, e := range all {
		require.EqualValues(t, i+1, e.Version)
		require.Equal(t, batch[i].ID, e.ID)
		if i > 0 {
			require.Greater(t, e.Position, all[i-1].Position, "stream order is position order")
		}
	}
	page, err := s.ReadStream(ctx, st.ID, 5, 3)
	require.NoError(t, err)
	require.Len(t, page, 3)
	require.EqualValues(t, 5, page[0].Version)
	require.EqualValues(t, 7, page[2].Version)

	none, err := s.ReadStream(ctx, "order-"+uuid.NewString(), 1, 10)
	require.NoError(t, err)
	require.Empty(t, none)
}

func testReadAllOrder(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	var ids []uuid.UUID
	var res eventstore.AppendResult
	for i := 0; i < 5; i++ {
		b := events(3)
		var err error
		res, err = s.Append(ctx, Stream("order"), eventstore.NoStream, b...)
		require.NoError(t, err)
		for _, e := range b {
			ids = append(ids, e.ID)
		}
	}
	WaitVisible(t, s, res.LastPosition)
	var got []eventstore.Event
	after := int64(0)
	for {
		page, err := s.ReadAll(ctx, after, 4)
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1].Position
	}
	require.Len(t, got, len(ids))
	for i, e := range got {
		require.Equal(t, ids[i], e.ID, "events in append order")
		if i > 0 {
			require.Greater(t, e.Position, got[i-1].Position)
		}
	}
	head, err := s.HeadPosition(ctx)
	require.NoError(t, err)
	require.Equal(t, got[len(got)-1].Position, head)
}

// testConcurrentWritersOneStream: 64 goroutines race to append to one stream, each
// reading the version and appending at exactly that version, retrying on conflict.
// Versions must come out contiguous with exactly one winner per version.
func testConcurrentWritersOneStream(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	st := Stream("inventory")
	const writers, perWriter = 64, 5
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners = map[int64]uuid.UUID{}
		errs    []error
	)
	for w := 0; w < writers; w++ {
		wg.Go(func() {
			for i := 0; i < perWriter; i++ {
				e := Event("inventory.adjusted", fmt.Sprintf("w%d-%d", w, i))
				for attempt := 0; ; attempt++ {
					v, err := s.StreamVersion(ctx, st.ID)
					if err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
						return
					}
					res, err := s.Append(ctx, st, eventstore.Exact(v), e)
					if errors.Is(err, eventstore.ErrVersionConflict) {
						continue
					}
					mu.Lock()
					if err != nil {
						errs = append(errs, err)
					} else if prev, dup := winners[res.FirstVersion]; dup {
						errs = append(errs, fmt.Errorf("version %d won twice: %s and %s", res.FirstVersion, prev, e.ID))
					} else {
						winners[res.FirstVersion] = e.ID
					}
					mu.Unlock()
					break
				}
			}
		})
	}
	wg.Wait()
	require.Empty(t, errs)
	require.Len(t, winners, writers*perWriter)

	got, err := s.ReadStream(ctx, st.ID, 1, writers*perWriter+10)
	require.NoError(t, err)
	require.Len(t, got, writers*perWriter)
	for i, e := range got {
		require.EqualValues(t, i+1, e.Version, "versions are contiguous")
		require.Equal(t, winners[e.Version], e.ID, "the stored event is the winner's")
	}
}

// testConcurrentWritersManyStreams: writers on many streams with Any; every event is
// stored once and ReadAll returns them all in strictly increasing positions.
func testConcurrentWritersManyStreams(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	const writers, appends = 16, 20
	var (
		wg     sync.WaitGroup
		maxPos atomic.Int64
		errc   = make(chan error, writers)
	)
	for w := 0; w < writers; w++ {
		wg.Go(func() {
			streams := []eventstore.Stream{Stream("order"), Stream("order"), Stream("order")}
			for i := 0; i < appends; i++ {
				res, err := s.Append(ctx, streams[i%len(streams)], eventstore.Any, events(1+i%3)...)
				if err != nil {
					errc <- err
					return
				}
				for p := maxPos.Load(); p < res.LastPosition && !maxPos.CompareAndSwap(p, res.LastPosition); p = maxPos.Load() {
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		require.NoError(t, err)
	}
	WaitVisible(t, s, maxPos.Load())
	all, err := s.ReadAll(ctx, 0, 1_000_000)
	require.NoError(t, err)
	want := 0
	for i := 0; i < appends; i++ {
		want += 1 + i%3
	}
	require.Equal(t, writers*want, len(all))
	last := map[string]int64{}
	for i, e := range all {
		if i > 0 {
			require.Greater(t, e.Position, all[i-1].Position)
		}
		require.Equal(t, last[e.StreamID]+1, e.Version, "per-stream versions in position order")
		last[e.StreamID] = e.Version
	}
}

func testSubscribe(t *testing.T, s eventstore.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := events(5)
	_, err := s.Append(ctx, Stream("order"), eventstore.NoStream, before...)
	require.NoError(t, err)

	const total = 5 + 40
	got := make(chan eventstore.Event, total)
	done := make(chan error, 1)
	go func() {
		n := 0
		done <- eventstore.Subscribe(ctx, s, 0, eventstore.SubscribeOptions{BatchSize: 7, PollInterval: 50 * time.Millisecond},
			func(_ context.Context, evs []eventstore.Event) error {
				for _, e := range evs {
					got <- e
					n++
				}
				if n >= total {
					return eventstore.ErrStop
				}
				return nil
			})
	}()
	var want []uuid.UUID
	for _, e := range before {
		want = append(want, e.ID)
	}
	for i := 0; i < 20; i++ { // appended while the subscription runs
		b := events(2)
		_, err := s.Append(ctx, Stream("order"), eventstore.NoStream, b...)
		require.NoError(t, err)
		want = append(want, b[0].ID, b[1].ID)
	}
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-ctx.Done():
		t.Fatal("subscription did not deliver every event in time")
	}
	close(got)
	var ids []uuid.UUID
	var prev int64
	for e := range got {
		require.Greater(t, e.Position, prev)
		prev = e.Position
		ids = append(ids, e.ID)
	}
	require.Equal(t, want, ids)
}
