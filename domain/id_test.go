package domain_test

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/domain"
)

func TestParseID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr bool
	}{
		{name: "canonical", in: "0193a1c2-7d4e-7f00-8a2b-3c4d5e6f7a8b", want: "0193a1c2-7d4e-7f00-8a2b-3c4d5e6f7a8b"},
		{name: "upper case is accepted and lower-cased", in: "0193A1C2-7D4E-7F00-8A2B-3C4D5E6F7A8B", want: "0193a1c2-7d4e-7f00-8a2b-3c4d5e6f7a8b"},
		{name: "nil uuid parses", in: "00000000-0000-0000-0000-000000000000", want: "00000000-0000-0000-0000-000000000000"},
		{name: "empty", in: "", wantErr: true},
		{name: "no hyphens", in: "0193a1c27d4e7f008a2b3c4d5e6f7a8b", wantErr: true},
		{name: "braces", in: "{0193a1c2-7d4e-7f00-8a2b-3c4d5e6f7a8b}", wantErr: true},
		{name: "urn", in: "urn:uuid:0193a1c2-7d4e-7f00-8a2b-3c4d5e6f7a8b", wantErr: true},
		{name: "non-hex digit", in: "0193a1c2-7d4e-7f00-8a2b-3c4d5e6f7a8g", wantErr: true},
		{name: "hyphen misplaced", in: "0193a1c27-d4e-7f00-8a2b-3c4d5e6f7a8b", wantErr: true},
		{name: "one short", in: "0193a1c2-7d4e-7f00-8a2b-3c4d5e6f7a8", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id, err := domain.ParseID(tt.in)
			if tt.wantErr {
				require.Error(t, err)
				require.Equal(t, domain.KindValidation, domain.KindOf(err))
				require.True(t, domain.HasCode(err, domain.CodeInvalidID))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, id.String())
			again, err := domain.ParseID(id.String())
			require.NoError(t, err)
			require.Equal(t, id, again)
		})
	}
}

func TestIDText(t *testing.T) {
	t.Parallel()
	id := domain.MustParseID("0193a1c2-7d4e-7f00-8a2b-3c4d5e6f7a8b")
	require.False(t, id.IsZero())
	require.True(t, domain.ID{}.IsZero())
	require.Equal(t, byte(0x01), id[0])
	require.Equal(t, byte(0x8b), id[15])

	b, err := json.Marshal(map[string]domain.ID{"id": id})
	require.NoError(t, err)
	require.JSONEq(t, `{"id":"0193a1c2-7d4e-7f00-8a2b-3c4d5e6f7a8b"}`, string(b))

	var back map[string]domain.ID
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, id, back["id"])
	require.Error(t, json.Unmarshal([]byte(`{"id":"nope"}`), &back))
	require.Panics(t, func() { domain.MustParseID("nope") })
}

func TestRequireID(t *testing.T) {
	t.Parallel()
	require.NoError(t, domain.RequireID("order_id", domain.MustParseID("0193a1c2-7d4e-7f00-8a2b-3c4d5e6f7a8b")))
	err := domain.RequireID("order_id", domain.ID{})
	e, ok := domain.AsError(err)
	require.True(t, ok)
	require.Equal(t, domain.CodeInvalidID, e.Code)
	require.Contains(t, e.Fields, "order_id")
}

func TestStreamID(t *testing.T) {
	t.Parallel()
	id := domain.MustParseID("0193a1c2-7d4e-7f00-8a2b-3c4d5e6f7a8b")
	s := domain.StreamID("order", id)
	require.Equal(t, "order-0193a1c2-7d4e-7f00-8a2b-3c4d5e6f7a8b", s)

	typ, got, err := domain.ParseStreamID(s)
	require.NoError(t, err)
	require.Equal(t, "order", typ)
	require.Equal(t, id, got)

	for _, bad := range []string{"", "order", "order-", "order-nope", "0193a1c2-7d4e-7f00-8a2b-3c4d5e6f7a8b", "order_0193a1c2-7d4e-7f00-8a2b-3c4d5e6f7a8b", "or der-0193a1c2-7d4e-7f00-8a2b-3c4d5e6f7a8b"} {
		_, _, err := domain.ParseStreamID(bad)
		require.Error(t, err, bad)
		require.True(t, domain.HasCode(err, domain.CodeInvalidStreamID), bad)
	}
}

// ParseID agrees with google/uuid on every 36-character text: the same bytes, or both
// refuse it (uuid also takes other forms, which ParseID refuses by design).
func FuzzParseID(f *testing.F) {
	for _, s := range []string{
		"0193a1c2-7d4e-7f00-8a2b-3c4d5e6f7a8b", "0193A1C2-7D4E-7F00-8A2B-3C4D5E6F7A8B",
		"00000000-0000-0000-0000-000000000000", "0193a1c2-7d4e-7f00-8a2b-3c4d5e6f7a8g",
		"0193a1c2-7d4e-7f00-8a2b-3c4d5e6f7a-b", "g193a1c2-7d4e-7f00-8a2b-3c4d5e6f7a8b",
		"0193a1c2-7d4e-7f00-8a2b-3c4d5e6f7a\xff8", "0193a1c27-d4e-7f00-8a2b-3c4d5e6f7a8b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := domain.ParseID(s)
		if len(s) != 36 {
			require.Error(t, err)
			return
		}
		want, werr := uuid.Parse(s)
		if werr != nil {
			require.Error(t, err, "uuid refuses %q: %v", s, werr)
			return
		}
		require.NoError(t, err, "uuid takes %q", s)
		require.Equal(t, [16]byte(want), [16]byte(id))
	})
}
