package app

import (
	"context"
	"fmt"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/user"
)

// GetUserQuery asks for one user.
type GetUserQuery struct {
	UserID domain.ID
}

// GetUser folds a user's stream. (The projections replace it with a read model.)
type GetUser struct{ env *Env }

// NewGetUser returns the handler.
func NewGetUser(env *Env) *GetUser { return &GetUser{env: env} }

// Handle returns the user, or a NotFound error.
func (h *GetUser) Handle(ctx context.Context, q GetUserQuery) (UserView, error) {
	u, version, err := Load(ctx, h.env, user.StreamID(q.UserID), func() *user.User { return &user.User{} })
	if err != nil {
		return UserView{}, fmt.Errorf("load user %s: %w", q.UserID, err)
	}
	if !u.Exists() {
		return UserView{}, domain.NotFound(user.CodeUserNotFound, "user not found")
	}
	return userView(u, version), nil
}
