package auth_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/api"
	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/user"
	"github.com/ordo-platform/ordo/internal/auth"
	"github.com/ordo-platform/ordo/internal/testenv"
)

// fuzzNow is the clock of the fuzz targets: tokens issued at it stay valid whatever the
// wall clock says, so that the committed corpus means the same thing next year.
var fuzzNow = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

func fuzzTokens(f *testing.F) *auth.Tokens {
	f.Helper()
	cfg := auth.DefaultConfig()
	cfg.Secret = secret
	tk, err := auth.NewTokens(cfg, func() time.Time { return fuzzNow })
	require.NoError(f, err)
	return tk
}

// FuzzAuthenticate: any string presented as an access token is refused with an error
// wrapping ErrInvalidToken, or accepted as a well-formed principal, and then only if its
// signature is the HMAC-SHA256 of its signing input under the secret (nothing without
// the key gets in, whatever the parser tolerates). Never a panic.
func FuzzAuthenticate(f *testing.F) {
	tk := fuzzTokens(f)
	good, _, err := tk.Issue(domain.ID(uuid.MustParse("0193b3b0-0000-7000-8000-000000000001")), user.RoleAdmin,
		uuid.MustParse("0193b3b0-0000-7000-8000-000000000002"))
	require.NoError(f, err)
	parts := strings.Split(good, ".")
	for _, s := range []string{
		good,
		parts[0] + "." + parts[1] + ".",
		"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + ".",
		strings.Replace(good, ".", "..", 1),
		good + "=",
		"not.a.jwt", "", ".", "..", "a.b.c.d",
		strings.Repeat("A", auth.MaxTokenLen+1),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		p, err := tk.Authenticate(token)
		if err != nil {
			require.ErrorIs(t, err, auth.ErrInvalidToken)
			require.Zero(t, p)
			return
		}
		require.LessOrEqual(t, len(token), auth.MaxTokenLen)
		segs := strings.Split(token, ".")
		require.Len(t, segs, 3, "accepted %q", token)
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(segs[0] + "." + segs[1]))
		sig, derr := base64.RawURLEncoding.DecodeString(segs[2])
		require.NoError(t, derr, "accepted a signature that is not base64url: %q", token)
		require.True(t, hmac.Equal(mac.Sum(nil), sig), "accepted a token without a valid signature: %q", token)
		require.False(t, p.UserID.IsZero())
		_, rerr := user.ParseRole(string(p.Role))
		require.NoError(t, rerr)
		require.NotEqual(t, uuid.Nil, p.Family)
		require.NotEmpty(t, p.TokenID)
		require.True(t, p.ExpiresAt.After(fuzzNow))
	})
}

// FuzzRefresh: any string presented as a refresh token to a real session store is
// refused with ErrInvalidRefreshToken (no token of the store has been spent, so reuse
// cannot be claimed) and changes no row; malformed ones never reach the database.
func FuzzRefresh(f *testing.F) {
	pool := testenv.PostgresSchema(f, api.Migrations())
	s := auth.NewSessions(fuzzTokens(f), pool)
	ctx := context.Background()
	live, err := s.Start(ctx, domain.ID(uuid.New()), user.RoleCustomer)
	require.NoError(f, err)
	count := func(t *testing.T) (n int64) {
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE used_at IS NULL AND revoked_at IS NULL) FROM refresh_tokens`).Scan(&n))
		return n
	}
	for _, s := range []string{
		"", "x", strings.Repeat("A", 43), strings.Repeat("_", 43), strings.Repeat("A", 42) + "=", strings.Repeat("A", 44),
		"' OR 1=1 --" + strings.Repeat("A", 32), strings.Repeat("\x00", 43),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		if token == live.RefreshToken {
			return // the one real token (the fuzzer cannot guess 256 random bits)
		}
		before := count(t)
		_, err := s.Refresh(ctx, token, func(context.Context, domain.ID) (user.Role, error) {
			return "", errors.New("roleOf must not be called for a token the store did not issue")
		})
		require.ErrorIs(t, err, auth.ErrInvalidRefreshToken, "token %q", token)
		require.Equal(t, before, count(t), "a refused refresh changes no session")
	})
}
