package auth_test

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/user"
	"github.com/ordo-platform/ordo/internal/auth"
)

var secret = []byte("0123456789abcdef0123456789abcdef-test")

func tokens(t *testing.T, now func() time.Time) *auth.Tokens {
	t.Helper()
	cfg := auth.DefaultConfig()
	cfg.Secret = secret
	tk, err := auth.NewTokens(cfg, now)
	require.NoError(t, err)
	return tk
}

func TestIssueAndAuthenticate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tk := tokens(t, clock)
	id := domain.ID(uuid.Must(uuid.NewV7()))
	fam := uuid.Must(uuid.NewV7())
	s, exp, err := tk.Issue(id, user.RoleAdmin, fam)
	require.NoError(t, err)
	require.Equal(t, now.Add(15*time.Minute), exp)

	p, err := tk.Authenticate(s)
	require.NoError(t, err)
	require.Equal(t, id, p.UserID)
	require.Equal(t, user.RoleAdmin, p.Role)
	require.True(t, p.IsAdmin())
	require.Equal(t, fam, p.Family)
	require.NotEmpty(t, p.TokenID)

	// The claims on the wire.
	var c jwt.MapClaims
	_, _, err = jwt.NewParser().ParseUnverified(s, &c)
	require.NoError(t, err)
	require.Equal(t, "ordo", c["iss"])
	require.Equal(t, []any{"ordo-api"}, c["aud"])
	for _, k := range []string{"sub", "exp", "nbf", "iat", "jti", "role", "fam"} {
		require.Contains(t, c, k)
	}

	// Within the leeway it still works; past it, it has expired.
	now = now.Add(15*time.Minute + 20*time.Second)
	_, err = tk.Authenticate(s)
	require.NoError(t, err)
	now = now.Add(time.Minute)
	_, err = tk.Authenticate(s)
	require.ErrorIs(t, err, auth.ErrTokenExpired)
	require.ErrorIs(t, err, auth.ErrInvalidToken)
}

func TestTokenFromAnotherDeploymentIsRefused(t *testing.T) {
	t.Parallel()
	cfg := auth.DefaultConfig()
	cfg.Secret = secret
	cfg.Audience = "ordo-staging"
	other, err := auth.NewTokens(cfg, nil)
	require.NoError(t, err)
	s, _, err := other.Issue(domain.ID(uuid.New()), user.RoleCustomer, uuid.New())
	require.NoError(t, err)
	_, err = tokens(t, nil).Authenticate(s)
	require.ErrorIs(t, err, auth.ErrInvalidToken)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	c := auth.DefaultConfig()
	require.ErrorContains(t, c.Validate(), "ORDO_JWT_SECRET: required")
	c.Secret = []byte("short")
	require.ErrorContains(t, c.Validate(), "ORDO_JWT_SECRET: too short")
	c.Secret = secret
	require.NoError(t, c.Validate())
	c.AccessTTL = 0
	c.RefreshTTL = -1
	err := c.Validate()
	require.ErrorContains(t, err, "ORDO_ACCESS_TOKEN_TTL")
	require.ErrorContains(t, err, "ORDO_REFRESH_TOKEN_TTL")
}
