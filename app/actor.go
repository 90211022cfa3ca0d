package app

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/user"
	"github.com/ordo-platform/ordo/eventstore"
)

// Actor is who runs a command or query: an authenticated user with their role, or the
// system (zero UserID) for operator tools such as `ordo users add`.
type Actor struct {
	UserID domain.ID
	Role   user.Role
}

// IsAdmin reports whether the actor has the admin role.
func (a Actor) IsAdmin() bool { return a.Role == user.RoleAdmin }

// String names the actor in event metadata: "user:<id>" or "system".
func (a Actor) String() string {
	if a.UserID.IsZero() {
		return "system"
	}
	return "user:" + a.UserID.String()
}

// requireAdmin refuses non-admins. The HTTP edge checks roles before a handler runs;
// handlers check again so that no other caller can skip it.
func requireAdmin(a Actor) error {
	if !a.IsAdmin() {
		return domain.Forbidden(user.CodeAdminRequired, "this action needs the admin role")
	}
	return nil
}

// ErrInvalidCredentials: the e-mail address and password do not match a user. It does
// not say which of the two was wrong.
var ErrInvalidCredentials = errors.New("app: invalid email or password")

// Passwords hashes and verifies passwords (internal/auth.Hasher).
type Passwords interface {
	// Hash returns the PHC string of a password.
	Hash(ctx context.Context, password string) (string, error)
	// Verify reports whether password matches the PHC string, in constant time.
	Verify(ctx context.Context, password, encoded string) (bool, error)
	// Dummy returns a hash to verify against when there is no user, so that a login for
	// an unknown e-mail takes as long as one with a wrong password.
	Dummy() string
}

type metaKey struct{}

// WithMetadata returns a context whose commands record md with their events (the
// request's correlation and causation ids, its traceparent). The actor is filled in by
// each command.
func WithMetadata(ctx context.Context, md eventstore.Metadata) context.Context {
	return context.WithValue(ctx, metaKey{}, md)
}

// metadata returns the event metadata of a command run by actor in ctx.
func metadata(ctx context.Context, actor Actor) eventstore.Metadata {
	md, _ := ctx.Value(metaKey{}).(eventstore.Metadata)
	if md.CorrelationID == uuid.Nil {
		md.CorrelationID = eventstore.NewID()
	}
	if md.CausationID == uuid.Nil {
		md.CausationID = md.CorrelationID
	}
	md.Actor = actor.String()
	return md
}

// newID returns a new aggregate id: a UUIDv7, so ids sort roughly by creation time.
func newID() domain.ID { return domain.ID(eventstore.NewID()) }
