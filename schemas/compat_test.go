package schemas_test

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/schemas"
)

// checkBackwardTransitive parses every schema file in dir and checks that,
// for every event type, each version can read data written with every
// earlier version (Confluent's BACKWARD_TRANSITIVE). It is the check run on
// the real schemas, and on fixtures to prove that it can fail.
func checkBackwardTransitive(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.avsc"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no schema files in %s", dir)
	}
	versions := map[string]map[int]avro.Schema{}
	for _, f := range files {
		typ, v, ok := parseFileName(filepath.Base(f))
		if !ok {
			return fmt.Errorf("%s: bad file name", f)
		}
		text, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		s, err := avro.ParseBytesWithCache(text, "", &avro.SchemaCache{})
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if versions[typ] == nil {
			versions[typ] = map[int]avro.Schema{}
		}
		versions[typ][v] = s
	}
	compat := avro.NewSchemaCompatibility()
	var errs []error
	for typ, vs := range versions {
		for reader := 1; reader <= len(vs); reader++ {
			if vs[reader] == nil {
				errs = append(errs, fmt.Errorf("%s: version %d is missing", typ, reader))
				continue
			}
			for writer := 1; writer < reader; writer++ {
				if vs[writer] == nil {
					continue
				}
				if err := compat.Compatible(vs[reader], vs[writer]); err != nil {
					errs = append(errs, fmt.Errorf("%s: v%d cannot read v%d: %w", typ, reader, writer, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

func TestSchemasAreBackwardTransitive(t *testing.T) {
	t.Parallel()
	require.NoError(t, checkBackwardTransitive("."))
}

func TestCompatibilityCheckCanFail(t *testing.T) {
	t.Parallel()
	// A v2 whose new field has a default, that drops a field and widens int
	// to long, is compatible...
	require.NoError(t, checkBackwardTransitive("testdata/evolution"))
	// ...one whose new field has no default is not.
	err := checkBackwardTransitive("testdata/incompatible")
	require.Error(t, err)
	require.ErrorContains(t, err, "color")
	require.ErrorContains(t, err, "no default")
}

// TestFingerprintsArePinned fails when a published schema is edited. Editing
// a published schema is forbidden: payloads already stored and in Kafka
// carry the old fingerprint and were written with the old shape. Add a new
// version instead (see README.md). Only a change to a schema that has never
// left a development machine may update this table.
func TestFingerprintsArePinned(t *testing.T) {
	t.Parallel()
	pinned := map[string]string{
		"inventory.committed.v1":      "1b09951c2fff3ee0",
		"inventory.released.v1":       "6ebfbf56cb83a578",
		"inventory.reserved.v1":       "8bace9bf1124c7f5",
		"inventory.stock_adjusted.v1": "79b5bed251e4e560",
		"order.cancelled.v1":          "a533c96172a19dfe",
		"order.confirmed.v1":          "419947524f62576a",
		"order.placed.v1":             "645dd526bf2ac912",
		"payment.authorized.v1":       "8b4c6c4a3e525d72",
		"payment.captured.v1":         "97d62155b8b01535",
		"payment.declined.v1":         "529069cee59ad0af",
		"payment.fraud_suspected.v1":  "b3fd8d27b408343e",
		"payment.refunded.v1":         "a8abba1e9e88ec16",
		"payment.voided.v1":           "b17685956efa8c76",
		"product.created.v1":          "4fc5bfea3e0ee593",
		"product.discontinued.v1":     "1a6e99ca53624df0",
		"product.renamed.v1":          "5e7796fc2991dc21",
		"product.repriced.v1":         "1dc87228013d9e3c",
		"user.password_changed.v1":    "4f12fe4318390743",
		"user.registered.v1":          "190c9f90c0fda781",
		"user.role_changed.v1":        "5f9f24e5f56b0fe9",
	}
	c := newCodec(t)
	seen := 0
	for _, typ := range c.Types() {
		latest, _ := c.Latest(typ)
		for v := 1; v <= latest; v++ {
			key := fmt.Sprintf("%s.v%d", typ, v)
			want, ok := pinned[key]
			require.True(t, ok, "pin the fingerprint of the new schema %s", schemas.FileName(typ, v))
			fp, err := c.Fingerprint(typ, v)
			require.NoError(t, err)
			require.Equal(t, want, hex.EncodeToString(fp),
				"%s was edited after publication; restore it and add a new version instead", schemas.FileName(typ, v))
			seen++
		}
	}
	require.Len(t, pinned, seen, "every pinned schema still exists (published schemas are never deleted)")
}

// TestFingerprintIsCRC64Avro recomputes the fingerprints with the algorithm
// of the Avro specification ("Schema Fingerprints"), big-endian, over the
// Parsing Canonical Form, so that other languages' tools agree with ours.
func TestFingerprintIsCRC64Avro(t *testing.T) {
	t.Parallel()
	// Test vector from the Avro project (share/test/data/schema-tests.txt).
	require.Equal(t, uint64(7195948357588979594), rabin([]byte(`"null"`)))

	c := newCodec(t)
	for _, typ := range c.Types() {
		text, err := c.SchemaText(typ, 1)
		require.NoError(t, err)
		s, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
		require.NoError(t, err)
		canonical := s.String()
		require.NotContains(t, canonical, `"doc"`, "docs are not part of the canonical form")
		fp, err := c.Fingerprint(typ, 1)
		require.NoError(t, err)
		require.Equal(t, rabin([]byte(canonical)), binary.BigEndian.Uint64(fp), typ)
	}
}

func rabin(buf []byte) uint64 {
	const empty = 0xc15d213aa4d7a795
	var table [256]uint64
	for i := range table {
		fp := uint64(i)
		for range 8 {
			fp = (fp >> 1) ^ (empty & -(fp & 1))
		}
		table[i] = fp
	}
	fp := uint64(empty)
	for _, b := range buf {
		fp = (fp >> 8) ^ table[byte(fp)^b]
	}
	return fp
}

// TestSchemaConventions keeps the schemas uniform for consumers: namespaced
// records, snake_case fields, uuid and timestamp logical types where the
// names say so, no Avro enums.
func TestSchemaConventions(t *testing.T) {
	t.Parallel()
	c := newCodec(t)
	for _, typ := range c.Types() {
		latest, _ := c.Latest(typ)
		for v := 1; v <= latest; v++ {
			text, err := c.SchemaText(typ, v)
			require.NoError(t, err)
			s, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
			require.NoError(t, err)
			rec := s.(*avro.RecordSchema)
			aggregate, event, _ := strings.Cut(typ, ".")
			require.Equal(t, "ordo."+aggregate, rec.Namespace(), typ)
			require.Equal(t, pascal(aggregate)+pascal(event), rec.Name(), typ)
			require.NotEmpty(t, rec.Doc(), "%s: say what the event means", typ)
			walkFields(t, typ, rec)
		}
	}
}

func walkFields(t *testing.T, typ string, rec *avro.RecordSchema) {
	t.Helper()
	for _, f := range rec.Fields() {
		name := f.Name()
		require.Regexp(t, `^[a-z][a-z0-9_]*$`, name, "%s: field names are snake_case", typ)
		ft := f.Type()
		if strings.HasSuffix(name, "_id") {
			require.Equal(t, avro.String, ft.Type(), "%s.%s", typ, name)
			require.Equal(t, avro.UUID, logical(ft), "%s.%s must be a uuid", typ, name)
		}
		if strings.HasSuffix(name, "_at") {
			require.Equal(t, avro.TimestampMicros, logical(ft), "%s.%s must be timestamp-micros", typ, name)
		}
		if strings.HasSuffix(name, "_cents") {
			require.Equal(t, avro.Long, ft.Type(), "%s.%s: money is a long of minor units", typ, name)
		}
		switch ft.Type() {
		case avro.Enum:
			t.Errorf("%s.%s: use a string, not an Avro enum (see doc.go)", typ, name)
		case avro.Record:
			walkFields(t, typ, ft.(*avro.RecordSchema))
		case avro.Array:
			if items, ok := ft.(*avro.ArraySchema).Items().(*avro.RecordSchema); ok {
				walkFields(t, typ, items)
			}
			require.NotEqual(t, avro.Enum, ft.(*avro.ArraySchema).Items().Type())
		}
	}
}

func logical(s avro.Schema) avro.LogicalType {
	ls, ok := s.(avro.LogicalTypeSchema)
	if !ok || ls.Logical() == nil {
		return ""
	}
	return ls.Logical().Type()
}

func pascal(s string) string {
	parts := strings.Split(s, "_")
	for i, p := range parts {
		parts[i] = strings.ToUpper(p[:1]) + p[1:]
	}
	return strings.Join(parts, "")
}
