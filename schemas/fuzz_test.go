package schemas_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/schemas"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the committed seed corpus of FuzzDecode under testdata/fuzz")

const corpusDir = "testdata/fuzz/FuzzDecode"

// FuzzDecode feeds arbitrary bytes to Decode, DecodeJSON and DecodeWithJSON for every event
// type and version. Nothing may panic; they must agree on whether the bytes
// are valid; valid bytes must give valid JSON and survive an encode/decode
// round trip unchanged.
//
//	go test ./schemas -run '^$' -fuzz FuzzDecode -fuzztime 20s
func FuzzDecode(f *testing.F) {
	c, err := schemas.New()
	require.NoError(f, err)
	for _, e := range samples() {
		enc, err := c.Encode(e)
		require.NoError(f, err)
		f.Add(enc.Payload)
	}
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})

	f.Fuzz(func(t *testing.T, data []byte) {
		for _, typ := range c.Types() {
			latest, _ := c.Latest(typ)
			for v := 1; v <= latest; v++ {
				e, decErr := c.Decode(typ, v, data)
				j, jsonErr := c.DecodeJSON(typ, v, data)
				if (decErr == nil) != (jsonErr == nil) {
					t.Fatalf("%s v%d: Decode error %v but DecodeJSON error %v", typ, v, decErr, jsonErr)
				}
				if decErr != nil {
					require.ErrorIs(t, decErr, schemas.ErrMalformedPayload)
					require.ErrorIs(t, jsonErr, schemas.ErrMalformedPayload)
					continue
				}
				require.True(t, json.Valid(j), "%s v%d: invalid JSON %q", typ, v, j)
				both, bothJSON, err := c.DecodeWithJSON(typ, v, data)
				require.NoError(t, err, "%s v%d: DecodeWithJSON", typ, v)
				require.Equal(t, e, both, "%s v%d: DecodeWithJSON's event", typ, v)
				require.Equal(t, j, bothJSON, "%s v%d: DecodeWithJSON's JSON", typ, v)
				require.Equal(t, typ, e.EventType())
				enc, err := c.Encode(e)
				require.NoError(t, err, "%s: a decoded event must encode", typ)
				again, err := c.Decode(enc.Type, enc.Version, enc.Payload)
				require.NoError(t, err)
				require.Equal(t, e, again, "%s: round trip", typ)
			}
		}
	})
}

// TestFuzzCorpus keeps the committed seed corpus meaningful: it must hold a
// valid payload of every event type. Run with -update-corpus to rewrite it
// after adding an event type.
func TestFuzzCorpus(t *testing.T) {
	c := newCodec(t)
	if *updateCorpus {
		require.NoError(t, os.MkdirAll(corpusDir, 0o755))
		for _, e := range samples() {
			enc, err := c.Encode(e)
			require.NoError(t, err)
			name := filepath.Join(corpusDir, strings.ReplaceAll(enc.Type, ".", "_"))
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", enc.Payload)
			require.NoError(t, os.WriteFile(name, []byte(body), 0o644))
		}
	}
	t.Parallel()
	entries, err := os.ReadDir(corpusDir)
	require.NoError(t, err)
	covered := map[string]bool{}
	for _, entry := range entries {
		payload := readCorpusFile(t, filepath.Join(corpusDir, entry.Name()))
		for _, typ := range c.Types() {
			if _, err := c.Decode(typ, 1, payload); err == nil {
				covered[typ] = true
			}
		}
	}
	for _, typ := range c.Types() {
		require.True(t, covered[typ], "no seed in %s decodes as %s; run go test ./schemas -run TestFuzzCorpus -update-corpus", corpusDir, typ)
	}
}

func readCorpusFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	header, body, ok := strings.Cut(string(b), "\n")
	require.True(t, ok)
	require.Equal(t, "go test fuzz v1", header)
	body = strings.TrimSpace(body)
	lit, ok := strings.CutPrefix(body, "[]byte(")
	require.True(t, ok, name)
	lit, ok = strings.CutSuffix(lit, ")")
	require.True(t, ok, name)
	var s string
	_, err = fmt.Sscanf(lit, "%q", &s)
	require.NoError(t, err, name)
	return []byte(s)
}
