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

// CodeEmailTaken: another user registered the e-mail address (compared without case).
const CodeEmailTaken = "email_taken"

// RegisterUserCommand registers a user.
type RegisterUserCommand struct {
	Email    string
	Name     string
	Password string
	// Role is customer for self-registration; operators create admins.
	Role user.Role
}

// RegisterUser registers users. E-mail addresses are unique without regard to case: the
// address is reserved in user_emails in the transaction that appends user.registered.
type RegisterUser struct {
	env       *Env
	passwords Passwords
}

// NewRegisterUser returns the handler.
func NewRegisterUser(env *Env, passwords Passwords) *RegisterUser {
	return &RegisterUser{env: env, passwords: passwords}
}

// Handle validates the input (every field at once), hashes the password and appends
// user.registered with the e-mail reservation.
func (h *RegisterUser) Handle(ctx context.Context, cmd RegisterUserCommand) (UserView, Result, error) {
	email, errEmail := user.NormalizeEmail(cmd.Email)
	_, errName := user.ValidateName(cmd.Name)
	_, errRole := user.ParseRole(string(cmd.Role))
	errPassword := user.ValidatePassword(cmd.Password, cmd.Email, cmd.Name)
	if err := domain.JoinValidation(errEmail, errName, errRole, errPassword); err != nil {
		return UserView{}, Result{}, err
	}
	// Refuse a taken address before paying for the hash; the reservation below is what
	// makes it safe against a concurrent registration.
	var taken bool
	if err := h.env.Store.Pool().QueryRow(ctx,
		`SELECT EXISTS (SELECT 1 FROM user_emails WHERE email_lower = $1)`, email).Scan(&taken); err != nil {
		return UserView{}, Result{}, fmt.Errorf("check email: %w", err)
	}
	if taken {
		return UserView{}, Result{}, errEmailTaken()
	}
	hash, err := h.passwords.Hash(ctx, cmd.Password)
	if err != nil {
		return UserView{}, Result{}, fmt.Errorf("hash password: %w", err)
	}
	id := newID()
	u, res, err := Execute(ctx, h.env, Command[*user.User]{
		Stream: eventstore.Stream{Type: user.StreamType, ID: user.StreamID(id)},
		New:    func() *user.User { return &user.User{} },
		Decide: func(u *user.User) ([]domain.Event, error) {
			return u.DecideRegister(user.Register{
				UserID: id, Email: email, Name: cmd.Name, Role: cmd.Role, PasswordHash: hash, At: h.env.now(),
			})
		},
		Meta:      metadata(ctx, Actor{UserID: id, Role: cmd.Role}),
		NewStream: true, // id is new: nothing to read
		InTx: func(ctx context.Context, tx pgx.Tx, _ *user.User, _ []domain.Event) error {
			tag, err := tx.Exec(ctx, `INSERT INTO user_emails (email_lower, user_id) VALUES ($1, $2) ON CONFLICT (email_lower) DO NOTHING`,
				email, id)
			if err != nil {
				return fmt.Errorf("reserve email: %w", err)
			}
			if tag.RowsAffected() == 0 {
				return errEmailTaken()
			}
			return nil
		},
	})
	if err != nil {
		var derr *domain.Error
		if !errors.As(err, &derr) {
			err = fmt.Errorf("register user: %w", err)
		}
		return UserView{}, Result{}, err
	}
	return userView(u, res.Version), res, nil
}

func errEmailTaken() error {
	return domain.Conflict(CodeEmailTaken, "an account with this email address already exists")
}
