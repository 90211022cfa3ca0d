package schemas

import (
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/hamba/avro/v2"

	"github.com/ordo-platform/ordo/domain"
)

//go:embed *.avsc
var embedded embed.FS

// Errors returned (wrapped) by the Codec; test them with errors.Is.
var (
	// ErrUnknownEventType: no schema exists for the event type.
	ErrUnknownEventType = errors.New("schemas: unknown event type")
	// ErrUnknownVersion: the event type has no schema of that version.
	ErrUnknownVersion = errors.New("schemas: unknown schema version")
	// ErrUnsupportedEvent: the value passed to Encode is not one of the
	// domain's event types (for example a look-alike type with the same
	// EventType, or a nil pointer).
	ErrUnsupportedEvent = errors.New("schemas: unsupported event value")
	// ErrMalformedPayload: the bytes are not a valid encoding of the event
	// with the stated schema (truncated, trailing bytes, bad UUID, out of
	// range timestamp, ...).
	ErrMalformedPayload = errors.New("schemas: malformed payload")
)

// Limits applied while decoding, so that a corrupt or hostile payload cannot
// make the decoder allocate without bound. Real events are far below them.
const (
	maxStringBytes = 1 << 20
	maxArrayItems  = 10_000
)

// Encoded is an event in its stored form.
type Encoded struct {
	// Type is the event type ("order.placed").
	Type string
	// Version is the schema version the payload was written with.
	Version int
	// Fingerprint is the 8-byte CRC-64-AVRO fingerprint of that schema.
	Fingerprint []byte
	// Payload is the Avro binary encoding (no header, no fingerprint).
	Payload []byte
}

// Codec encodes domain events to Avro and decodes them back. Build it once
// with New (or use Default); it is safe for concurrent use. All schema
// parsing and resolution happens in New, none per call.
type Codec struct {
	api           avro.API
	types         map[string]*eventCodec
	byFingerprint map[[8]byte]*schemaVersion
	readers       sync.Pool
}

type eventCodec struct {
	binding  binding
	versions []*schemaVersion // index i holds version i+1
}

func (ec *eventCodec) newest() *schemaVersion { return ec.versions[len(ec.versions)-1] }

type schemaVersion struct {
	eventType   string
	version     int
	text        string
	schema      avro.Schema // as written
	read        avro.Schema // what to decode a payload of this version with: resolved into the newest shape
	fingerprint [8]byte
}

var (
	defaultOnce  sync.Once
	defaultCodec *Codec
	defaultErr   error
)

// Default returns a Codec of the embedded schemas, built on first use. It
// panics if they are broken, which the package's tests rule out.
func Default() *Codec {
	defaultOnce.Do(func() { defaultCodec, defaultErr = New() })
	if defaultErr != nil {
		panic(defaultErr)
	}
	return defaultCodec
}

// New builds a Codec of the embedded schemas and the domain's closed set of
// events. It fails if a schema is missing, extra, unparsable, not
// resolvable from an older version, or does not match its Go mapping.
func New() (*Codec, error) {
	return newCodec(embedded, bindings())
}

var fileName = regexp.MustCompile(`^([a-z][a-z0-9]*)_([a-z][a-z0-9_]*)\.v([1-9][0-9]*)\.avsc$`)

// FileName returns the schema file name of an event type and version.
func FileName(eventType string, version int) string {
	return strings.Replace(eventType, ".", "_", 1) + ".v" + strconv.Itoa(version) + ".avsc"
}

func newCodec(fsys fs.FS, binds []binding) (*Codec, error) {
	c := &Codec{
		api: avro.Config{
			TagKey:            "avro",
			MaxByteSliceSize:  maxStringBytes,
			MaxSliceAllocSize: maxArrayItems,
		}.Freeze(),
		types:         make(map[string]*eventCodec, len(binds)),
		byFingerprint: make(map[[8]byte]*schemaVersion),
	}
	c.readers.New = func() any { return avro.NewReader(nil, 0, avro.WithReaderConfig(c.api)) }
	for _, b := range binds {
		if _, dup := c.types[b.eventType]; dup {
			return nil, fmt.Errorf("schemas: event type %s bound twice", b.eventType)
		}
		c.types[b.eventType] = &eventCodec{binding: b}
	}

	files, err := fs.Glob(fsys, "*.avsc")
	if err != nil {
		return nil, fmt.Errorf("schemas: list schema files: %w", err)
	}
	found := make(map[string]map[int]*schemaVersion)
	for _, name := range files {
		m := fileName.FindStringSubmatch(name)
		if m == nil {
			return nil, fmt.Errorf("schemas: %s: file name must look like <aggregate>_<event>.v<N>.avsc", name)
		}
		eventType := m[1] + "." + m[2]
		version, _ := strconv.Atoi(m[3])
		if _, ok := c.types[eventType]; !ok {
			return nil, fmt.Errorf("schemas: %s: %w %s: every schema must belong to a domain event", name, ErrUnknownEventType, eventType)
		}
		v, err := loadSchema(fsys, name, eventType, version)
		if err != nil {
			return nil, err
		}
		if found[eventType] == nil {
			found[eventType] = make(map[int]*schemaVersion)
		}
		found[eventType][version] = v
	}

	compat := avro.NewSchemaCompatibility()
	for _, eventType := range slices.Sorted(maps.Keys(c.types)) {
		ec := c.types[eventType]
		vs := found[eventType]
		if len(vs) == 0 {
			return nil, fmt.Errorf("schemas: event type %s has no schema: add %s", eventType, FileName(eventType, 1))
		}
		for v := 1; v <= len(vs); v++ {
			sv, ok := vs[v]
			if !ok {
				return nil, fmt.Errorf("schemas: event type %s: versions must be 1..N without gaps; %s is missing", eventType, FileName(eventType, v))
			}
			ec.versions = append(ec.versions, sv)
		}
		newest := ec.newest()
		newest.read = newest.schema
		for _, old := range ec.versions[:len(ec.versions)-1] {
			resolved, err := compat.Resolve(newest.schema, old.schema)
			if err != nil {
				return nil, fmt.Errorf("schemas: %s cannot read %s: %w",
					FileName(eventType, newest.version), FileName(eventType, old.version), err)
			}
			old.read = resolved
		}
		for _, sv := range ec.versions {
			if other, dup := c.byFingerprint[sv.fingerprint]; dup {
				return nil, fmt.Errorf("schemas: %s and %s have the same canonical form",
					FileName(eventType, sv.version), FileName(other.eventType, other.version))
			}
			c.byFingerprint[sv.fingerprint] = sv
		}
		// Encode and decode a zero event: this proves the Go mapping matches
		// the newest schema now rather than on the first real event, and
		// warms the encoder and decoder caches.
		enc, err := c.Encode(ec.binding.sample)
		if err != nil {
			return nil, fmt.Errorf("schemas: %s does not match its Go mapping: %w", FileName(eventType, newest.version), err)
		}
		if _, err := c.Decode(eventType, newest.version, enc.Payload); err != nil {
			return nil, fmt.Errorf("schemas: %s does not match its Go mapping: %w", FileName(eventType, newest.version), err)
		}
	}
	return c, nil
}

func loadSchema(fsys fs.FS, name, eventType string, version int) (*schemaVersion, error) {
	text, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("schemas: read %s: %w", name, err)
	}
	// A fresh cache per file: versions of one event share record names, and
	// the shared default cache would let one file's definitions leak into
	// another's.
	schema, err := avro.ParseBytesWithCache(text, "", &avro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("schemas: parse %s: %w", name, err)
	}
	if schema.Type() != avro.Record {
		return nil, fmt.Errorf("schemas: %s: top-level type must be a record, not %s", name, schema.Type())
	}
	fp, err := schema.FingerprintUsing(avro.CRC64Avro)
	if err != nil {
		return nil, fmt.Errorf("schemas: fingerprint %s: %w", name, err)
	}
	if len(fp) != 8 {
		return nil, fmt.Errorf("schemas: fingerprint %s: got %d bytes, want 8", name, len(fp))
	}
	sv := &schemaVersion{eventType: eventType, version: version, text: string(text), schema: schema}
	copy(sv.fingerprint[:], fp)
	return sv, nil
}

// Encode encodes e with the newest schema of its type.
func (c *Codec) Encode(e domain.Event) (Encoded, error) {
	if e == nil {
		return Encoded{}, fmt.Errorf("encode nil event: %w", ErrUnsupportedEvent)
	}
	if v := reflect.ValueOf(e); v.Kind() == reflect.Pointer && v.IsNil() {
		// EventType has value receivers: calling it through nil would panic.
		return Encoded{}, fmt.Errorf("encode nil %T: %w", e, ErrUnsupportedEvent)
	}
	eventType := e.EventType()
	ec, ok := c.types[eventType]
	if !ok {
		return Encoded{}, fmt.Errorf("encode %T: %w %q", e, ErrUnknownEventType, eventType)
	}
	sv := ec.newest()
	payload, err := ec.binding.encode(c.api, sv.schema, e)
	if err != nil {
		return Encoded{}, fmt.Errorf("encode %s: %w", eventType, err)
	}
	fp := sv.fingerprint
	return Encoded{Type: eventType, Version: sv.version, Fingerprint: fp[:], Payload: payload}, nil
}

// Decode decodes a payload written with the given version of the event
// type's schema into the domain event (in its newest shape: fields added
// since that version take their defaults).
func (c *Codec) Decode(eventType string, version int, payload []byte) (domain.Event, error) {
	sv, ec, err := c.lookup(eventType, version)
	if err != nil {
		return nil, err
	}
	var e domain.Event
	err = c.read(sv, payload, func(r *avro.Reader) error {
		var err error
		e, err = ec.binding.decode(r, sv.read)
		return err
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// DecodeJSON decodes a payload like Decode and renders it as a JSON object
// with the Avro field names of the newest schema, in schema order: UUIDs as
// strings, timestamps in RFC 3339 with exactly six fractional digits (UTC),
// amounts as integers. Secrets (password hashes) are replaced by
// "[redacted]": this JSON is for people and analytics, not for logging in.
func (c *Codec) DecodeJSON(eventType string, version int, payload []byte) ([]byte, error) {
	_, js, err := c.DecodeWithJSON(eventType, version, payload)
	return js, err
}

// DecodeWithJSON returns what Decode and DecodeJSON return, from one read of the
// payload (for readers that need both, such as the analytics sink).
func (c *Codec) DecodeWithJSON(eventType string, version int, payload []byte) (domain.Event, []byte, error) {
	sv, ec, err := c.lookup(eventType, version)
	if err != nil {
		return nil, nil, err
	}
	var (
		e   domain.Event
		out []byte
	)
	err = c.read(sv, payload, func(r *avro.Reader) error {
		var err error
		e, out, err = ec.binding.decodeJSON(r, sv.read)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return e, out, nil
}

func (c *Codec) lookup(eventType string, version int) (*schemaVersion, *eventCodec, error) {
	ec, ok := c.types[eventType]
	if !ok {
		return nil, nil, fmt.Errorf("%w %q", ErrUnknownEventType, eventType)
	}
	if version < 1 || version > len(ec.versions) {
		return nil, nil, fmt.Errorf("%w %d of %s (known: 1..%d)", ErrUnknownVersion, version, eventType, len(ec.versions))
	}
	return ec.versions[version-1], ec, nil
}

// read runs decode on a pooled reader over payload and turns every failure,
// including a panic in the decoder and unread trailing bytes, into an
// ErrMalformedPayload.
func (c *Codec) read(sv *schemaVersion, payload []byte, decode func(*avro.Reader) error) (err error) {
	r := c.readers.Get().(*avro.Reader)
	r.Reset(payload)
	r.Error = nil
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("decode %s v%d: %w: decoder panicked: %v", sv.eventType, sv.version, ErrMalformedPayload, p)
		}
		r.Reset(nil)
		r.Error = nil
		c.readers.Put(r)
	}()
	if err := decode(r); err != nil {
		return fmt.Errorf("decode %s v%d: %w: %w", sv.eventType, sv.version, ErrMalformedPayload, err)
	}
	return nil
}

// finish checks a reader after a record was read: no error, nothing left.
func finish(r *avro.Reader) error {
	if r.Error != nil {
		return r.Error
	}
	r.Peek()
	if r.Error == nil {
		return errors.New("trailing bytes after the record")
	}
	if !errors.Is(r.Error, io.EOF) {
		return r.Error
	}
	return nil
}

// Types returns every event type the codec knows, sorted.
func (c *Codec) Types() []string {
	return slices.Sorted(maps.Keys(c.types))
}

// Latest returns the newest schema version of an event type.
func (c *Codec) Latest(eventType string) (int, bool) {
	ec, ok := c.types[eventType]
	if !ok {
		return 0, false
	}
	return len(ec.versions), true
}

// Fingerprint returns the CRC-64-AVRO fingerprint of a schema version.
func (c *Codec) Fingerprint(eventType string, version int) ([]byte, error) {
	sv, _, err := c.lookup(eventType, version)
	if err != nil {
		return nil, err
	}
	fp := sv.fingerprint
	return fp[:], nil
}

// Identify returns the event type and version of a schema fingerprint, as
// carried in a Kafka header.
func (c *Codec) Identify(fingerprint []byte) (eventType string, version int, ok bool) {
	var key [8]byte
	if len(fingerprint) != len(key) {
		return "", 0, false
	}
	copy(key[:], fingerprint)
	sv, ok := c.byFingerprint[key]
	if !ok {
		return "", 0, false
	}
	return sv.eventType, sv.version, true
}

// SchemaText returns the .avsc text of a schema version, for schema
// registries and documentation.
func (c *Codec) SchemaText(eventType string, version int) (string, error) {
	sv, _, err := c.lookup(eventType, version)
	if err != nil {
		return "", err
	}
	return sv.text, nil
}
