package record

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFastParsersAgreeWithStrconvAndTime: the fast paths of ToEvent give what strconv
// and time.Parse give, value and error alike, on what FromEvent writes and on what it
// does not.
func TestFastParsersAgreeWithStrconvAndTime(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	ints := []string{"0", "1", "-1", "42", "+5", "007", "", "-", "1a", "999999999999999999", "9223372036854775807",
		"9223372036854775808", "-9223372036854775808", " 1", "1 "}
	for range 1000 {
		ints = append(ints, strconv.FormatInt(rng.Int64()>>rng.IntN(63), 10))
	}
	for _, s := range ints {
		want, wantErr := strconv.ParseInt(s, 10, 64)
		got, err := parseInt([]byte(s))
		require.Equal(t, want, got, s)
		require.Equal(t, wantErr != nil, err != nil, s)
	}
	times := []string{"2026-01-02T03:04:05Z", "2026-01-02T03:04:05.1Z", "2026-01-02T03:04:05.123456789Z",
		"2026-02-30T03:04:05Z", "2026-13-02T03:04:05Z", "2026-01-02T24:04:05Z", "2026-01-02T03:60:05Z",
		"2026-01-02T03:04:60Z", "2026-01-02T03:04:05.Z", "2026-01-02T03:04:05.1234567891Z", "2026-01-02T03:04:05+01:00",
		"2026-01-02 03:04:05Z", "yesterday", "", "0000-01-01T00:00:00Z", "2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z",
		"2026-01-02T03:04:05.12345678aZ"}
	for range 1000 {
		at := time.Unix(rng.Int64N(1<<36)-1<<35, rng.Int64N(1e9)).UTC()
		if rng.IntN(2) == 0 {
			at = at.Truncate(time.Microsecond)
		}
		times = append(times, at.Format(time.RFC3339Nano))
	}
	for _, s := range times {
		want, wantErr := time.Parse(time.RFC3339Nano, s)
		got, err := parseTime([]byte(s))
		require.Equal(t, wantErr != nil, err != nil, s)
		require.Equal(t, want, got, s)
	}
}
