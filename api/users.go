package api

import (
	"context"
	"net/http"
	"time"

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

// handleLogout: POST /v1/auth/logout → 204; the caller's refresh family is revoked.
func (s *Server) handleLogout(c echo.Context) error {
	p, _ := principal(c)
	if err := s.deps.Sessions.Revoke(c.Request().Context(), p.UserID, p.Family); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
