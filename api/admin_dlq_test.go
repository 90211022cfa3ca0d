package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/eventstore/record"
	"github.com/ordo-platform/ordo/internal/testenv"
)

type dlqBody struct {
	Topic   string `json:"topic"`
	Total   int64  `json:"total"`
	Records []struct {
		Partition      int32             `json:"partition"`
		Offset         int64             `json:"offset"`
		Key            string            `json:"key"`
		Reason         string            `json:"reason"`
		Group          string            `json:"group"`
		Source         string            `json:"source"`
		SourceTopic    string            `json:"source_topic"`
		SourceOffset   *int64            `json:"source_offset"`
		Headers        map[string]string `json:"headers"`
		DecodeError    string            `json:"decode_error"`
		ValuePreview   string            `json:"value_preview"`
		Target         string            `json:"target"`
		RedriveProblem string            `json:"redrive_problem"`
		Event          *struct {
			Type     string          `json:"type"`
			StreamID string          `json:"stream_id"`
			Data     json.RawMessage `json:"data"`
		} `json:"event"`
		Redriven *struct {
			By          string `json:"by"`
			TargetTopic string `json:"target_topic"`
		} `json:"redriven"`
	} `json:"records"`
}

type redriveBody struct {
	Redriven []struct {
		Partition   int32  `json:"partition"`
		Offset      int64  `json:"offset"`
		TargetTopic string `json:"target_topic"`
		Error       string `json:"error"`
	} `json:"redriven"`
	Skipped []struct {
		Offset int64 `json:"offset"`
	} `json:"skipped"`
	Failed []struct {
		Offset int64  `json:"offset"`
		Error  string `json:"error"`
	} `json:"failed"`
	Remaining int `json:"remaining"`
}

type ref struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
}

func TestAdminDLQInspectAndRedrive(t *testing.T) {
	t.Parallel()
	s := newAdminServer(t, adminOpts{kafka: true})
	admin := s.admin(t)
	p := s.product(t, admin, 1299, "EUR")
	customer, _ := s.customer(t)
	order := s.order(t, customer, p.ID, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The empty topic.
	var empty dlqBody
	s.getJSON(t, "/v1/admin/dlq", admin, &empty)
	require.Equal(t, s.names.DeadLetter(), empty.Topic)
	require.Empty(t, empty.Records)

	// Three dead letters, as the runtime and the relay write them: (1) the order.placed
	// record a projector gave up on, (2) bytes nobody can decode, (3) a relay dead letter
	// of a stream type without a topic.
	events, err := s.env.Store.ReadStream(ctx, "order-"+order.ID, 1, 10)
	require.NoError(t, err)
	require.Len(t, events, 1)
	orig, err := record.FromEvent(events[0], s.names)
	require.NoError(t, err)
	ordersTopic := orig.Topic
	deadLetter := func(r *kgo.Record, reason string, extra ...kgo.RecordHeader) *kgo.Record {
		return &kgo.Record{Topic: s.names.DeadLetter(), Key: r.Key, Value: r.Value, Headers: append(append(
			append([]kgo.RecordHeader(nil), r.Headers...), kgo.RecordHeader{Key: "dlq-reason", Value: []byte(reason)}), extra...)}
	}
	consumerHeaders := []kgo.RecordHeader{
		{Key: "dlq-group", Value: []byte("ordo-projector-orders")}, {Key: "dlq-topic", Value: []byte(ordersTopic)},
		{Key: "dlq-partition", Value: []byte("2")}, {Key: "dlq-offset", Value: []byte("41")},
		{Key: "dlq-at", Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
	}
	poison := []*kgo.Record{
		deadLetter(orig, "apply: relation read_orders_v1 does not exist", consumerHeaders...),
		deadLetter(&kgo.Record{Key: []byte("order-x"), Value: []byte("not avro \x00\x01")}, "decode: record: not an ordo event",
			kgo.RecordHeader{Key: "dlq-topic", Value: []byte(ordersTopic)}),
		deadLetter(&kgo.Record{Key: []byte("mystery-1"), Value: []byte("{}"), Headers: []kgo.RecordHeader{{Key: "stream-type", Value: []byte("mystery")}}},
			"topic: unknown stream type", kgo.RecordHeader{Key: "dlq-source", Value: []byte("relay")}),
	}
	for _, r := range poison {
		// One by one, so that their timestamps order them.
		require.NoError(t, s.kafka.ProduceSync(ctx, r).FirstErr())
		time.Sleep(5 * time.Millisecond)
	}

	var list dlqBody
	s.getJSON(t, "/v1/admin/dlq", admin, &list)
	require.EqualValues(t, 3, list.Total)
	require.Len(t, list.Records, 3)
	first, second, third := list.Records[0], list.Records[1], list.Records[2]
	require.Equal(t, "apply: relation read_orders_v1 does not exist", first.Reason, "newest last")
	require.Equal(t, "ordo-projector-orders", first.Group)
	require.Equal(t, ordersTopic, first.SourceTopic)
	require.EqualValues(t, 41, *first.SourceOffset)
	require.NotNil(t, first.Event, "decode error: %s", first.DecodeError)
	require.Equal(t, "order.placed", first.Event.Type)
	require.Equal(t, "order-"+order.ID, first.Event.StreamID)
	require.Contains(t, string(first.Event.Data), p.ID)
	require.Equal(t, "order.placed", first.Headers["event-type"])
	for k := range first.Headers {
		require.False(t, strings.HasPrefix(k, "dlq-"), "dlq headers are shown apart: %s", k)
	}
	require.Equal(t, ordersTopic, first.Target)
	require.Nil(t, first.Redriven)

	require.Nil(t, second.Event)
	require.NotEmpty(t, second.DecodeError)
	require.True(t, strings.HasPrefix(second.ValuePreview, "base64:"), "binary values are base64: %s", second.ValuePreview)
	require.Equal(t, ordersTopic, second.Target)

	require.Equal(t, "relay", third.Source)
	require.Empty(t, third.Target)
	require.Contains(t, third.RedriveProblem, "mystery")

	var limited dlqBody
	s.getJSON(t, "/v1/admin/dlq?limit=1", admin, &limited)
	require.Len(t, limited.Records, 1)
	require.Equal(t, third.Offset, limited.Records[0].Offset)
	require.EqualValues(t, 3, limited.Total)

	// Re-drive the first: the original record, without dlq-* headers, on its topic.
	one := map[string]any{"records": []ref{{first.Partition, first.Offset}}}
	r := s.do(t, http.MethodPost, "/v1/admin/dlq/redrive", one, bearer(admin))
	require.Equal(t, http.StatusOK, r.Code, "body: %s", r.Body)
	var res redriveBody
	r.decode(t, &res)
	require.Len(t, res.Redriven, 1, "body: %s", r.Body)
	require.Equal(t, ordersTopic, res.Redriven[0].TargetTopic)
	require.Empty(t, res.Skipped)
	require.Empty(t, res.Failed)

	got := testenv.ConsumeN(t, []string{ordersTopic}, 1, 20*time.Second)
	require.Len(t, got, 1)
	require.Equal(t, orig.Key, got[0].Key)
	require.Equal(t, orig.Value, got[0].Value)
	require.Equal(t, orig.Headers, got[0].Headers, "the original headers, and no dlq-* ones")
	e, err := record.ToEvent(got[0])
	require.NoError(t, err)
	require.Equal(t, events[0].ID, e.ID)

	// A second click, and two at once: nothing is sent again.
	r = s.do(t, http.MethodPost, "/v1/admin/dlq/redrive", one, bearer(admin))
	require.Equal(t, http.StatusOK, r.Code, "body: %s", r.Body)
	res = redriveBody{}
	r.decode(t, &res)
	require.Empty(t, res.Redriven)
	require.Len(t, res.Skipped, 1)

	var list2 dlqBody
	s.getJSON(t, "/v1/admin/dlq", admin, &list2)
	require.NotNil(t, list2.Records[0].Redriven)
	require.Equal(t, ordersTopic, list2.Records[0].Redriven.TargetTopic)
	require.NotEmpty(t, list2.Records[0].Redriven.By)
	require.Nil(t, list2.Records[1].Redriven)

	twice := map[string]any{"records": []ref{{second.Partition, second.Offset}}}
	var wg sync.WaitGroup
	results := make([]redriveBody, 2)
	for i := range results {
		wg.Go(func() {
			r := s.do(t, http.MethodPost, "/v1/admin/dlq/redrive", twice, bearer(admin))
			if r.Code == http.StatusOK {
				_ = json.Unmarshal(r.Body, &results[i])
			}
		})
	}
	wg.Wait()
	require.Equal(t, 1, len(results[0].Redriven)+len(results[1].Redriven), "one of two concurrent re-drives sends it: %+v", results)
	require.Equal(t, 1, len(results[0].Skipped)+len(results[1].Skipped))

	// all: what is left (the relay's dead letter cannot go anywhere).
	r = s.do(t, http.MethodPost, "/v1/admin/dlq/redrive", map[string]any{"all": true}, bearer(admin))
	require.Equal(t, http.StatusOK, r.Code, "body: %s", r.Body)
	res = redriveBody{}
	r.decode(t, &res)
	require.Empty(t, res.Redriven)
	require.Len(t, res.Failed, 1)
	require.Equal(t, third.Offset, res.Failed[0].Offset)
	require.Contains(t, res.Failed[0].Error, "mystery")

	// Both re-driven records arrive (a fresh consumer on a loaded machine can take more
	// than a few seconds to fetch anything), and no third one comes after them.
	got = testenv.ConsumeThenWatch(t, []string{ordersTopic}, 2, 30*time.Second, 3*time.Second)
	require.Len(t, got, 2, "one record per re-drive, whatever was clicked")

	// Bad requests.
	s.do(t, http.MethodPost, "/v1/admin/dlq/redrive", map[string]any{}, bearer(admin)).problem(t, http.StatusUnprocessableEntity, "invalid_input")
	s.do(t, http.MethodPost, "/v1/admin/dlq/redrive", map[string]any{"all": true, "records": []ref{{0, 0}}}, bearer(admin)).
		problem(t, http.StatusUnprocessableEntity, "invalid_input")
	s.do(t, http.MethodPost, "/v1/admin/dlq/redrive", map[string]any{"records": []ref{{0, 1 << 40}}}, bearer(admin)).
		problem(t, http.StatusNotFound, "dlq_record_not_found")
	s.do(t, http.MethodPost, "/v1/admin/dlq/redrive", map[string]any{"records": []ref{{99, 0}}}, bearer(admin)).
		problem(t, http.StatusNotFound, "dlq_record_not_found")
	s.do(t, http.MethodPost, "/v1/admin/dlq/redrive", `{"all": true, "extra": 1}`, bearer(admin)).problem(t, http.StatusBadRequest, "unknown_field")
	s.do(t, http.MethodGet, "/v1/admin/dlq?limit=0", nil, bearer(admin)).problem(t, http.StatusBadRequest, "invalid_query")
	s.do(t, http.MethodGet, "/v1/admin/dlq?limit="+strconv.Itoa(1001), nil, bearer(admin)).problem(t, http.StatusBadRequest, "invalid_query")
}

func TestAdminDLQWithoutKafkaIs503(t *testing.T) {
	t.Parallel()
	s := newAdminServer(t, adminOpts{})
	admin := s.admin(t)
	s.do(t, http.MethodGet, "/v1/admin/dlq", nil, bearer(admin)).problem(t, http.StatusServiceUnavailable, "service_unavailable")
	s.do(t, http.MethodPost, "/v1/admin/dlq/redrive", map[string]any{"all": true}, bearer(admin)).problem(t, http.StatusServiceUnavailable, "service_unavailable")
	s.do(t, http.MethodGet, "/v1/admin/consumers", nil, bearer(admin)).problem(t, http.StatusServiceUnavailable, "service_unavailable")
}
