package schemas

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// A jsonWriter appends a value as encoding/json's Marshal writes it, byte for byte.
//
// The analytics sink renders every event it ingests as JSON, and json.Marshal was two
// thirds of the CPU of decoding a payload (its encoder state, the interface checks per
// field, the copy of the result), so each record type gets a writer compiled once from
// its fields instead. Only what the records use is supported: strings, integers, bools,
// slices and structs of those, timestamp and secret. A type with anything else (a
// float, a map, a pointer, a json tag with options, another marshaler) gets no writer,
// and its records go through json.Marshal as before; TestJSONWritersMatchMarshal checks
// that every record type has a writer and that each writes what Marshal writes.
type jsonWriter func(b []byte, v reflect.Value) []byte

var (
	timestampType = reflect.TypeFor[timestamp]()
	secretType    = reflect.TypeFor[secret]()
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

const redactedLiteral = `"[redacted]"`

// jsonWriterFor returns the writer of t, or nil when t has something it does not support.
func jsonWriterFor(t reflect.Type) jsonWriter {
	switch t {
	case timestampType:
		return func(b []byte, v reflect.Value) []byte {
			var t time.Time
			if v.CanAddr() { // no copy into an interface
				t = time.Time(*(*timestamp)(v.Addr().UnsafePointer()))
			} else {
				t = time.Time(v.Interface().(timestamp))
			}
			b = append(b, '"')
			b = appendRFC3339Micro(b, t.UTC())
			return append(b, '"')
		}
	case secretType:
		return func(b []byte, _ reflect.Value) []byte { return append(b, redactedLiteral...) }
	}
	if t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler) ||
		t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler) {
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		return func(b []byte, v reflect.Value) []byte { return appendJSONString(b, v.String()) }
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(b []byte, v reflect.Value) []byte { return strconv.AppendInt(b, v.Int(), 10) }
	case reflect.Uint, reflect.Uint16, reflect.Uint32, reflect.Uint64: // not Uint8: []byte is base64
		return func(b []byte, v reflect.Value) []byte { return strconv.AppendUint(b, v.Uint(), 10) }
	case reflect.Bool:
		return func(b []byte, v reflect.Value) []byte { return strconv.AppendBool(b, v.Bool()) }
	case reflect.Slice:
		elem := jsonWriterFor(t.Elem())
		if elem == nil || t.Elem().Kind() == reflect.Uint8 {
			return nil
		}
		return func(b []byte, v reflect.Value) []byte {
			if v.IsNil() {
				return append(b, "null"...)
			}
			b = append(b, '[')
			for i := range v.Len() {
				if i > 0 {
					b = append(b, ',')
				}
				b = elem(b, v.Index(i))
			}
			return append(b, ']')
		}
	case reflect.Struct:
		return structJSONWriter(t)
	}
	return nil
}

func structJSONWriter(t reflect.Type) jsonWriter {
	type field struct {
		index int
		key   string // the separator, the quoted name and the colon
		write jsonWriter
	}
	var fields []field
	for i := range t.NumField() {
		sf := t.Field(i)
		name := sf.Tag.Get("json")
		if !sf.IsExported() || sf.Anonymous || !plainName(name) {
			return nil // a rule of Marshal's beyond the plain name: leave it to Marshal
		}
		w := jsonWriterFor(sf.Type)
		if w == nil {
			return nil
		}
		sep := ","
		if len(fields) == 0 {
			sep = "{"
		}
		fields = append(fields, field{index: i, key: sep + strconv.Quote(name) + ":", write: w})
	}
	return func(b []byte, v reflect.Value) []byte {
		if len(fields) == 0 {
			return append(b, "{}"...)
		}
		for _, f := range fields {
			b = append(b, f.key...)
			b = f.write(b, v.Field(f.index))
		}
		return append(b, '}')
	}
}

// plainName: letters, digits and underscores only (no options, nothing Marshal would
// escape or refuse as a name).
func plainName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		if !(c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// appendRFC3339Micro appends t (in UTC) as t.AppendFormat(b, rfc3339Micro) does, in a
// tenth of the time.
func appendRFC3339Micro(b []byte, t time.Time) []byte {
	year, month, day := t.Date()
	if year < 1 || year > 9999 || t.Location() != time.UTC {
		return t.AppendFormat(b, rfc3339Micro)
	}
	hour, minute, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/1000, 6)
	return append(b, 'Z')
}

// appendDigits appends the last n decimal digits of v >= 0, zero-padded.
func appendDigits(b []byte, v, n int) []byte {
	b = append(b, "000000"[:n]...)
	for i := len(b) - 1; n > 0; i, n = i-1, n-1 {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}

// scratch holds the buffers that records are written into before their JSON is copied
// out at its exact size (a sink buffers tens of thousands of them).
var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// writeJSON returns rec's JSON, as json.Marshal(rec.Addr().Interface()) would.
func (w jsonWriter) writeJSON(rec reflect.Value) []byte {
	p := scratch.Get().(*[]byte)
	b := w((*p)[:0], rec)
	out := append([]byte(nil), b...)
	if cap(b) <= 64<<10 {
		*p = b
		scratch.Put(p)
	}
	return out
}

// appendJSONString appends s quoted as Marshal quotes it. Printable ASCII other than
// the quote, the backslash and the HTML characters <, > and & (which Marshal escapes),
// and valid UTF-8 other than U+2028 and U+2029 (which it escapes too), go as they are;
// a string with anything else goes through Marshal itself.
//
// Checking each byte was a seventh of the sink's decoding (its strings are mostly ids,
// names and codes): plain ASCII is looked up in a table, four bytes at a time.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		if i+4 <= len(s) && jsonPlain[s[i]] && jsonPlain[s[i+1]] && jsonPlain[s[i+2]] && jsonPlain[s[i+3]] {
			i += 4
			continue
		}
		c := s[i]
		if jsonPlain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			return appendMarshaled(b, s)
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r == '\u2028' || r == '\u2029' {
			return appendMarshaled(b, s)
		}
		i += n
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// jsonPlain marks the bytes that appendJSONString copies as they are: printable ASCII
// other than the quote, the backslash, <, > and &.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	for _, c := range []byte(`"\<>&`) {
		t[c] = false
	}
	return t
}()

func appendMarshaled(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}
