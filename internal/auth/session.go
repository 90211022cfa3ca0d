package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/user"
)

// TokenPair is what a login or a refresh returns.
type TokenPair struct {
	AccessToken  string
	RefreshToken string
	// ExpiresIn is the access token's lifetime.
	ExpiresIn time.Duration
	// Family is the refresh family (login session).
	Family uuid.UUID
}

// Sessions issues token pairs and keeps the refresh tokens (table refresh_tokens). It
// is safe for concurrent use.
type Sessions struct {
	tokens *Tokens
	pool   *pgxpool.Pool
	ttl    time.Duration
}

// NewSessions returns Sessions storing refresh tokens in pool, living cfg.RefreshTTL.
func NewSessions(tokens *Tokens, pool *pgxpool.Pool) *Sessions {
	return &Sessions{tokens: tokens, pool: pool, ttl: tokens.cfg.RefreshTTL}
}

// Tokens returns the access-token issuer and checker.
func (s *Sessions) Tokens() *Tokens { return s.tokens }

// Start opens a new session (refresh family) for an authenticated user.
func (s *Sessions) Start(ctx context.Context, userID domain.ID, role user.Role) (TokenPair, error) {
	family := uuid.Must(uuid.NewV7())
	refresh, err := s.insert(ctx, s.pool, family, userID)
	if err != nil {
		return TokenPair{}, err
	}
	return s.pair(userID, role, family, refresh)
}

// RoleOf returns a user's current role; Refresh asks it so that a role change applies
// at the next refresh.
type RoleOf func(ctx context.Context, userID domain.ID) (user.Role, error)

// Refresh spends a refresh token and returns a new pair in the same family. A token that
// was already spent revokes its family and returns ErrRefreshTokenReused; an unknown,
// expired or revoked one returns ErrInvalidRefreshToken.
func (s *Sessions) Refresh(ctx context.Context, refreshToken string, roleOf RoleOf) (TokenPair, error) {
	h, ok := hashRefresh(refreshToken)
	if !ok {
		return TokenPair{}, ErrInvalidRefreshToken
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return TokenPair{}, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	var (
		family uuid.UUID
		userID uuid.UUID
	)
	// The row lock taken here makes a concurrent use of the same token wait, then find
	// it spent: exactly one use wins.
	err = tx.QueryRow(ctx, `
		UPDATE refresh_tokens SET used_at = now()
		WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()
		RETURNING family_id, user_id`, h).Scan(&family, &userID)
	if errors.Is(err, pgx.ErrNoRows) {
		_ = tx.Rollback(ctx)
		return TokenPair{}, s.refused(ctx, h)
	}
	if err != nil {
		return TokenPair{}, fmt.Errorf("spend refresh token: %w", err)
	}
	role, err := roleOf(ctx, domain.ID(userID))
	if err != nil {
		return TokenPair{}, fmt.Errorf("refresh: role of user %s: %w", userID, err)
	}
	next, err := s.insert(ctx, tx, family, domain.ID(userID))
	if err != nil {
		return TokenPair{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return TokenPair{}, fmt.Errorf("refresh: commit: %w", err)
	}
	return s.pair(domain.ID(userID), role, family, next)
}

// refused explains why a refresh token could not be spent and, when it had been spent
// before, revokes its family.
func (s *Sessions) refused(ctx context.Context, h []byte) error {
	var (
		family uuid.UUID
		used   *time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT family_id, used_at FROM refresh_tokens WHERE token_hash = $1`, h).Scan(&family, &used)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return ErrInvalidRefreshToken
	case err != nil:
		return fmt.Errorf("look up refresh token: %w", err)
	case used == nil:
		return ErrInvalidRefreshToken // expired or revoked, never spent
	}
	if _, err := s.pool.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL`, family); err != nil {
		return fmt.Errorf("revoke refresh family %s: %w", family, err)
	}
	return ErrRefreshTokenReused
}

// Revoke ends a session: every refresh token of the family stops working. Access tokens
// already issued stay valid until they expire (at most the access-token lifetime).
func (s *Sessions) Revoke(ctx context.Context, userID domain.ID, family uuid.UUID) error {
	_, err := s.pool.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND user_id = $2 AND revoked_at IS NULL`,
		family, uuid.UUID(userID))
	if err != nil {
		return fmt.Errorf("revoke refresh family %s: %w", family, err)
	}
	return nil
}

// Execer runs a statement: a pool, a connection or a transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// RevokeOthers ends every session of the user except the family keep (the caller's own),
// through db (a transaction, to commit with what caused it: a password change).
func (s *Sessions) RevokeOthers(ctx context.Context, db Execer, userID domain.ID, keep uuid.UUID) error {
	_, err := db.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND family_id <> $2 AND revoked_at IS NULL`,
		uuid.UUID(userID), keep)
	if err != nil {
		return fmt.Errorf("revoke the other sessions of user %s: %w", userID, err)
	}
	return nil
}

// DeleteExpired removes refresh tokens that expired more than grace ago and returns how
// many it removed.
func (s *Sessions) DeleteExpired(ctx context.Context, grace time.Duration) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM refresh_tokens WHERE expires_at < now() - make_interval(secs => $1)`, grace.Seconds())
	if err != nil {
		return 0, fmt.Errorf("delete expired refresh tokens: %w", err)
	}
	return tag.RowsAffected(), nil
}

// rowQuerier is the pool or a transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Sessions) insert(ctx context.Context, q rowQuerier, family uuid.UUID, userID domain.ID) (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("refresh token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw[:])
	h, _ := hashRefresh(token)
	var one int
	err := q.QueryRow(ctx, `
		INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at)
		VALUES ($1, $2, $3, now() + make_interval(secs => $4))
		RETURNING 1`, h, family, uuid.UUID(userID), s.ttl.Seconds()).Scan(&one)
	if err != nil {
		return "", fmt.Errorf("store refresh token: %w", err)
	}
	return token, nil
}

func (s *Sessions) pair(userID domain.ID, role user.Role, family uuid.UUID, refresh string) (TokenPair, error) {
	access, _, err := s.tokens.Issue(userID, role, family)
	if err != nil {
		return TokenPair{}, err
	}
	return TokenPair{AccessToken: access, RefreshToken: refresh, ExpiresIn: s.tokens.TTL(), Family: family}, nil
}

// hashRefresh returns the stored form of a refresh token, or false when the value cannot
// be one of ours (so that garbage never reaches the database).
func hashRefresh(token string) ([]byte, bool) {
	if len(token) != base64.RawURLEncoding.EncodedLen(32) {
		return nil, false
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(token); err != nil {
		return nil, false
	}
	sum := sha256.Sum256([]byte(token))
	return sum[:], true
}
