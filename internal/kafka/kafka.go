// Package kafka builds Ordo's franz-go clients with one set of defaults, so that every
// role produces and consumes the same way.
package kafka

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// NewClient returns a client for brokers with Ordo's defaults and then opts (later
// options win). Producing is idempotent with acks from all in-sync replicas (franz-go's
// default); consumers add their own group options.
func NewClient(brokers []string, clientID string, opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ClientID("ordo-" + clientID),
		kgo.ProducerBatchCompression(kgo.Lz4Compression(), kgo.NoCompression()),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client %s: %w", clientID, err)
	}
	return cl, nil
}
