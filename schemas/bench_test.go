package schemas_test

import (
	"testing"

	"github.com/ordo-platform/ordo/domain/order"
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
	c := newCodec(b)
	enc, err := c.Encode(orderPlaced())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc.Payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(order.TypePlaced, enc.Version, enc.Payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeJSONOrderPlaced(b *testing.B) {
	c := newCodec(b)
	enc, err := c.Encode(orderPlaced())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.DecodeJSON(order.TypePlaced, enc.Version, enc.Payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeOrderPlacedParallel(b *testing.B) {
	c := newCodec(b)
	enc, err := c.Encode(orderPlaced())
	if err != nil {
		b.Fatal(err)
	}
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
	c := newCodec(b)
	enc, err := c.Encode(orderPlaced())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.DecodeWithJSON(order.TypePlaced, enc.Version, enc.Payload); err != nil {
			b.Fatal(err)
		}
	}
}
