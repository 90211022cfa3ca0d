package auth_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/internal/auth"
)

var cheap = auth.PasswordParams{MemoryKiB: 64, Time: 1, Threads: 1}

func TestHashIsAPHCStringThatVerifies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h, err := auth.NewHasher(cheap)
	require.NoError(t, err)
	enc, err := h.Hash(ctx, "correct horse battery staple")
	require.NoError(t, err)
	require.Regexp(t, regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`), enc)

	ok, err := h.Verify(ctx, "correct horse battery staple", enc)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = h.Verify(ctx, "correct horse battery stapl", enc)
	require.NoError(t, err)
	require.False(t, ok)

	again, err := h.Hash(ctx, "correct horse battery staple")
	require.NoError(t, err)
	require.NotEqual(t, enc, again, "a fresh salt every time")

	ok, err = h.Verify(ctx, "anything", h.Dummy())
	require.NoError(t, err)
	require.False(t, ok, "the dummy hash matches nothing a user types")
	require.True(t, strings.HasPrefix(h.Dummy(), "$argon2id$v=19$m=64,t=1,p=1$"), "the dummy costs what a real hash costs")
}

func TestDefaultsAreOWASPs(t *testing.T) {
	t.Parallel()
	p := auth.DefaultPasswordParams()
	require.Equal(t, auth.PasswordParams{MemoryKiB: 19456, Time: 2, Threads: 1}, p)
	require.NoError(t, p.Validate())
}

func TestVerifyReadsOtherParameters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	old, err := auth.NewHasher(auth.PasswordParams{MemoryKiB: 128, Time: 2, Threads: 2})
	require.NoError(t, err)
	enc, err := old.Hash(ctx, "pw")
	require.NoError(t, err)
	cur, err := auth.NewHasher(cheap)
	require.NoError(t, err)
	ok, err := cur.Verify(ctx, "pw", enc)
	require.NoError(t, err)
	require.True(t, ok, "hashes keep their own parameters")
	require.True(t, cur.NeedsRehash(enc))
	mine, err := cur.Hash(ctx, "pw")
	require.NoError(t, err)
	require.False(t, cur.NeedsRehash(mine))
}

func TestMalformedHashesNeverMatch(t *testing.T) {
	t.Parallel()
	h, err := auth.NewHasher(cheap)
	require.NoError(t, err)
	good, err := h.Hash(context.Background(), "pw")
	require.NoError(t, err)
	parts := strings.Split(good, "$")
	for name, enc := range map[string]string{
		"empty":            "",
		"bcrypt":           "$2a$10$abcdefghijklmnopqrstuuJ0y7C9Zz5gWyi3cJmYXmH3zq1a7b3i6",
		"argon2i":          strings.Replace(good, "argon2id", "argon2i", 1),
		"other version":    strings.Replace(good, "v=19", "v=16", 1),
		"huge memory":      strings.Replace(good, "m=64", "m=4294967295", 1),
		"huge time":        strings.Replace(good, "t=1", "t=100000", 1),
		"zero threads":     strings.Replace(good, "p=1", "p=0", 1),
		"params reordered": strings.Replace(good, "m=64,t=1", "t=1,m=64", 1),
		"bad salt":         strings.Join([]string{"", parts[1], parts[2], parts[3], "!!", parts[5]}, "$"),
		"short hash":       strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], "AAAA"}, "$"),
		"extra field":      good + "$x",
		"too long":         good + strings.Repeat("A", 600),
	} {
		ok, err := h.Verify(context.Background(), "pw", enc)
		require.ErrorIs(t, err, auth.ErrMalformedHash, name)
		require.False(t, ok, name)
	}
}

func TestPasswordParamsValidate(t *testing.T) {
	t.Parallel()
	err := auth.PasswordParams{MemoryKiB: 4, Time: 0, Threads: 0}.Validate()
	require.ErrorContains(t, err, "ORDO_ARGON2_THREADS")
	require.ErrorContains(t, err, "ORDO_ARGON2_MEMORY_KIB")
	require.ErrorContains(t, err, "ORDO_ARGON2_TIME")
	_, err = auth.NewHasher(auth.PasswordParams{})
	require.Error(t, err)
}
