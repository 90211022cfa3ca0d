package domain_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/domain"
)

func TestText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        string
		min, max  int
		multiline bool
		want      string
		wantErr   string
	}{
		{name: "trimmed", in: "  Blue mug ", min: 1, max: 10, want: "Blue mug"},
		{name: "runes not bytes", in: "Übergröße", min: 1, max: 9, want: "Übergröße"},
		{name: "required", in: "   ", min: 1, max: 10, wantErr: "is required"},
		{name: "optional empty", in: "", min: 0, max: 10, want: ""},
		{name: "too short", in: "ab", min: 3, max: 10, wantErr: "at least 3"},
		{name: "too long", in: strings.Repeat("x", 11), min: 1, max: 10, wantErr: "at most 10 characters (got 11)"},
		{name: "control character", in: "a\x00b", min: 1, max: 10, wantErr: "control characters"},
		{name: "newline refused on one line", in: "a\nb", min: 1, max: 10, wantErr: "control characters"},
		{name: "newline allowed when multiline", in: "a\nb", min: 1, max: 10, multiline: true, want: "a\nb"},
		{name: "invalid utf-8", in: "a\xffb", min: 1, max: 10, wantErr: "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := domain.Text("invalid_name", "name", tt.in, tt.min, tt.max, tt.multiline)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				e, ok := domain.AsError(err)
				require.True(t, ok)
				require.Equal(t, "invalid_name", e.Code)
				require.Contains(t, e.Fields, "name")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestToken(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"expired", "card_declined", "a", "x1_2", strings.Repeat("a", 64)} {
		require.NoError(t, domain.Token("invalid_reason", "reason", ok), ok)
	}
	for _, bad := range []string{"", "Expired", "1st", "_x", "card-declined", "with space", strings.Repeat("a", 65)} {
		require.True(t, domain.HasCode(domain.Token("invalid_reason", "reason", bad), "invalid_reason"), bad)
	}
}

func TestTime(t *testing.T) {
	t.Parallel()
	_, err := domain.Time("placed_at", time.Time{})
	require.True(t, domain.HasCode(err, domain.CodeInvalidTime))

	paris := time.FixedZone("CET", 3600)
	in := time.Date(2025, 3, 4, 13, 14, 15, 123456789, paris)
	got, err := domain.Time("placed_at", in)
	require.NoError(t, err)
	require.Equal(t, time.UTC, got.Location())
	require.Equal(t, time.Date(2025, 3, 4, 12, 14, 15, 123456000, time.UTC), got)
	require.True(t, in.Sub(got) < time.Microsecond && in.Sub(got) >= 0)

	now := time.Now()
	require.Equal(t, domain.NormalizeTime(now), domain.NormalizeTime(domain.NormalizeTime(now)))
}
