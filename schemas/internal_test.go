package schemas

import (
	"os"
	"reflect"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/domain"
)

// TestRecordStructsMatchSchemas checks every Go record against the newest
// schema of its event type: the same fields in the same order, with json
// tags equal to avro tags (DecodeJSON relies on both).
func TestRecordStructsMatchSchemas(t *testing.T) {
	t.Parallel()
	c, err := New()
	require.NoError(t, err)
	for _, b := range bindings() {
		t.Run(b.eventType, func(t *testing.T) {
			t.Parallel()
			requireStructMatches(t, c.types[b.eventType].newest().schema.(*avro.RecordSchema), b.record)
		})
	}
}

func requireStructMatches(t *testing.T, rec *avro.RecordSchema, typ reflect.Type) {
	t.Helper()
	require.Equal(t, reflect.Struct, typ.Kind())
	require.Equal(t, len(rec.Fields()), typ.NumField(), "%s vs %s", typ, rec.FullName())
	for i, f := range rec.Fields() {
		sf := typ.Field(i)
		require.Equal(t, f.Name(), sf.Tag.Get("avro"), "%s field %d", typ, i)
		require.Equal(t, f.Name(), sf.Tag.Get("json"), "%s field %d", typ, i)
		ft := f.Type()
		if a, ok := ft.(*avro.ArraySchema); ok {
			if items, ok := a.Items().(*avro.RecordSchema); ok {
				requireStructMatches(t, items, sf.Type.Elem())
			}
		}
	}
}

// widget is a test-only event whose schema has two versions
// (testdata/evolution), to exercise reading an old version into the newest
// shape.
type widget struct {
	ID     domain.ID
	Name   string
	Count  int64
	Color  string
	MadeAt *time.Time
}

func (widget) EventType() string { return "widget.made" }

type widgetRecord struct {
	WidgetID string     `avro:"widget_id" json:"widget_id"`
	Name     string     `avro:"name" json:"name"`
	Count    int64      `avro:"count" json:"count"`
	Color    string     `avro:"color" json:"color"`
	MadeAt   *timestamp `avro:"made_at" json:"made_at"`
}

func widgetBinding() binding {
	return bind(
		func(e widget) widgetRecord {
			r := widgetRecord{WidgetID: e.ID.String(), Name: e.Name, Count: e.Count, Color: e.Color}
			if e.MadeAt != nil {
				ts := timestamp(*e.MadeAt)
				r.MadeAt = &ts
			}
			return r
		},
		func(r *widgetRecord) (widget, error) {
			var f fields
			e := widget{ID: f.id("widget_id", r.WidgetID), Name: r.Name, Count: r.Count, Color: r.Color}
			if r.MadeAt != nil {
				t := f.time("made_at", *r.MadeAt)
				e.MadeAt = &t
			}
			return e, f.err
		},
	)
}

func TestDecodeOlderVersionIntoNewestShape(t *testing.T) {
	t.Parallel()
	c, err := newCodec(os.DirFS("testdata/evolution"), []binding{widgetBinding()})
	require.NoError(t, err)
	latest, _ := c.Latest("widget.made")
	require.Equal(t, 2, latest)

	// A payload written by a producer that only knew v1.
	v1, err := avro.ParseWithCache(readFile(t, "testdata/evolution/widget_made.v1.avsc"), "", &avro.SchemaCache{})
	require.NoError(t, err)
	id := domain.MustParseID("0193a1c2-7d4e-7f00-8a2b-00000000abcd")
	old, err := avro.Marshal(v1, map[string]any{
		"widget_id": id.String(), "name": "sprocket", "legacy_code": "X-1", "count": 7,
	})
	require.NoError(t, err)

	got, err := c.Decode("widget.made", 1, old)
	require.NoError(t, err)
	require.Equal(t, widget{ID: id, Name: "sprocket", Count: 7, Color: "blue"}, got,
		"legacy_code is dropped, count widened, color and made_at take their defaults")

	j, err := c.DecodeJSON("widget.made", 1, old)
	require.NoError(t, err)
	require.JSONEq(t, `{"widget_id":"0193a1c2-7d4e-7f00-8a2b-00000000abcd","name":"sprocket","count":7,"color":"blue","made_at":null}`, string(j))

	// New events are written with v2 and read back with v2.
	made := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	enc, err := c.Encode(widget{ID: id, Name: "gear", Count: 1, Color: "red", MadeAt: &made})
	require.NoError(t, err)
	require.Equal(t, 2, enc.Version)
	got, err = c.Decode("widget.made", 2, enc.Payload)
	require.NoError(t, err)
	require.Equal(t, widget{ID: id, Name: "gear", Count: 1, Color: "red", MadeAt: &made}, got)

	// Both fingerprints identify their versions.
	for v := 1; v <= 2; v++ {
		fp, err := c.Fingerprint("widget.made", v)
		require.NoError(t, err)
		typ, version, ok := c.Identify(fp)
		require.True(t, ok)
		require.Equal(t, "widget.made", typ)
		require.Equal(t, v, version)
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	return string(b)
}

func TestNewRejectsBrokenSchemaSets(t *testing.T) {
	t.Parallel()
	v1 := readFile(t, "testdata/evolution/widget_made.v1.avsc")
	v2 := readFile(t, "testdata/evolution/widget_made.v2.avsc")
	bad := readFile(t, "testdata/incompatible/widget_made.v2.avsc")
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name    string
		fsys    fstest.MapFS
		wantErr string
	}{
		{name: "no schema for a bound type", fsys: fstest.MapFS{}, wantErr: "has no schema"},
		{name: "a schema for no known type", fsys: fstest.MapFS{
			"widget_made.v1.avsc": file(v1), "widget_made.v2.avsc": file(v2), "gadget_made.v1.avsc": file(v1),
		}, wantErr: "every schema must belong to a domain event"},
		{name: "a gap in versions", fsys: fstest.MapFS{"widget_made.v2.avsc": file(v2)}, wantErr: "widget_made.v1.avsc is missing"},
		{name: "badly named file", fsys: fstest.MapFS{"WidgetMade.avsc": file(v1)}, wantErr: "file name must look like"},
		{name: "incompatible newest version", fsys: fstest.MapFS{
			"widget_made.v1.avsc": file(v1), "widget_made.v2.avsc": file(bad),
		}, wantErr: "widget_made.v2.avsc cannot read widget_made.v1.avsc"},
		{name: "unparsable", fsys: fstest.MapFS{"widget_made.v1.avsc": file(`{"type": "record"`)}, wantErr: "parse widget_made.v1.avsc"},
		{name: "schema that does not match the Go record", fsys: fstest.MapFS{"widget_made.v1.avsc": file(v1)}, wantErr: "does not match its Go mapping"},
		{name: "not a record", fsys: fstest.MapFS{"widget_made.v1.avsc": file(`"string"`)}, wantErr: "must be a record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := newCodec(tt.fsys, []binding{widgetBinding()})
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
	_, err := newCodec(fstest.MapFS{}, []binding{widgetBinding(), widgetBinding()})
	require.ErrorContains(t, err, "bound twice")
}
