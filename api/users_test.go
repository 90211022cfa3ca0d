package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRegisterLoginMe(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	email := uniqueEmail("Ann.Lee")
	u := s.register(t, "  "+strings.ToUpper(email)+" ")
	email = strings.ToLower(email)
	require.Equal(t, email, u.Email, "stored lower-case and trimmed")
	require.Equal(t, "customer", u.Role)
	require.EqualValues(t, 1, u.Version)
	require.Positive(t, u.Position)
	require.Len(t, u.ID, 36)

	tok := s.login(t, strings.ToUpper(email))
	require.Equal(t, "Bearer", tok.TokenType)
	require.EqualValues(t, 900, tok.ExpiresIn)
	require.NotEmpty(t, tok.AccessToken)
	require.Len(t, tok.RefreshToken, 43)

	r := s.do(t, http.MethodGet, "/v1/users/me", nil, bearer(tok.AccessToken))
	require.Equal(t, http.StatusOK, r.Code)
	var me userBody
	r.decode(t, &me)
	require.Equal(t, u.ID, me.ID)
	require.Equal(t, email, me.Email)
	require.Equal(t, "Test User", me.Name)
	require.NotContains(t, string(r.Body), "argon2", "the password hash is never shown")
}

func TestRegisterValidation(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	taken := uniqueEmail("taken")
	s.register(t, taken)
	tests := []struct {
		name       string
		body       map[string]string
		status     int
		code       string
		wantFields []string
	}{
		{"bad email", map[string]string{"email": "ann", "name": "Ann", "password": goodPassword}, 422, "invalid_email", []string{"email"}},
		{"short password", map[string]string{"email": uniqueEmail("a"), "name": "Ann", "password": "short"}, 422, "weak_password", []string{"password"}},
		{"common password", map[string]string{"email": uniqueEmail("a"), "name": "Ann", "password": "password1234"}, 422, "weak_password", []string{"password"}},
		{"password is the email", map[string]string{"email": "ann.lee.private@example.com", "name": "Ann", "password": "ann.lee.private@example.com"}, 422, "weak_password", []string{"password"}},
		{"every field at once", map[string]string{"email": "", "name": "", "password": ""}, 422, "invalid_input", []string{"email", "name", "password"}},
		{"email taken, other case", map[string]string{"email": strings.ToUpper(taken), "name": "Ann", "password": goodPassword}, 409, "email_taken", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.headPosition(t)
			p := s.do(t, http.MethodPost, "/v1/users", tt.body).problem(t, tt.status, tt.code)
			require.NotEmpty(t, p.Detail)
			require.Equal(t, "/v1/users", p.Instance)
			for _, f := range tt.wantFields {
				require.Contains(t, p.Fields, f)
			}
			require.Equal(t, before, s.headPosition(t), "nothing appended")
		})
	}
}

func TestStrictJSONBodies(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	valid := `{"email":"x@example.com","name":"X","password":"` + goodPassword + `"}`
	tests := []struct {
		name   string
		body   string
		ctype  string
		status int
		code   string
	}{
		{"unknown field", `{"email":"x@example.com","name":"X","password":"` + goodPassword + `","admin":true}`, "application/json", 400, "unknown_field"},
		{"miscased field", `{"EMAIL":"x@example.com","name":"X","password":"` + goodPassword + `"}`, "application/json", 400, "unknown_field"},
		{"duplicate field", `{"email":"x@example.com","email":"y@example.com","name":"X","password":"` + goodPassword + `"}`, "application/json", 400, "duplicate_field"},
		{"duplicate field differing in case", `{"email":"x@example.com","Email":"y@example.com"}`, "application/json", 400, "duplicate_field"},
		{"trailing data", valid + `{}`, "application/json", 400, "invalid_json"},
		{"trailing garbage", valid + `x`, "application/json", 400, "invalid_json"},
		{"array instead of object", `[1,2]`, "application/json", 400, "invalid_json"},
		{"null", `null`, "application/json", 400, "invalid_json"},
		{"empty body", ``, "application/json", 400, "invalid_json"},
		{"truncated", `{"email":"x@`, "application/json", 400, "invalid_json"},
		{"wrong type", `{"email":1,"name":"X","password":"` + goodPassword + `"}`, "application/json", 400, "invalid_json"},
		{"deeply nested", `{"email":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, "application/json", 400, "invalid_json"},
		{"text/plain", valid, "text/plain", 415, "unsupported_media_type"},
		{"no content type", valid, "", 415, "unsupported_media_type"},
		{"latin-1 charset", valid, "application/json; charset=latin1", 415, "unsupported_media_type"},
		{"over 1 MiB", `{"email":"` + strings.Repeat("a", 1<<20) + `"}`, "application/json", 413, "payload_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := s.do(t, http.MethodPost, "/v1/users", tt.body, header("Content-Type", tt.ctype))
			r.problem(t, tt.status, tt.code)
		})
	}
	t.Run("charset utf-8 is fine", func(t *testing.T) {
		t.Parallel()
		r := s.do(t, http.MethodPost, "/v1/users", valid, header("Content-Type", "application/json; charset=UTF-8"))
		require.Equal(t, http.StatusCreated, r.Code, "body: %s", r.Body)
	})
	t.Run("wrong type names the field", func(t *testing.T) {
		t.Parallel()
		p := s.do(t, http.MethodPost, "/v1/users", `{"email":"a@example.com","name":["x"],"password":"x"}`).problem(t, 400, "invalid_json")
		require.Contains(t, p.Fields, "name")
	})
}

func TestLoginFailures(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	email := uniqueEmail("bob")
	s.register(t, email)

	wrong := s.do(t, http.MethodPost, "/v1/auth/login", map[string]string{"email": email, "password": "wrong password 123"}).
		problem(t, http.StatusUnauthorized, "invalid_credentials")
	require.Zero(t, s.passwords.dummyVerifies.Load(), "a known user is verified against their own hash")

	unknown := s.do(t, http.MethodPost, "/v1/auth/login", map[string]string{"email": uniqueEmail("nobody"), "password": goodPassword}).
		problem(t, http.StatusUnauthorized, "invalid_credentials")
	require.EqualValues(t, 1, s.passwords.dummyVerifies.Load(), "an unknown email is verified against the dummy hash")
	require.Equal(t, wrong.Detail, unknown.Detail, "the answer does not tell which was wrong")

	s.do(t, http.MethodPost, "/v1/auth/login", map[string]string{"email": "not an email", "password": goodPassword}).
		problem(t, http.StatusUnauthorized, "invalid_credentials")
	require.EqualValues(t, 2, s.passwords.dummyVerifies.Load())
}

func TestRefreshRotatesAndReuseRevokesTheFamily(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	email := uniqueEmail("carol")
	s.register(t, email)
	first := s.login(t, email)

	r := s.do(t, http.MethodPost, "/v1/auth/refresh", map[string]string{"refresh_token": first.RefreshToken})
	require.Equal(t, http.StatusOK, r.Code, "body: %s", r.Body)
	require.Equal(t, "no-store", r.Header.Get("Cache-Control"))
	var second tokensBody
	r.decode(t, &second)
	require.NotEqual(t, first.RefreshToken, second.RefreshToken)
	require.Equal(t, http.StatusOK, s.do(t, http.MethodGet, "/v1/users/me", nil, bearer(second.AccessToken)).Code)

	// The spent token again: the whole family is revoked, including the new one.
	s.do(t, http.MethodPost, "/v1/auth/refresh", map[string]string{"refresh_token": first.RefreshToken}).
		problem(t, http.StatusUnauthorized, "refresh_token_reused")
	s.do(t, http.MethodPost, "/v1/auth/refresh", map[string]string{"refresh_token": second.RefreshToken}).
		problem(t, http.StatusUnauthorized, "invalid_refresh_token")

	// Another session of the same user is unaffected.
	other := s.login(t, email)
	require.Equal(t, http.StatusOK, s.do(t, http.MethodPost, "/v1/auth/refresh", map[string]string{"refresh_token": other.RefreshToken}).Code)

	for _, bad := range []string{"garbage", strings.Repeat("A", 43), first.RefreshToken + "x"} {
		s.do(t, http.MethodPost, "/v1/auth/refresh", map[string]string{"refresh_token": bad}).
			problem(t, http.StatusUnauthorized, "invalid_refresh_token")
	}
	s.do(t, http.MethodPost, "/v1/auth/refresh", map[string]string{}).problem(t, http.StatusUnprocessableEntity, "invalid_input")
}

func TestLogout(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	email := uniqueEmail("dan")
	s.register(t, email)
	tok := s.login(t, email)
	kept := s.login(t, email)

	r := s.do(t, http.MethodPost, "/v1/auth/logout", nil, bearer(tok.AccessToken))
	require.Equal(t, http.StatusNoContent, r.Code, "body: %s", r.Body)
	require.Empty(t, r.Body)
	s.do(t, http.MethodPost, "/v1/auth/refresh", map[string]string{"refresh_token": tok.RefreshToken}).
		problem(t, http.StatusUnauthorized, "invalid_refresh_token")
	require.Equal(t, http.StatusOK, s.do(t, http.MethodPost, "/v1/auth/refresh", map[string]string{"refresh_token": kept.RefreshToken}).Code,
		"logout ends one session, not the others")

	s.do(t, http.MethodPost, "/v1/auth/logout", nil).problem(t, http.StatusUnauthorized, "authentication_required")
}

func TestPasswordsAndTokensNeverLogged(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	email := uniqueEmail("erin")
	const secret = "my very secret passphrase"
	r := s.do(t, http.MethodPost, "/v1/users", map[string]string{"email": email, "name": "Erin", "password": secret})
	require.Equal(t, http.StatusCreated, r.Code)
	s.do(t, http.MethodPost, "/v1/auth/login", map[string]string{"email": email, "password": secret + "x"})
	r = s.do(t, http.MethodPost, "/v1/auth/login", map[string]string{"email": email, "password": secret})
	var tok tokensBody
	r.decode(t, &tok)
	r = s.do(t, http.MethodPost, "/v1/auth/refresh", map[string]string{"refresh_token": tok.RefreshToken})
	var tok2 tokensBody
	r.decode(t, &tok2)
	s.do(t, http.MethodGet, "/v1/users/me", nil, bearer(tok2.AccessToken))
	s.do(t, http.MethodPost, "/v1/auth/refresh", map[string]string{"refresh_token": tok.RefreshToken}) // reuse
	s.do(t, http.MethodGet, "/v1/users/me?token="+tok2.AccessToken, nil, bearer(tok2.AccessToken+"x"))

	logs := s.logs.String()
	require.Contains(t, logs, `"route":"/v1/auth/login"`, "the requests were logged")
	require.Contains(t, logs, `"route":"/v1/users/me"`)
	for _, leak := range []string{secret, tok.AccessToken, tok.RefreshToken, tok2.AccessToken, tok2.RefreshToken, "argon2id"} {
		require.NotContains(t, logs, leak)
	}
}
