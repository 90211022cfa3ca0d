package schemas_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/domain/user"
	"github.com/ordo-platform/ordo/schemas"
)

func newCodec(t testing.TB) *schemas.Codec {
	t.Helper()
	c, err := schemas.New()
	require.NoError(t, err)
	return c
}

func TestClosedSet(t *testing.T) {
	t.Parallel()
	c := newCodec(t)

	var want []string
	for _, e := range domainEvents() {
		want = append(want, e.EventType())
	}
	slices.Sort(want)
	require.Equal(t, want, c.Types(), "every domain event type has a schema, and every schema a domain event type")

	// Every schema file on disk is named for a known type and version.
	files, err := filepath.Glob("*.avsc")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	perType := map[string]int{}
	for _, f := range files {
		name, version, ok := parseFileName(f)
		require.True(t, ok, "badly named schema file %s", f)
		latest, ok := c.Latest(name)
		require.True(t, ok, "schema file %s belongs to no event type", f)
		require.LessOrEqual(t, version, latest, f)
		require.Equal(t, schemas.FileName(name, version), f)
		perType[name]++
	}
	for _, typ := range c.Types() {
		latest, _ := c.Latest(typ)
		require.Equal(t, latest, perType[typ], "%s: versions 1..%d must all exist", typ, latest)
	}

	// The samples used by the other tests cover the closed set.
	var sampled []string
	for _, e := range samples() {
		sampled = append(sampled, e.EventType())
	}
	slices.Sort(sampled)
	require.Equal(t, want, sampled)
}

func parseFileName(f string) (eventType string, version int, ok bool) {
	base, ok := strings.CutSuffix(f, ".avsc")
	if !ok {
		return "", 0, false
	}
	i := strings.LastIndex(base, ".v")
	if i < 0 {
		return "", 0, false
	}
	if _, err := fmt.Sscanf(base[i+2:], "%d", &version); err != nil {
		return "", 0, false
	}
	return strings.Replace(base[:i], "_", ".", 1), version, true
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	c := newCodec(t)
	for _, e := range samples() {
		t.Run(e.EventType(), func(t *testing.T) {
			t.Parallel()
			enc, err := c.Encode(e)
			require.NoError(t, err)
			require.Equal(t, e.EventType(), enc.Type)
			latest, _ := c.Latest(e.EventType())
			require.Equal(t, latest, enc.Version)
			fp, err := c.Fingerprint(enc.Type, enc.Version)
			require.NoError(t, err)
			require.Len(t, enc.Fingerprint, 8)
			require.Equal(t, fp, enc.Fingerprint)
			typ, version, ok := c.Identify(enc.Fingerprint)
			require.True(t, ok)
			require.Equal(t, enc.Type, typ)
			require.Equal(t, enc.Version, version)
			require.NotEmpty(t, enc.Payload)

			got, err := c.Decode(enc.Type, enc.Version, enc.Payload)
			require.NoError(t, err)
			require.Equal(t, e, got)

			// A pointer to an event encodes the same.
			ptr := reflect.New(reflect.TypeOf(e))
			ptr.Elem().Set(reflect.ValueOf(e))
			encPtr, err := c.Encode(ptr.Interface().(domain.Event))
			require.NoError(t, err)
			require.Equal(t, enc, encPtr)
		})
	}
}

func TestRoundTripZeroValues(t *testing.T) {
	t.Parallel()
	// Fold never validates, so the codec must carry any value the domain
	// types can hold, including empty ones.
	c := newCodec(t)
	for _, e := range domainEvents() {
		enc, err := c.Encode(e)
		require.NoError(t, err, e.EventType())
		got, err := c.Decode(enc.Type, enc.Version, enc.Payload)
		require.NoError(t, err, e.EventType())
		require.Equal(t, e, got, e.EventType())
	}
}

func TestEncodeRejectsValuesOutsideTheClosedSet(t *testing.T) {
	t.Parallel()
	c := newCodec(t)
	var nilPlaced *order.Placed
	tests := []struct {
		name string
		e    domain.Event
		want error
	}{
		{name: "nil", e: nil, want: schemas.ErrUnsupportedEvent},
		{name: "nil pointer", e: nilPlaced, want: schemas.ErrUnsupportedEvent},
		{name: "look-alike type", e: lookAlike{}, want: schemas.ErrUnsupportedEvent},
		{name: "unknown type", e: unknownEvent{}, want: schemas.ErrUnknownEventType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.Encode(tt.e)
			require.ErrorIs(t, err, tt.want)
		})
	}
}

type lookAlike struct{ OrderID string }

func (lookAlike) EventType() string { return order.TypePlaced }

type unknownEvent struct{}

func (unknownEvent) EventType() string { return "order.shipped" }

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	c := newCodec(t)
	good, err := c.Encode(orderPlaced())
	require.NoError(t, err)

	badUUID := rawPayload(t, c, order.TypeConfirmed, map[string]any{"order_id": "not-a-uuid"})
	farFuture := rawPayload(t, c, order.TypePlaced, map[string]any{
		"order_id": orderID.String(), "customer_id": userID.String(), "items": []any{},
		"total_cents": int64(0), "currency": "EUR", "payment_token": "tok",
		"placed_at": int64(1) << 62, // about 146,000 years from now
	})

	tests := []struct {
		name    string
		typ     string
		version int
		payload []byte
		want    error
	}{
		{name: "unknown type", typ: "order.shipped", version: 1, payload: good.Payload, want: schemas.ErrUnknownEventType},
		{name: "version 0", typ: order.TypePlaced, version: 0, payload: good.Payload, want: schemas.ErrUnknownVersion},
		{name: "future version", typ: order.TypePlaced, version: 99, payload: good.Payload, want: schemas.ErrUnknownVersion},
		{name: "empty", typ: order.TypePlaced, version: 1, payload: nil, want: schemas.ErrMalformedPayload},
		{name: "truncated", typ: order.TypePlaced, version: 1, payload: good.Payload[:len(good.Payload)-1], want: schemas.ErrMalformedPayload},
		{name: "trailing bytes", typ: order.TypePlaced, version: 1, payload: append(slices.Clone(good.Payload), 0), want: schemas.ErrMalformedPayload},
		{name: "another type's payload", typ: user.TypeRegistered, version: 1, payload: good.Payload, want: schemas.ErrMalformedPayload},
		{name: "bad uuid", typ: order.TypeConfirmed, version: 1, payload: badUUID, want: schemas.ErrMalformedPayload},
		{name: "timestamp beyond year 9999", typ: order.TypePlaced, version: 1, payload: farFuture, want: schemas.ErrMalformedPayload},
		{name: "huge array count", typ: order.TypePlaced, version: 1, payload: hugeArray(t, c), want: schemas.ErrMalformedPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := c.Decode(tt.typ, tt.version, tt.payload)
			require.ErrorIs(t, err, tt.want)
			require.Nil(t, e)
			j, err := c.DecodeJSON(tt.typ, tt.version, tt.payload)
			require.ErrorIs(t, err, tt.want)
			require.Nil(t, j)
		})
	}
}

func TestDecodeEveryTruncation(t *testing.T) {
	t.Parallel()
	c := newCodec(t)
	for _, e := range samples() {
		enc, err := c.Encode(e)
		require.NoError(t, err)
		for n := range len(enc.Payload) {
			_, err := c.Decode(enc.Type, enc.Version, enc.Payload[:n])
			require.ErrorIs(t, err, schemas.ErrMalformedPayload, "%s truncated to %d of %d bytes", enc.Type, n, len(enc.Payload))
		}
	}
}

// rawPayload encodes a generic record with the newest schema of a type,
// bypassing the domain mapping, to build payloads the codec never writes.
func rawPayload(t *testing.T, c *schemas.Codec, eventType string, rec map[string]any) []byte {
	t.Helper()
	latest, _ := c.Latest(eventType)
	text, err := c.SchemaText(eventType, latest)
	require.NoError(t, err)
	schema, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	require.NoError(t, err)
	b, err := avro.Marshal(schema, rec)
	require.NoError(t, err)
	return b
}

// hugeArray is an order.placed payload whose items array claims 2^40
// elements.
func hugeArray(t *testing.T, c *schemas.Codec) []byte {
	t.Helper()
	var b []byte
	str := func(s string) {
		b = avroLong(b, int64(len(s)))
		b = append(b, s...)
	}
	str(orderID.String())
	str(userID.String())
	b = avroLong(b, 1<<40)
	return b
}

func avroLong(b []byte, v int64) []byte {
	u := uint64((v << 1) ^ (v >> 63))
	for u >= 0x80 {
		b = append(b, byte(u)|0x80)
		u >>= 7
	}
	return append(b, byte(u))
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	c := newCodec(t)

	enc, err := c.Encode(orderPlaced())
	require.NoError(t, err)
	got, err := c.DecodeJSON(enc.Type, enc.Version, enc.Payload)
	require.NoError(t, err)
	const want = `{"order_id":"0193a1c2-7d4e-7f00-8a2b-0000000000c1","customer_id":"0193a1c2-7d4e-7f00-8a2b-000000000001",` +
		`"items":[{"product_id":"0193a1c2-7d4e-7f00-8a2b-0000000000f1","sku":"MUG-BLUE-01","name":"Blue mug","unit_price_cents":1299,"quantity":2,"line_total_cents":2598},` +
		`{"product_id":"0193a1c2-7d4e-7f00-8a2b-0000000000f2","sku":"TEA-EARL-GREY","name":"Earl Grey – 100 g","unit_price_cents":450,"quantity":3,"line_total_cents":1350}],` +
		`"total_cents":3948,"currency":"EUR","payment_token":"tok_visa","placed_at":"2025-03-04T12:00:00.123456Z"}`
	require.Equal(t, want, string(got), "field order, names and formats are part of the contract")

	// Whole seconds keep their six digits.
	p := orderPlaced()
	p.PlacedAt = p.PlacedAt.Truncate(1e9)
	enc, err = c.Encode(p)
	require.NoError(t, err)
	got, err = c.DecodeJSON(enc.Type, enc.Version, enc.Payload)
	require.NoError(t, err)
	require.Contains(t, string(got), `"placed_at":"2025-03-04T12:00:00.000000Z"`)

	// Password hashes never reach JSON.
	for _, e := range samples() {
		enc, err := c.Encode(e)
		require.NoError(t, err)
		got, err := c.DecodeJSON(enc.Type, enc.Version, enc.Payload)
		require.NoError(t, err)
		require.NotContains(t, string(got), "$argon2id", e.EventType())
	}
	enc, err = c.Encode(samples()[0])
	require.NoError(t, err)
	got, err = c.DecodeJSON(enc.Type, enc.Version, enc.Payload)
	require.NoError(t, err)
	require.Contains(t, string(got), `"password_hash":"[redacted]"`)

	// Ids are rendered canonically whatever the payload's spelling.
	upper := rawPayload(t, c, order.TypeConfirmed, map[string]any{"order_id": strings.ToUpper(orderID.String())})
	got, err = c.DecodeJSON(order.TypeConfirmed, 1, upper)
	require.NoError(t, err)
	require.JSONEq(t, `{"order_id":"0193a1c2-7d4e-7f00-8a2b-0000000000c1"}`, string(got))
}

func TestDecodeJSONUsesSchemaFieldNames(t *testing.T) {
	t.Parallel()
	c := newCodec(t)
	for _, e := range samples() {
		enc, err := c.Encode(e)
		require.NoError(t, err)
		got, err := c.DecodeJSON(enc.Type, enc.Version, enc.Payload)
		require.NoError(t, err)

		text, err := c.SchemaText(enc.Type, enc.Version)
		require.NoError(t, err)
		schema, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
		require.NoError(t, err)
		var want []string
		for _, f := range schema.(*avro.RecordSchema).Fields() {
			want = append(want, f.Name())
		}
		require.Equal(t, want, jsonKeys(t, got), enc.Type)
	}
}

// jsonKeys returns the top-level keys of a JSON object in document order.
func jsonKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(b)))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, k.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	return keys
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	c := newCodec(t)
	events := samples()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				e := events[(g+i)%len(events)]
				enc, err := c.Encode(e)
				if err != nil {
					errs <- err
					return
				}
				got, err := c.Decode(enc.Type, enc.Version, enc.Payload)
				if err != nil {
					errs <- err
					return
				}
				if !reflect.DeepEqual(e, got) {
					errs <- fmt.Errorf("%s: got %#v", e.EventType(), got)
					return
				}
				if _, err := c.DecodeJSON(enc.Type, enc.Version, enc.Payload); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	require.NoError(t, errors.Join(slices.Collect(chanValues(errs))...))
}

func chanValues[T any](ch <-chan T) func(func(T) bool) {
	return func(yield func(T) bool) {
		for v := range ch {
			if !yield(v) {
				return
			}
		}
	}
}

func TestDefaultIsShared(t *testing.T) {
	t.Parallel()
	require.Same(t, schemas.Default(), schemas.Default())
	_, ok := schemas.Default().Latest(order.TypePlaced)
	require.True(t, ok)
}

func TestSchemaTextMatchesFile(t *testing.T) {
	t.Parallel()
	c := newCodec(t)
	for _, typ := range c.Types() {
		latest, _ := c.Latest(typ)
		for v := 1; v <= latest; v++ {
			text, err := c.SchemaText(typ, v)
			require.NoError(t, err)
			file, err := os.ReadFile(schemas.FileName(typ, v))
			require.NoError(t, err)
			require.Equal(t, string(file), text)
		}
	}
	_, err := c.SchemaText("nope.nope", 1)
	require.ErrorIs(t, err, schemas.ErrUnknownEventType)
	_, _, ok := c.Identify([]byte{1, 2, 3})
	require.False(t, ok)
}
