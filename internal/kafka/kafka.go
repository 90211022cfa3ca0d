// Package kafka builds Ordo's franz-go clients with one set of defaults, so that every
// role produces and consumes the same way and every client reports the same metrics
// (kprom) and traces (kotel).
package kafka

import (
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"
	"github.com/twmb/franz-go/plugin/kprom"
	"go.opentelemetry.io/otel"

	"github.com/ordo-platform/ordo/internal/telemetry"
)

// Factory makes clients for one process.
type Factory struct {
	Brokers []string
	// Registerer receives the franz-go client metrics (nil: none).
	Registerer prometheus.Registerer
	// Tracing adds kotel's spans: one per record produced and one per record consumed.
	// They cost a span each (a few microseconds, allocations, a header rewritten) and are
	// worth it only when traces are exported. Without them a trace still crosses Kafka:
	// every record carries the traceparent of the span that appended its event (the
	// relay copies it from the event), and consumers continue from it.
	Tracing bool
	n       atomic.Int64
}

// ProducerOptions are Ordo's producer settings, shared by every client (and by the
// benchmarks' raw ceiling, so that it measures the same Kafka work):
//   - LZ4 batch compression (cheap on CPU, the broker keeps it as is);
//   - franz-go's defaults otherwise: idempotent, acks from all in-sync replicas, 10 ms
//     linger, 1 MB batches, 50,000 buffered records.
func ProducerOptions() []kgo.Opt {
	return []kgo.Opt{
		kgo.ProducerBatchCompression(kgo.Lz4Compression(), kgo.NoCompression()),
	}
}

// New returns a client for role with Ordo's defaults and then opts (later options win).
// Producing is idempotent with acks from all in-sync replicas (franz-go's default);
// consumers add their group options. Each client gets a unique client id
// ("ordo-<role>-<n>") so its metrics are told apart.
func (f *Factory) New(role string, opts ...kgo.Opt) (*kgo.Client, error) {
	id := fmt.Sprintf("ordo-%s-%d", role, f.n.Add(1))
	var hooks []kgo.Hook
	if f.Tracing {
		hooks = kotel.NewKotel(kotel.WithTracer(kotel.NewTracer(
			kotel.TracerProvider(otel.GetTracerProvider()),
			kotel.TracerPropagator(telemetry.Propagator()),
			kotel.ClientID(id),
		))).Hooks()
	}
	if f.Registerer != nil {
		hooks = append(hooks, kprom.NewMetrics("ordo", kprom.Subsystem("kafka"), kprom.Registerer(f.Registerer), kprom.WithClientLabel()))
	}
	base := append([]kgo.Opt{
		kgo.SeedBrokers(f.Brokers...),
		kgo.ClientID(id),
		kgo.WithHooks(hooks...),
	}, ProducerOptions()...)
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client %s: %w", id, err)
	}
	return cl, nil
}
