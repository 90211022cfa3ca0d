package main

import (
	"context"
	"encoding/hex"
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

const writers, rounds = 16, 4

func runWatermillSQL(ctx context.Context, env bench.Env) (float64, float64, int, error) {
	pool, drop, err := bench.ScratchSchema(ctx, env, postgres.Migrations())
	if err != nil {
		return 0, 0, 0, err
	}
	defer drop()
	store, err := postgres.New(ctx, pool)
	if err != nil {
		return 0, 0, 0, err
	}
	defer store.Close()
	next, err := bench.SampleEvents()
	if err != nil {
		return 0, 0, 0, err
	}
	pub, err := sql.NewPublisher(sql.BeginnerFromPgx(pool), sql.PublisherConfig{
		SchemaAdapter: sql.DefaultPostgreSQLSchema{
			// The payload is Avro, as Ordo's: BYTEA, not the default JSON.
			GeneratePayloadType: func(string) string { return "BYTEA" },
		},
		AutoInitializeSchema: true,
	}, watermill.NopLogger{})
	if err != nil {
		return 0, 0, 0, err
	}
	defer pub.Close()
	const topic = "ordo_orders"
	if err := pub.Publish(topic, toMessage(eventstore.Stream{Type: "order", ID: "order-warmup"}, 1, next())); err != nil {
		return 0, 0, 0, err // creates the table, outside the measurement
	}

	perRound := env.N(20000) / rounds
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
		d, err := bench.Parallel(writers, perRound, func(w, _ int) error {
			_, err := store.Append(ctx, ourStreams[w], eventstore.Exact(ourVersions[w]), next())
			ourVersions[w]++
			return err
		})
		return perRound, d, err
	}
	peer := func(ctx context.Context, _ int) (int, time.Duration, error) {
		d, err := bench.Parallel(writers, perRound, func(w, _ int) error {
			peerVersions[w]++
			return pub.Publish(topic, toMessage(peerStreams[w], peerVersions[w], next()))
		})
		return perRound, d, err
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
