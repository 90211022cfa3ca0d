package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/user"
)

// LoginQuery checks a user's credentials.
type LoginQuery struct {
	Email    string
	Password string
}

// LoginResult is the user who logged in.
type LoginResult struct {
	UserID domain.ID
	Role   user.Role
}

// Login checks credentials. It returns ErrInvalidCredentials, without saying whether the
// address is unknown or the password wrong, and it takes the same time in both cases:
// an unknown address is verified against a dummy hash of the same cost.
type Login struct {
	env       *Env
	passwords Passwords
}

// NewLogin returns the handler.
func NewLogin(env *Env, passwords Passwords) *Login {
	return &Login{env: env, passwords: passwords}
}

// Handle returns the user whose e-mail address and password match.
func (h *Login) Handle(ctx context.Context, q LoginQuery) (LoginResult, error) {
	email, err := user.NormalizeEmail(q.Email)
	if err != nil {
		return LoginResult{}, h.reject(ctx, q.Password)
	}
	var id domain.ID
	err = h.env.Store.Pool().QueryRow(ctx, `SELECT user_id FROM user_emails WHERE email_lower = $1`, email).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return LoginResult{}, h.reject(ctx, q.Password)
	}
	if err != nil {
		return LoginResult{}, fmt.Errorf("look up email: %w", err)
	}
	u, _, err := Load(ctx, h.env, user.StreamID(id), func() *user.User { return &user.User{} })
	if err != nil {
		return LoginResult{}, fmt.Errorf("load user %s: %w", id, err)
	}
	if !u.Exists() {
		return LoginResult{}, h.reject(ctx, q.Password)
	}
	ok, err := h.passwords.Verify(ctx, q.Password, u.PasswordHash())
	if err != nil {
		return LoginResult{}, fmt.Errorf("verify password of user %s: %w", id, err)
	}
	if !ok {
		return LoginResult{}, ErrInvalidCredentials
	}
	return LoginResult{UserID: u.ID(), Role: u.Role()}, nil
}

// reject spends the time of a real verification, then refuses.
func (h *Login) reject(ctx context.Context, password string) error {
	if _, err := h.passwords.Verify(ctx, password, h.passwords.Dummy()); err != nil {
		return fmt.Errorf("verify dummy hash: %w", err)
	}
	return ErrInvalidCredentials
}
