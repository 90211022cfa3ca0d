package api

import (
	"context"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/ordo-platform/ordo/app"
	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/user"
	"github.com/ordo-platform/ordo/internal/auth"
)

type registerUserRequest struct {
	Email    string `json:"email"`
	Name     string `json:"name"`
	Password string `json:"password"`
}

type userResponse struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	Role         string    `json:"role"`
	RegisteredAt time.Time `json:"registered_at"`
	Version      int64     `json:"version"`
	Position     int64     `json:"position,omitempty"`
}

func toUser(v app.UserView, position int64) userResponse {
	return userResponse{
		ID: v.ID.String(), Email: v.Email, Name: v.Name, Role: string(v.Role),
		RegisteredAt: v.RegisteredAt.UTC(), Version: v.Version, Position: position,
	}
}

// handleRegisterUser: POST /v1/users → 201 user, role customer.
func (s *Server) handleRegisterUser(c echo.Context) error {
	var req registerUserRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	v, res, err := s.registerUser.Handle(c.Request().Context(), app.RegisterUserCommand{
		Email: req.Email, Name: req.Name, Password: req.Password, Role: user.RoleCustomer,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toUser(v, res.Position))
}

// handleMe: GET /v1/users/me → the caller.
func (s *Server) handleMe(c echo.Context) error {
	p, _ := principal(c)
	v, err := s.getUser.Handle(c.Request().Context(), app.GetUserQuery{UserID: p.UserID})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toUser(v, 0))
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
}

func writeTokens(c echo.Context, pair auth.TokenPair) error {
	// RFC 6749 §5.1: responses with tokens must not be cached.
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("Pragma", "no-cache")
	return c.JSON(http.StatusOK, tokenResponse{
		AccessToken: pair.AccessToken, RefreshToken: pair.RefreshToken, TokenType: "Bearer",
		ExpiresIn: int64(pair.ExpiresIn.Seconds()),
	})
}

// handleLogin: POST /v1/auth/login → a token pair in a new session.
func (s *Server) handleLogin(c echo.Context) error {
	var req loginRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	who, err := s.login.Handle(ctx, app.LoginQuery{Email: req.Email, Password: req.Password})
	if err != nil {
		return err
	}
	pair, err := s.deps.Sessions.Start(ctx, who.UserID, who.Role)
	if err != nil {
		return err
	}
	return writeTokens(c, pair)
}

// handleRefresh: POST /v1/auth/refresh → a new pair; the presented refresh token is
// spent. The new access token carries the user's current role.
func (s *Server) handleRefresh(c echo.Context) error {
	var req refreshRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	if req.RefreshToken == "" {
		return domain.Invalid(domain.CodeInvalidInput, "refresh_token", "refresh_token is required")
	}
	pair, err := s.deps.Sessions.Refresh(c.Request().Context(), req.RefreshToken,
		func(ctx context.Context, id domain.ID) (user.Role, error) {
			v, err := s.getUser.Handle(ctx, app.GetUserQuery{UserID: id})
			return v.Role, err
		})
	if err != nil {
		return err
	}
	return writeTokens(c, pair)
}

type changePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// handleChangePassword: POST /v1/users/me/password → 204. The caller's other sessions
// are revoked in the transaction of the change; this one goes on.
func (s *Server) handleChangePassword(c echo.Context) error {
	var req changePasswordRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	p, _ := principal(c)
	_, err := s.changePassword.Handle(c.Request().Context(), app.ChangePasswordCommand{
		UserID: p.UserID, CurrentPassword: req.CurrentPassword, NewPassword: req.NewPassword,
		InTx: func(ctx context.Context, tx pgx.Tx) error {
			return s.deps.Sessions.RevokeOthers(ctx, tx, p.UserID, p.Family)
		},
	})
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type changeRoleRequest struct {
	Role string `json:"role"`
}

// handleChangeRole: POST /v1/users/{id}/role (admin) → 200 the user with the new role,
// which reaches the user's tokens at their next refresh.
func (s *Server) handleChangeRole(c echo.Context) error {
	id, err := pathID(c, "id", user.CodeUserNotFound, "user")
	if err != nil {
		return err
	}
	var req changeRoleRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	v, res, err := s.changeRole.Handle(c.Request().Context(), app.ChangeRoleCommand{
		UserID: id, Role: user.Role(req.Role), By: actor(c),
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toUser(v, res.Position))
}

// handleLogout: POST /v1/auth/logout → 204; the caller's refresh family is revoked.
func (s *Server) handleLogout(c echo.Context) error {
	p, _ := principal(c)
	if err := s.deps.Sessions.Revoke(c.Request().Context(), p.UserID, p.Family); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
