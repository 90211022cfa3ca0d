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
	n          atomic.Int64
}

// New returns a client for role with Ordo's defaults and then opts (later options win).
// Producing is idempotent with acks from all in-sync replicas (franz-go's default);
// consumers add their group options. Each client gets a unique client id
// ("ordo-<role>-<n>") so its metrics are told apart.
func (f *Factory) New(role string, opts ...kgo.Opt) (*kgo.Client, error) {
	id := fmt.Sprintf("ordo-%s-%d", role, f.n.Add(1))
	hooks := kotel.NewKotel(kotel.WithTracer(kotel.NewTracer(
		kotel.TracerProvider(otel.GetTracerProvider()),
		kotel.TracerPropagator(telemetry.Propagator()),
		kotel.ClientID(id),
	))).Hooks()
	if f.Registerer != nil {
		hooks = append(hooks, kprom.NewMetrics("ordo", kprom.Subsystem("kafka"), kprom.Registerer(f.Registerer), kprom.WithClientLabel()))
	}
	base := []kgo.Opt{
		kgo.SeedBrokers(f.Brokers...),
		kgo.ClientID(id),
		kgo.ProducerBatchCompression(kgo.Lz4Compression(), kgo.NoCompression()),
		kgo.WithHooks(hooks...),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client %s: %w", id, err)
	}
	return cl, nil
}
