package schemas

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// trickyStrings are what Marshal escapes or changes: quotes, backslashes, control
// characters, the HTML characters, U+2028 and U+2029, invalid UTF-8, and plain
// non-ASCII text, each alone and inside other text.
var trickyStrings = []string{
	"", "plain", "tok_visa", `say "hi"`, `C:\path`, "line\nbreak\ttab\r", "\x00\x01\x1f\x7f",
	"<script>&amp;</script>", "a\u2028b\u2029c", "\xff\xfe", "bad \xc3\x28 utf8",
	"Earl Grey – 100 g", "日本語", "emoji 🙂", "0193a1c2-7d4e-7f00-8a2b-000000000001",
}

// TestJSONWritersMatchMarshal: every record type has a writer, and it writes exactly
// what json.Marshal writes, for records filled with random and tricky values.
func TestJSONWritersMatchMarshal(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, b := range bindings() {
		t.Run(b.eventType, func(t *testing.T) {
			require.NotNil(t, b.writeJSON, "%s has a field the JSON writer does not support; extend jsonWriterFor", b.record)
			for i := range 500 {
				rec := reflect.New(b.record).Elem()
				fill(rng, rec, i)
				want, err := json.Marshal(rec.Addr().Interface())
				require.NoError(t, err)
				got := b.writeJSON(nil, rec)
				require.Equal(t, string(want), string(got), "%s #%d: %#v", b.record, i, rec.Interface())
			}
		})
	}
}

// fill sets every field of v to a random value; the first records take the zero value
// of every field instead (nil slices among them).
func fill(rng *rand.Rand, v reflect.Value, i int) {
	if i == 0 {
		return
	}
	if v.Type() == timestampType {
		lo, hi := minTime.UnixMicro(), maxTime.UnixMicro()
		v.Set(reflect.ValueOf(timestamp(time.UnixMicro(lo + rng.Int64N(hi-lo)).In(time.FixedZone("x", 3600)))))
		return
	}
	switch v.Kind() {
	case reflect.String:
		if rng.IntN(2) == 0 {
			v.SetString(trickyStrings[rng.IntN(len(trickyStrings))])
		} else {
			b := make([]byte, rng.IntN(40))
			for j := range b {
				b[j] = byte(rng.IntN(256))
			}
			v.SetString(string(b))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		choices := []int64{0, -1, 1, math.MinInt64, math.MaxInt64, rng.Int64() - rng.Int64()}
		v.SetInt(choices[rng.IntN(len(choices))]) // wraps into the field's size
	case reflect.Uint, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(rng.Uint64())
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 0)
	case reflect.Slice:
		switch n := rng.IntN(5); n {
		case 0: // nil
		default:
			s := reflect.MakeSlice(v.Type(), n-1, n-1)
			for j := range s.Len() {
				fill(rng, s.Index(j), i)
			}
			v.Set(s)
		}
	case reflect.Struct:
		for j := range v.NumField() {
			fill(rng, v.Field(j), i)
		}
	}
}

// TestJSONWriterLeavesTheRestToMarshal: a type with something the writer does not
// support gets no writer, so that its records take json.Marshal.
func TestJSONWriterLeavesTheRestToMarshal(t *testing.T) {
	t.Parallel()
	for _, v := range []any{
		struct{ A float64 }{},
		struct {
			A string `json:"a,omitempty"`
		}{},
		struct {
			A map[string]string `json:"a"`
		}{},
		struct {
			A *string `json:"a"`
		}{},
		struct {
			A []byte `json:"a"`
		}{},
		struct {
			A time.Time `json:"a"`
		}{},
		struct {
			A json.RawMessage `json:"a"`
		}{},
		struct {
			a string //nolint:unused // an unexported field: Marshal skips it
		}{},
		struct{ A string }{}, // no tag: Marshal uses the Go name
		struct {
			A string `json:"-"`
		}{},
		struct {
			A string `json:"a-b"`
		}{},
	} {
		require.Nil(t, jsonWriterFor(reflect.TypeOf(v)), "%T", v)
	}
}

// FuzzAppendJSONString: any string comes out as Marshal quotes it.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendJSONString([]byte("x"), s)[1:]))
	})
}

// TestAppendRFC3339Micro: the same text as AppendFormat, at the edges of the range,
// outside it, and in other zones.
func TestAppendRFC3339Micro(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	times := []time.Time{minTime, maxTime, minTime.Add(-time.Microsecond), maxTime.Add(time.Second),
		time.Date(2026, 12, 6, 23, 59, 59, 999999999, time.UTC), time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 6000, time.FixedZone("x", -7200))}
	for range 2000 {
		times = append(times, time.UnixMicro(minTime.UnixMicro()+rng.Int64N(maxTime.UnixMicro()-minTime.UnixMicro())).UTC())
	}
	for _, tt := range times {
		require.Equal(t, tt.AppendFormat([]byte("x"), rfc3339Micro), appendRFC3339Micro([]byte("x"), tt), "%v", tt)
	}
}
