package auth_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/api"
	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/user"
	"github.com/ordo-platform/ordo/internal/auth"
	"github.com/ordo-platform/ordo/internal/testenv"
)

func sessions(t *testing.T) (*auth.Sessions, func(string) int) {
	t.Helper()
	pool := testenv.PostgresSchema(t, api.Migrations())
	count := func(where string) int {
		var n int
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM refresh_tokens WHERE `+where).Scan(&n))
		return n
	}
	return auth.NewSessions(tokens(t, nil), pool), count
}

func roleOf(r user.Role) auth.RoleOf {
	return func(context.Context, domain.ID) (user.Role, error) { return r, nil }
}

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, count := sessions(t)
	id := domain.ID(uuid.New())
	first, err := s.Start(ctx, id, user.RoleCustomer)
	require.NoError(t, err)
	require.Len(t, first.RefreshToken, 43)
	require.Equal(t, 1, count("true"))
	require.Zero(t, count("token_hash = convert_to('"+first.RefreshToken+"', 'UTF8')"), "only the hash is stored")

	// The role at refresh time goes into the new access token.
	second, err := s.Refresh(ctx, first.RefreshToken, roleOf(user.RoleAdmin))
	require.NoError(t, err)
	require.Equal(t, first.Family, second.Family)
	p, err := s.Tokens().Authenticate(second.AccessToken)
	require.NoError(t, err)
	require.Equal(t, user.RoleAdmin, p.Role)
	require.Equal(t, 1, count("used_at IS NOT NULL"))

	_, err = s.Refresh(ctx, first.RefreshToken, roleOf(user.RoleAdmin))
	require.ErrorIs(t, err, auth.ErrRefreshTokenReused)
	require.Equal(t, 2, count("revoked_at IS NOT NULL"), "the whole family")
	_, err = s.Refresh(ctx, second.RefreshToken, roleOf(user.RoleAdmin))
	require.ErrorIs(t, err, auth.ErrInvalidRefreshToken)
}

func TestConcurrentRefreshesSpendOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := sessions(t)
	pair, err := s.Start(ctx, domain.ID(uuid.New()), user.RoleCustomer)
	require.NoError(t, err)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = s.Refresh(ctx, pair.RefreshToken, roleOf(user.RoleCustomer)) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		require.True(t, errors.Is(err, auth.ErrRefreshTokenReused) || errors.Is(err, auth.ErrInvalidRefreshToken), "%v", err)
	}
	require.Equal(t, 1, won, "exactly one use wins")
}

func TestRevokeAndExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, count := sessions(t)
	id := domain.ID(uuid.New())
	a, err := s.Start(ctx, id, user.RoleCustomer)
	require.NoError(t, err)
	b, err := s.Start(ctx, id, user.RoleCustomer)
	require.NoError(t, err)

	require.NoError(t, s.Revoke(ctx, domain.ID(uuid.New()), a.Family), "another user cannot revoke it")
	_, err = s.Refresh(ctx, a.RefreshToken, roleOf(user.RoleCustomer))
	require.NoError(t, err)

	require.NoError(t, s.Revoke(ctx, id, b.Family))
	_, err = s.Refresh(ctx, b.RefreshToken, roleOf(user.RoleCustomer))
	require.ErrorIs(t, err, auth.ErrInvalidRefreshToken)

	n, err := s.DeleteExpired(ctx, 0)
	require.NoError(t, err)
	require.Zero(t, n, "nothing has expired")
	require.Equal(t, 3, count("true"))
}

func TestRoleLookupFailureKeepsTheToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := sessions(t)
	pair, err := s.Start(ctx, domain.ID(uuid.New()), user.RoleCustomer)
	require.NoError(t, err)
	boom := errors.New("db down")
	_, err = s.Refresh(ctx, pair.RefreshToken, func(context.Context, domain.ID) (user.Role, error) { return "", boom })
	require.ErrorIs(t, err, boom)
	_, err = s.Refresh(ctx, pair.RefreshToken, roleOf(user.RoleCustomer))
	require.NoError(t, err, "the failed attempt rolled back; the token was not spent")
}
