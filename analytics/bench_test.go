package analytics

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/analytics/internal/workload"
	"github.com/ordo-platform/ordo/eventstore/record"
	"github.com/ordo-platform/ordo/internal/topic"
	"github.com/ordo-platform/ordo/schemas"
)

// BenchmarkDecode measures the sink's CPU work per event before ClickHouse: the Kafka
// record's envelope, the Avro payload to JSON and to the domain event, and the rows. The
// records are made before the clock starts (making them is the relay's work).
func BenchmarkDecode(b *testing.B) {
	g := workload.New(1, time.Now())
	events, err := workload.Stored(append(g.Setup(50, 200), g.Orders(1000)...), schemas.Default())
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]*kgo.Record, len(events))
	for i, e := range events {
		if recs[i], err = record.FromEvent(e, topic.Default); err != nil {
			b.Fatal(err)
		}
	}
	codec := schemas.Default()
	var s rowSet
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		e, err := record.ToEvent(recs[i%len(recs)])
		if err != nil {
			b.Fatal(err)
		}
		d, err := Decode(codec, e)
		if err != nil {
			b.Fatal(err)
		}
		s.add(d, time.Time{})
		if s.len() == 50_000 {
			s.reset()
		}
	}
}
