package user

import (
	"time"

	"github.com/ordo-platform/ordo/domain"
)

// Event type names. They are stored with every event and never change.
const (
	TypeRegistered      = "user.registered"
	TypeRoleChanged     = "user.role_changed"
	TypePasswordChanged = "user.password_changed"
)

// Registered: a user account was created.
type Registered struct {
	UserID domain.ID
	// Email is normalised: trimmed and lower-case.
	Email string
	Name  string
	Role  Role
	// PasswordHash is a PHC string computed outside the domain.
	PasswordHash string
	RegisteredAt time.Time
}

// RoleChanged: an admin gave the user another role.
type RoleChanged struct {
	UserID    domain.ID
	Role      Role
	ChangedBy domain.ID
}

// PasswordChanged: the user's password hash was replaced.
type PasswordChanged struct {
	UserID       domain.ID
	PasswordHash string
}

// EventType implements domain.Event.
func (Registered) EventType() string { return TypeRegistered }

// EventType implements domain.Event.
func (RoleChanged) EventType() string { return TypeRoleChanged }

// EventType implements domain.Event.
func (PasswordChanged) EventType() string { return TypePasswordChanged }

// Events lists one zero value of every event type of the aggregate: the
// closed set that the codec and the tests enumerate.
func Events() []domain.Event {
	return []domain.Event{Registered{}, RoleChanged{}, PasswordChanged{}}
}

// StreamType is the stream type (and Kafka topic family) of users.
const StreamType = "user"

// StreamID returns the stream id of a user: "user-<uuid>".
func StreamID(id domain.ID) string { return domain.StreamID(StreamType, id) }
