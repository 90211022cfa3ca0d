package user

import (
	"fmt"
	"strings"
	"time"

	"github.com/ordo-platform/ordo/domain"
)

// User is the user aggregate. The zero value is a user that does not exist
// yet (an empty stream); Fold builds the current state from history.
type User struct {
	id           domain.ID
	email        string
	name         string
	role         Role
	passwordHash string
	registeredAt time.Time
}

// Fold rebuilds a user from its stream's events, oldest first. It fails only
// on an event of another aggregate (a wiring bug).
func Fold(events []domain.Event) (*User, error) {
	u := &User{}
	for _, e := range events {
		if err := u.Evolve(e); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// Evolve applies one event. It trusts the event (it was validated when
// decided) and never checks invariants.
func (u *User) Evolve(e domain.Event) error {
	switch e := e.(type) {
	case Registered:
		u.id = e.UserID
		u.email = e.Email
		u.name = e.Name
		u.role = e.Role
		u.passwordHash = e.PasswordHash
		u.registeredAt = e.RegisteredAt
	case RoleChanged:
		u.role = e.Role
	case PasswordChanged:
		u.passwordHash = e.PasswordHash
	default:
		return fmt.Errorf("user: apply %T: %w", e, domain.ErrUnknownEvent)
	}
	return nil
}

// Exists reports whether the user was registered.
func (u *User) Exists() bool { return !u.id.IsZero() }

// ID returns the user's id.
func (u *User) ID() domain.ID { return u.id }

// Email returns the normalised e-mail address.
func (u *User) Email() string { return u.email }

// Name returns the display name.
func (u *User) Name() string { return u.name }

// Role returns the current role.
func (u *User) Role() Role { return u.role }

// IsAdmin reports whether the user is an admin.
func (u *User) IsAdmin() bool { return u.role == RoleAdmin }

// PasswordHash returns the PHC string of the current password.
func (u *User) PasswordHash() string { return u.passwordHash }

// RegisteredAt returns when the user registered.
func (u *User) RegisteredAt() time.Time { return u.registeredAt }

// Register creates a user. The handler has checked the password with
// ValidatePassword and hashed it, and has checked that the e-mail is not
// taken (see the package comment).
type Register struct {
	UserID       domain.ID
	Email        string
	Name         string
	Role         Role
	PasswordHash string
	At           time.Time
}

// DecideRegister validates a registration. Registering an existing user is a
// conflict: a retried request is recognised by the HTTP idempotency key, not
// here.
func (u *User) DecideRegister(cmd Register) ([]domain.Event, error) {
	if u.Exists() {
		return nil, domain.Conflict(CodeUserAlreadyExists, fmt.Sprintf("user %s already exists", u.id))
	}
	email, errEmail := NormalizeEmail(cmd.Email)
	name, errName := ValidateName(cmd.Name)
	role, errRole := ParseRole(string(cmd.Role))
	at, errAt := domain.Time("registered_at", cmd.At)
	if err := domain.JoinValidation(
		domain.RequireID("user_id", cmd.UserID), errEmail, errName, errRole,
		validatePasswordHash(cmd.PasswordHash), errAt,
	); err != nil {
		return nil, err
	}
	return []domain.Event{Registered{
		UserID:       cmd.UserID,
		Email:        email,
		Name:         name,
		Role:         role,
		PasswordHash: cmd.PasswordHash,
		RegisteredAt: at,
	}}, nil
}

// ChangeRole gives the user another role. ChangedBy and ActorRole describe
// who asks: only an admin may change roles, and an admin may not demote
// themselves (so the last admin cannot lock everyone out by accident).
type ChangeRole struct {
	Role      Role
	ChangedBy domain.ID
	ActorRole Role
}

// DecideChangeRole returns RoleChanged, or nothing when the user already has
// the role.
func (u *User) DecideChangeRole(cmd ChangeRole) ([]domain.Event, error) {
	if !u.Exists() {
		return nil, domain.NotFound(CodeUserNotFound, "user not found")
	}
	role, err := ParseRole(string(cmd.Role))
	if err != nil {
		return nil, err
	}
	if err := domain.RequireID("changed_by", cmd.ChangedBy); err != nil {
		return nil, err
	}
	if cmd.ActorRole != RoleAdmin {
		return nil, domain.Forbidden(CodeAdminRequired, "only an admin may change roles")
	}
	if role == u.role {
		return nil, nil
	}
	if cmd.ChangedBy == u.id && u.role == RoleAdmin {
		return nil, domain.Conflict(CodeCannotDemoteSelf, "an admin cannot remove their own admin role; ask another admin")
	}
	return []domain.Event{RoleChanged{UserID: u.id, Role: role, ChangedBy: cmd.ChangedBy}}, nil
}

// ChangePassword replaces the password hash. The handler has verified the
// old password and checked the new one with ValidatePassword.
type ChangePassword struct {
	PasswordHash string
}

// DecideChangePassword returns PasswordChanged, or nothing when the hash is
// the one already stored (a retry: fresh hashes always differ by their salt).
func (u *User) DecideChangePassword(cmd ChangePassword) ([]domain.Event, error) {
	if !u.Exists() {
		return nil, domain.NotFound(CodeUserNotFound, "user not found")
	}
	if err := validatePasswordHash(cmd.PasswordHash); err != nil {
		return nil, err
	}
	if cmd.PasswordHash == u.passwordHash {
		return nil, nil
	}
	return []domain.Event{PasswordChanged{UserID: u.id, PasswordHash: cmd.PasswordHash}}, nil
}

// ValidateName trims a display name and checks it: 1 to 200 characters, no
// control characters.
func ValidateName(name string) (string, error) {
	return domain.Text(CodeInvalidName, "name", name, 1, 200, false)
}

// validatePasswordHash checks the shape of a PHC string:
// "$<algorithm>$<fields...>", at most 512 bytes, printable ASCII. The domain
// does not know the algorithm's parameters; the hasher does.
func validatePasswordHash(h string) error {
	bad := len(h) < 3 || len(h) > 512 || h[0] != '$' || strings.Count(h, "$") < 2
	for i := 0; !bad && i < len(h); i++ {
		bad = h[i] <= ' ' || h[i] > '~'
	}
	if !bad {
		alg, _, _ := strings.Cut(h[1:], "$")
		bad = alg == ""
	}
	if bad {
		return domain.Invalid(CodeInvalidPasswordHash, "password_hash", "password hash must be a PHC string such as $argon2id$v=19$...")
	}
	return nil
}
