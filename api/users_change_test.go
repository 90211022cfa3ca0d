package api_test

import (
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func TestChangePassword(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	email := uniqueEmail("pw")
	s.register(t, email)
	this, other := s.login(t, email), s.login(t, email) // two sessions
	const newPassword = "a different horse battery"
	change := func(body map[string]string) response {
		return s.do(t, http.MethodPost, "/v1/users/me/password", body, bearer(this.AccessToken))
	}

	before := s.headPosition(t)
	p := change(map[string]string{"current_password": "not the password at all", "new_password": newPassword}).
		problem(t, http.StatusUnprocessableEntity, "wrong_password")
	require.Contains(t, p.Fields, "current_password")
	p = change(map[string]string{"current_password": goodPassword, "new_password": "short"}).
		problem(t, http.StatusUnprocessableEntity, "weak_password")
	require.Contains(t, p.Fields, "new_password")
	change(map[string]string{"current_password": goodPassword, "new_password": goodPassword}).
		problem(t, http.StatusUnprocessableEntity, "weak_password")
	change(map[string]string{"new_password": newPassword}).problem(t, http.StatusUnprocessableEntity, "invalid_input")
	s.do(t, http.MethodPost, "/v1/users/me/password", map[string]string{"current_password": goodPassword, "new_password": newPassword}).
		problem(t, http.StatusUnauthorized, "authentication_required")
	require.Equal(t, before, s.headPosition(t), "refused changes append nothing")

	r := change(map[string]string{"current_password": goodPassword, "new_password": newPassword})
	require.Equal(t, http.StatusNoContent, r.Code, "%s", r.Body)
	require.Greater(t, s.headPosition(t), before, "user.password_changed appended")

	// The old password no longer logs in; the new one does.
	s.do(t, http.MethodPost, "/v1/auth/login", map[string]string{"email": email, "password": goodPassword}).
		problem(t, http.StatusUnauthorized, "invalid_credentials")
	r = s.do(t, http.MethodPost, "/v1/auth/login", map[string]string{"email": email, "password": newPassword})
	require.Equal(t, http.StatusOK, r.Code, "%s", r.Body)
	// The other session is over; this one goes on.
	s.do(t, http.MethodPost, "/v1/auth/refresh", map[string]string{"refresh_token": other.RefreshToken}).
		problem(t, http.StatusUnauthorized, "invalid_refresh_token")
	r = s.do(t, http.MethodPost, "/v1/auth/refresh", map[string]string{"refresh_token": this.RefreshToken})
	require.Equal(t, http.StatusOK, r.Code, "%s", r.Body)
}

func TestChangeRole(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	admin := s.admin(t)
	email := uniqueEmail("promoted")
	u := s.register(t, email)
	tok := s.login(t, email)
	path := "/v1/users/" + u.ID + "/role"

	before := s.headPosition(t)
	s.do(t, http.MethodPost, path, map[string]string{"role": "admin"}, bearer(tok.AccessToken)).
		problem(t, http.StatusForbidden, "admin_required")
	s.do(t, http.MethodPost, path, map[string]string{"role": "root"}, bearer(admin)).
		problem(t, http.StatusUnprocessableEntity, "invalid_role")
	s.do(t, http.MethodPost, "/v1/users/"+uuid.NewString()+"/role", map[string]string{"role": "admin"}, bearer(admin)).
		problem(t, http.StatusNotFound, "user_not_found")
	s.do(t, http.MethodPost, "/v1/users/not-a-uuid/role", map[string]string{"role": "admin"}, bearer(admin)).
		problem(t, http.StatusNotFound, "user_not_found")
	require.Equal(t, before, s.headPosition(t), "refused changes append nothing")

	var got userBody
	r := s.do(t, http.MethodPost, path, map[string]string{"role": "admin"}, bearer(admin))
	require.Equal(t, http.StatusOK, r.Code, "%s", r.Body)
	r.decode(t, &got)
	require.Equal(t, "admin", got.Role)
	require.EqualValues(t, 2, got.Version)

	// The access token in hand keeps its role until the next refresh, which carries the new one.
	s.do(t, http.MethodGet, "/v1/admin/sagas", nil, bearer(tok.AccessToken)).problem(t, http.StatusForbidden, "admin_required")
	r = s.do(t, http.MethodPost, "/v1/auth/refresh", map[string]string{"refresh_token": tok.RefreshToken})
	require.Equal(t, http.StatusOK, r.Code, "%s", r.Body)
	var fresh tokensBody
	r.decode(t, &fresh)
	r = s.do(t, http.MethodGet, "/v1/users/me", nil, bearer(fresh.AccessToken))
	r.decode(t, &got)
	require.Equal(t, "admin", got.Role)

	// The same role again changes nothing; an admin cannot demote themselves.
	r = s.do(t, http.MethodPost, path, map[string]string{"role": "admin"}, bearer(admin))
	require.Equal(t, http.StatusOK, r.Code, "%s", r.Body)
	r.decode(t, &got)
	require.EqualValues(t, 2, got.Version)
	s.do(t, http.MethodPost, path, map[string]string{"role": "customer"}, bearer(fresh.AccessToken)).
		problem(t, http.StatusConflict, "cannot_demote_self")
}
