package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/user"
	"github.com/ordo-platform/ordo/eventstore"
)

// CodeWrongPassword: the current password given to change it does not match.
const CodeWrongPassword = "wrong_password"

// ChangePasswordCommand replaces a user's password. The caller proves it knows the
// current one.
type ChangePasswordCommand struct {
	UserID          domain.ID
	CurrentPassword string
	NewPassword     string
	// InTx runs in the transaction of user.password_changed (the edge revokes the user's
	// other sessions there, so the change and the revocation commit together).
	InTx func(ctx context.Context, tx pgx.Tx) error
}

// ChangePassword changes passwords.
type ChangePassword struct {
	env       *Env
	passwords Passwords
}

// NewChangePassword returns the handler.
func NewChangePassword(env *Env, passwords Passwords) *ChangePassword {
	return &ChangePassword{env: env, passwords: passwords}
}

// Handle checks the current password (in constant time), the new one against the policy,
// and appends user.password_changed with the new hash.
func (h *ChangePassword) Handle(ctx context.Context, cmd ChangePasswordCommand) (Result, error) {
	u, _, err := Load(ctx, h.env, user.StreamID(cmd.UserID), func() *user.User { return &user.User{} })
	if err != nil {
		return Result{}, fmt.Errorf("load user %s: %w", cmd.UserID, err)
	}
	if !u.Exists() {
		return Result{}, domain.NotFound(user.CodeUserNotFound, "user not found")
	}
	if cmd.CurrentPassword == "" {
		return Result{}, domain.Invalid(domain.CodeInvalidInput, "current_password", "current_password is required")
	}
	ok, err := h.passwords.Verify(ctx, cmd.CurrentPassword, u.PasswordHash())
	if err != nil {
		return Result{}, fmt.Errorf("verify password of user %s: %w", cmd.UserID, err)
	}
	if !ok {
		return Result{}, domain.Invalid(CodeWrongPassword, "current_password", "current_password is not the account's password")
	}
	if err := user.ValidatePassword(cmd.NewPassword, u.Email(), u.Name()); err != nil {
		var derr *domain.Error
		if errors.As(err, &derr) { // the policy speaks of "password": here it is new_password
			return Result{}, domain.Invalid(derr.Code, "new_password", "new_"+derr.Detail)
		}
		return Result{}, err
	}
	if cmd.NewPassword == cmd.CurrentPassword {
		return Result{}, domain.Invalid(user.CodeWeakPassword, "new_password", "new_password must differ from the current one")
	}
	hash, err := h.passwords.Hash(ctx, cmd.NewPassword)
	if err != nil {
		return Result{}, fmt.Errorf("hash password: %w", err)
	}
	_, res, err := Execute(ctx, h.env, Command[*user.User]{
		Stream: eventstore.Stream{Type: user.StreamType, ID: user.StreamID(cmd.UserID)},
		New:    func() *user.User { return &user.User{} },
		Decide: func(u *user.User) ([]domain.Event, error) {
			return u.DecideChangePassword(user.ChangePassword{PasswordHash: hash})
		},
		Meta: metadata(ctx, Actor{UserID: cmd.UserID, Role: u.Role()}),
		InTx: func(ctx context.Context, tx pgx.Tx, _ *user.User, _ []domain.Event) error {
			if cmd.InTx == nil {
				return nil
			}
			return cmd.InTx(ctx, tx)
		},
	})
	if err != nil {
		var derr *domain.Error
		if !errors.As(err, &derr) {
			err = fmt.Errorf("change password: %w", err)
		}
		return Result{}, err
	}
	return res, nil
}

// ChangeRoleCommand gives a user another role; By is the admin asking.
type ChangeRoleCommand struct {
	UserID domain.ID
	Role   user.Role
	By     Actor
}

// ChangeRole changes roles. The new role reaches the user's tokens at their next refresh.
type ChangeRole struct{ env *Env }

// NewChangeRole returns the handler.
func NewChangeRole(env *Env) *ChangeRole { return &ChangeRole{env: env} }

// Handle appends user.role_changed (nothing when the user has the role already).
func (h *ChangeRole) Handle(ctx context.Context, cmd ChangeRoleCommand) (UserView, Result, error) {
	u, res, err := Execute(ctx, h.env, Command[*user.User]{
		Stream: eventstore.Stream{Type: user.StreamType, ID: user.StreamID(cmd.UserID)},
		New:    func() *user.User { return &user.User{} },
		Decide: func(u *user.User) ([]domain.Event, error) {
			return u.DecideChangeRole(user.ChangeRole{Role: cmd.Role, ChangedBy: cmd.By.UserID, ActorRole: cmd.By.Role})
		},
		Meta: metadata(ctx, cmd.By),
	})
	if err != nil {
		var derr *domain.Error
		if !errors.As(err, &derr) {
			err = fmt.Errorf("change role: %w", err)
		}
		return UserView{}, Result{}, err
	}
	return userView(u, res.Version), res, nil
}
