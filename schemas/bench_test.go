package schemas_test

import (
	"testing"

	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/schemas"
)

func BenchmarkEncodeOrderPlaced(b *testing.B) {
	c := newCodec(b)
	e := orderPlaced()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encode(e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeOrderPlaced(b *testing.B) {
	c, enc := encodedOrderPlaced(b)
	b.SetBytes(int64(len(enc.Payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(order.TypePlaced, enc.Version, enc.Payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeJSONOrderPlaced(b *testing.B) {
	c, enc := encodedOrderPlaced(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.DecodeJSON(order.TypePlaced, enc.Version, enc.Payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeOrderPlacedParallel(b *testing.B) {
	c, enc := encodedOrderPlaced(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Decode(order.TypePlaced, enc.Version, enc.Payload); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDecodeWithJSONOrderPlaced is what the analytics sink needs of each event
// (the domain value and its JSON) from one read; compare with Decode + DecodeJSON.
func BenchmarkDecodeWithJSONOrderPlaced(b *testing.B) {
	c, enc := encodedOrderPlaced(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.DecodeWithJSON(order.TypePlaced, enc.Version, enc.Payload); err != nil {
			b.Fatal(err)
		}
	}
}

// encodedOrderPlaced returns a codec and an OrderPlaced it encoded, for the decode
// benchmarks.
func encodedOrderPlaced(b *testing.B) (*schemas.Codec, schemas.Encoded) {
	b.Helper()
	c := newCodec(b)
	enc, err := c.Encode(orderPlaced())
	if err != nil {
		b.Fatal(err)
	}
	return c, enc
}
