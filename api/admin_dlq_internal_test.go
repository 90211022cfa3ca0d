package api

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/app"
	"github.com/ordo-platform/ordo/internal/topic"
	"github.com/ordo-platform/ordo/schemas"
)

func TestDescribeDeadLetter(t *testing.T) {
	t.Parallel()
	s := &Server{deps: Deps{App: &app.Env{Codec: schemas.Default()}, Admin: AdminDeps{Topics: topic.Names{Prefix: "ordo"}}}}
	hdr := func(kv ...string) []kgo.RecordHeader {
		var out []kgo.RecordHeader
		for i := 0; i < len(kv); i += 2 {
			out = append(out, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return out
	}
	tests := []struct {
		name          string
		rec           *kgo.Record
		preview       string
		target        string
		targetProblem string
	}{
		{
			name: "the bytes of a known type are not shown: they may hold a password hash",
			rec: &kgo.Record{Key: []byte("user-1"), Value: []byte("\x02$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
				Headers: hdr("event-type", "user.registered", "stream-type", "user", "dlq-reason", "boom", "dlq-topic", "ordo.users.v1")},
			preview: "(not shown: the payload of a known event type may hold secrets)", target: "ordo.users.v1",
		},
		{
			name:    "text of no known type is shown as text",
			rec:     &kgo.Record{Key: []byte("k"), Value: []byte(`{"hello":"world"}`), Headers: hdr("dlq-reason", "boom", "dlq-topic", "ordo.orders.v1")},
			preview: `{"hello":"world"}`, target: "ordo.orders.v1",
		},
		{
			name:    "binary of no known type is shown as base64",
			rec:     &kgo.Record{Key: []byte("k"), Value: []byte{0, 1, 2}, Headers: hdr("dlq-reason", "boom", "dlq-source", "relay", "stream-type", "order")},
			preview: "base64:AAEC", target: "ordo.orders.v1",
		},
		{
			name:          "never back into the dead-letter topic",
			rec:           &kgo.Record{Key: []byte("k"), Value: []byte("x"), Headers: hdr("dlq-reason", "boom", "dlq-topic", "ordo.dlq.v1")},
			preview:       "x",
			targetProblem: "not one of Ordo's event topics",
		},
		{
			name:          "nor to a topic of another installation",
			rec:           &kgo.Record{Key: []byte("k"), Value: []byte("x"), Headers: hdr("dlq-reason", "boom", "dlq-topic", "other.orders.v1")},
			preview:       "x",
			targetProblem: "not one of Ordo's event topics",
		},
		{
			name:          "a relay dead letter without a stream type goes nowhere",
			rec:           &kgo.Record{Key: []byte("k"), Value: []byte("x"), Headers: hdr("dlq-reason", "boom", "dlq-source", "relay")},
			preview:       "x",
			targetProblem: "names no original topic",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := s.describeDLQ(tt.rec)
			require.Nil(t, d.Event)
			require.NotEmpty(t, d.DecodeError)
			require.Equal(t, "boom", d.Reason)
			require.Equal(t, tt.preview, d.ValuePreview)
			require.Equal(t, tt.target, d.Target)
			if tt.targetProblem == "" {
				require.Empty(t, d.RedriveProblem)
			} else {
				require.Contains(t, d.RedriveProblem, tt.targetProblem)
			}
			for k := range d.Headers {
				require.NotContains(t, k, "dlq-")
			}
		})
	}
}
