package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/internal/bench"
)

var watermillSQL = bench.Scenario{
	Name: "peer-watermill-sql", Unit: "events/s",
	Doc: "16 writers, one event per call: Ordo's eventstore.Append (exact expected version) against " +
		"watermill-sql v4's Postgres publisher (pgx) publishing the same event as a message",
	Run: runWatermillSQL,
}

var watermillSQLPeak = bench.Scenario{
	Name: peakName, Unit: "events/s",
	Doc: "append throughput: as peer-watermill-sql at 4, 8, 16, 64, 256 and 1024 writers (a fresh schema each), " +
		"each side's best rate over them; the rate of every count goes to stderr",
	Run: runWatermillSQLPeak,
}

var watermillSQLBatch = bench.Scenario{
	Name: "peer-watermill-sql-batch", Unit: "events/s",
	Doc: "4 writers, 100 events per call (as append-batch): Ordo's eventstore.Append of 100 events to a new " +
		"stream against watermill-sql v4's Postgres publisher publishing the same 100 events in one Publish",
	Run: runWatermillSQLBatch,
}

const writers, rounds = 16, 4

// peakWriters are the writer counts of peer-watermill-sql-peak. Ordo's group commit
// writes the appends that wait together in one transaction, so its rate grows with the
// writers waiting; watermill's publisher writes each message in a transaction of its
// own, and its rate does not.
var peakWriters = []int{4, 8, 16, 64, 256, 1024}

const peakName = "peer-watermill-sql-peak"

// peerSetup is both sides of a peer scenario, in a scratch schema: Ordo's store and
// watermill-sql's publisher (its table created), a source of sample events, and the
// cleanup.
type peerSetup struct {
	store *postgres.Store
	pub   *sql.Publisher
	next  func() eventstore.NewEvent
	close func()
}

const topic = "ordo_orders"

func newPeerSetup(ctx context.Context, env bench.Env) (_ *peerSetup, err error) {
	pool, drop, err := bench.ScratchSchema(ctx, env, postgres.Migrations())
	if err != nil {
		return nil, err
	}
	p := &peerSetup{}
	p.close = func() {
		if p.pub != nil {
			_ = p.pub.Close()
		}
		if p.store != nil {
			p.store.Close()
		}
		drop()
	}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if p.store, err = postgres.New(ctx, pool); err != nil {
		return nil, err
	}
	if p.next, err = bench.SampleEvents(); err != nil {
		return nil, err
	}
	p.pub, err = sql.NewPublisher(sql.BeginnerFromPgx(pool), sql.PublisherConfig{
		SchemaAdapter: sql.DefaultPostgreSQLSchema{
			// The payload is Avro, as Ordo's: BYTEA, not the default JSON.
			GeneratePayloadType: func(string) string { return "BYTEA" },
		},
		AutoInitializeSchema: true,
	}, watermill.NopLogger{})
	if err != nil {
		return nil, err
	}
	if err := p.pub.Publish(topic, toMessage(eventstore.Stream{Type: "order", ID: "order-warmup"}, 1, p.next())); err != nil {
		return nil, err // creates the table, outside the measurement
	}
	return p, nil
}

func runWatermillSQL(ctx context.Context, env bench.Env) (float64, float64, int, error) {
	return singleEvents(ctx, env, writers, env.N(20000))
}

// runWatermillSQLPeak runs peer-watermill-sql at each of peakWriters and returns each
// side's best rate, and the events Ordo appended over all of them.
func runWatermillSQLPeak(ctx context.Context, env bench.Env) (float64, float64, int, error) {
	var best, bestPeer float64
	total := 0
	for _, w := range peakWriters {
		ours, peer, n, err := singleEvents(ctx, env, w, env.N(40000))
		if err != nil {
			return 0, 0, 0, fmt.Errorf("%d writers: %w", w, err)
		}
		fmt.Fprintf(os.Stderr, "%s: %d writers: Ordo %.0f events/s, watermill %.0f (ratio %.2f)\n",
			peakName, w, ours, peer, ours/peer)
		best, bestPeer, total = max(best, ours), max(bestPeer, peer), total+n
	}
	return best, bestPeer, total, nil
}

// singleEvents is peer-watermill-sql with the given writers and events a side, in a
// fresh schema: each writer stores one event per call and waits for it.
func singleEvents(ctx context.Context, env bench.Env, writers, events int) (float64, float64, int, error) {
	p, err := newPeerSetup(ctx, env)
	if err != nil {
		return 0, 0, 0, err
	}
	defer p.close()
	store, pub, next := p.store, p.pub, p.next

	perRound := max(1, events/rounds)
	streams := func() ([]eventstore.Stream, []int64) {
		st := make([]eventstore.Stream, writers)
		for w := range st {
			st[w] = eventstore.Stream{Type: "order", ID: "order-" + uuid.NewString()}
		}
		return st, make([]int64, writers)
	}
	ourStreams, ourVersions := streams()
	peerStreams, peerVersions := streams()
	ours := func(ctx context.Context, _ int) (int, time.Duration, error) {
		d, err := bench.TimedParallel(ctx, writers, perRound, func(w, _ int) error {
			_, err := store.Append(ctx, ourStreams[w], eventstore.Exact(ourVersions[w]), next())
			ourVersions[w]++
			return err
		})
		return perRound, d, err
	}
	peer := func(ctx context.Context, _ int) (int, time.Duration, error) {
		d, err := bench.TimedParallel(ctx, writers, perRound, func(w, _ int) error {
			peerVersions[w]++
			return pub.Publish(topic, toMessage(peerStreams[w], peerVersions[w], next()))
		})
		return perRound, d, err
	}
	return bench.Alternate(ctx, rounds, ours, peer)
}

func runWatermillSQLBatch(ctx context.Context, env bench.Env) (float64, float64, int, error) {
	p, err := newPeerSetup(ctx, env)
	if err != nil {
		return 0, 0, 0, err
	}
	defer p.close()
	const workers, size = 4, 100
	batches := max(1, env.N(100000)/size/rounds)
	newBatch := func() (eventstore.Stream, []eventstore.NewEvent) {
		b := make([]eventstore.NewEvent, size)
		for i := range b {
			b[i] = p.next()
		}
		return eventstore.Stream{Type: "order", ID: "order-" + uuid.NewString()}, b
	}
	ours := func(ctx context.Context, _ int) (int, time.Duration, error) {
		d, err := bench.TimedParallel(ctx, workers, batches, func(_, _ int) error {
			stream, b := newBatch()
			_, err := p.store.Append(ctx, stream, eventstore.NoStream, b...)
			return err
		})
		return batches * size, d, err
	}
	peer := func(ctx context.Context, _ int) (int, time.Duration, error) {
		d, err := bench.TimedParallel(ctx, workers, batches, func(_, _ int) error {
			stream, b := newBatch()
			msgs := make([]*message.Message, len(b))
			for i, e := range b {
				msgs[i] = toMessage(stream, int64(i+1), e)
			}
			return p.pub.Publish(topic, msgs...)
		})
		return batches * size, d, err
	}
	return bench.Alternate(ctx, rounds, ours, peer)
}

// toMessage is the event as a watermill message: its id, the Avro payload, and the rest
// of the envelope as metadata.
func toMessage(stream eventstore.Stream, version int64, e eventstore.NewEvent) *message.Message {
	m := message.NewMessage(e.ID.String(), e.Payload)
	m.Metadata = message.Metadata{
		"event_type":         e.Type,
		"stream_id":          stream.ID,
		"stream_type":        stream.Type,
		"stream_version":     strconv.FormatInt(version, 10),
		"schema_version":     strconv.Itoa(e.SchemaVersion),
		"schema_fingerprint": hex.EncodeToString(e.SchemaFingerprint),
		"occurred_at":        e.OccurredAt.Format(time.RFC3339Nano),
		"correlation_id":     e.Metadata.CorrelationID.String(),
		"causation_id":       e.Metadata.CausationID.String(),
		"actor":              e.Metadata.Actor,
		"traceparent":        e.Metadata.TraceParent,
	}
	return m
}
