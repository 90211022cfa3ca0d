package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/internal/ratelimit"
)

// Secrets never reach the logs. A server wired like `ordo serve`, logging JSON at debug
// level into a buffer, goes through every path that handles a secret, successful and
// failing: registration, logins (right and wrong password, unknown address, malformed
// bodies carrying the password), refreshes (rotation, reuse that revokes the family,
// garbage), logout, authenticated calls, a token in a query string, the notifications
// WebSocket with its access_token parameter, broken Authorization headers, and requests
// cut off by the rate limiter. Then the logs must hold none of the passwords, access or
// refresh tokens (nor any segment of a token: a truncated one would still leak), nor
// any Authorization header value, nor a password hash, nor the signing key. Password
// changes (wrong current password, weak new one, the change, a login with the new one)
// run too when the router has POST /v1/users/me/password.
func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	s := newFullServer(t, fullOpts{})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)

	var leaks []string
	secret := func(v string) string { leaks = append(leaks, v); return v }
	tokens := func(tb tokensBody) tokensBody {
		secret(tb.RefreshToken)
		secret(tb.AccessToken)
		for _, seg := range strings.Split(tb.AccessToken, ".")[1:] {
			secret(seg) // the payload and the signature
		}
		return tb
	}

	email := uniqueEmail("secret")
	password := secret("Tr0ub4dor&3-is-the-secret-passphrase")
	wrong := secret("a-wrong-but-plausible-passphrase-42")
	res := s.do(t, http.MethodPost, "/v1/users", map[string]string{"email": email, "name": "Sam", "password": password})
	require.Equal(t, http.StatusCreated, res.Code, "%s", res.Body)
	// Registration refused (weak, and with the e-mail taken): the password is in a
	// refused body.
	s.do(t, http.MethodPost, "/v1/users", map[string]string{"email": email, "name": "Sam", "password": secret("short-pw-leak")})
	s.do(t, http.MethodPost, "/v1/users", map[string]string{"email": email, "name": "Sam", "password": secret("another-long-enough-passphrase-xyz")})

	login := func(pw string) response {
		return s.do(t, http.MethodPost, "/v1/auth/login", map[string]string{"email": email, "password": pw})
	}
	login(wrong).problem(t, http.StatusUnauthorized, "invalid_credentials")
	s.do(t, http.MethodPost, "/v1/auth/login", map[string]string{"email": "nobody-" + email, "password": wrong})
	// Malformed bodies that carry the password: an unknown member, a wrong type, a syntax
	// error right after it, a duplicate key, invalid UTF-8 beside it.
	for _, body := range []string{
		`{"email":"` + email + `","password":"` + password + `","role":"admin"}`,
		`{"email":["` + email + `"],"password":"` + password + `"}`,
		`{"email":"` + email + `","password":"` + password + `",}`,
		`{"email":"` + email + `","password":"` + password + `","password":"` + password + `"}`,
		`{"email":"` + email + "\xff" + `","password":"` + password + `"}`,
		`{"email":"` + email + `","password":` + password + `}`,
	} {
		r := s.do(t, http.MethodPost, "/v1/auth/login", body)
		require.GreaterOrEqual(t, r.Code, 400, "%s", r.Body)
		require.NotContains(t, string(r.Body), password, "the problem document echoes the password")
	}
	res = login(password)
	require.Equal(t, http.StatusOK, res.Code, "%s", res.Body)
	var first tokensBody
	res.decode(t, &first)
	tokens(first)

	refresh := func(rt string) response {
		return s.do(t, http.MethodPost, "/v1/auth/refresh", map[string]string{"refresh_token": rt})
	}
	res = refresh(first.RefreshToken)
	require.Equal(t, http.StatusOK, res.Code, "%s", res.Body)
	var second tokensBody
	res.decode(t, &second)
	tokens(second)
	refresh(first.RefreshToken).problem(t, http.StatusUnauthorized, "refresh_token_reused")
	refresh(second.RefreshToken).problem(t, http.StatusUnauthorized, "invalid_refresh_token")
	refresh(secret(strings.Repeat("Q", 43))).problem(t, http.StatusUnauthorized, "invalid_refresh_token")
	s.do(t, http.MethodPost, "/v1/auth/refresh", `{"refresh_token":"`+second.RefreshToken+`","x":1}`)

	// A new session to use and end.
	res = login(password)
	var third tokensBody
	res.decode(t, &third)
	tokens(third)
	for _, p := range []string{"/v1/users/me", "/v1/orders", "/v1/products"} {
		s.do(t, http.MethodGet, p, nil, bearer(third.AccessToken))
	}
	s.do(t, http.MethodGet, "/v1/users/me?access_token="+url.QueryEscape(third.AccessToken)+"&refresh_token="+third.RefreshToken, nil)
	// Broken Authorization headers: each value is a secret of the caller's.
	for _, h := range []string{
		"Bearer " + third.AccessToken + "x",
		"Bearer " + secret("junk-token-value-0123456789"),
		"Basic " + secret("c2FtOlRyMHViNGRvciYz"),
		secret("bare-credential-without-a-scheme"),
		"Bearer " + first.AccessToken[:len(first.AccessToken)-4] + secret("ABCD"),
	} {
		secret(h)
		s.do(t, http.MethodGet, "/v1/users/me", nil, header("Authorization", h)).problem(t, http.StatusUnauthorized, "invalid_token")
	}

	// The notifications WebSocket, with the token in the header and in the query.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws := "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/notifications/ws"
	c, _, err := websocket.Dial(ctx, ws+"?access_token="+url.QueryEscape(third.AccessToken), nil)
	require.NoError(t, err)
	_ = c.Close(websocket.StatusNormalClosure, "bye")
	c, _, err = websocket.Dial(ctx, ws, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + third.AccessToken}}})
	require.NoError(t, err)
	_ = c.Close(websocket.StatusNormalClosure, "bye")
	_, _, err = websocket.Dial(ctx, ws+"?access_token="+secret("forged.token.value"), nil)
	require.Error(t, err)

	// Password changes: a wrong current password, a weak new one, then the change, and a
	// login with the new password. (Run when the router has the route.)
	if slices.Contains(routeKeys(s.Server), "POST /v1/users/me/password") {
		change := func(current, next string) response {
			return s.do(t, http.MethodPost, "/v1/users/me/password",
				map[string]string{"current_password": current, "new_password": next}, bearer(third.AccessToken))
		}
		res = change(secret("not-the-current-passphrase-at-all"), secret("a-perfectly-good-new-passphrase-1"))
		require.GreaterOrEqual(t, res.Code, 400, "%s", res.Body)
		res = change(password, secret("weak"))
		require.GreaterOrEqual(t, res.Code, 400, "%s", res.Body)
		newPassword := secret("the-new-secret-passphrase-after-change")
		res = change(password, newPassword)
		require.Less(t, res.Code, 300, "%s", res.Body)
		login(password).problem(t, http.StatusUnauthorized, "invalid_credentials")
		res = login(newPassword)
		require.Equal(t, http.StatusOK, res.Code, "%s", res.Body)
		var fourth tokensBody
		res.decode(t, &fourth)
		tokens(fourth)
		require.Contains(t, s.logs.String(), `"route":"/v1/users/me/password"`)
	} else {
		t.Log("no password change route: not exercised")
	}

	require.Equal(t, http.StatusNoContent, s.do(t, http.MethodPost, "/v1/auth/logout", nil, bearer(third.AccessToken)).Code)
	refresh(third.RefreshToken).problem(t, http.StatusUnauthorized, "invalid_refresh_token")

	// The failures of the rate limiter log too.
	limited := newFullServer(t, fullOpts{configure: limited(rateLimitTight())})
	for range 5 {
		limited.do(t, http.MethodPost, "/v1/auth/login", map[string]string{"email": email, "password": password})
		limited.do(t, http.MethodGet, "/v1/users/me", nil, bearer(third.AccessToken))
	}
	require.Contains(t, limited.logs.String(), `"status":429`)

	secret(string(testSecret))
	logs := s.logs.String() + limited.logs.String()
	require.Contains(t, logs, `"route":"/v1/auth/login"`, "the requests were logged")
	require.Contains(t, logs, `"route":"/v1/auth/refresh"`)
	require.Contains(t, logs, `"route":"/v1/notifications/ws"`)
	for _, leak := range leaks {
		require.NotContains(t, logs, leak, "a secret is in the logs")
		// JSON logs escape some characters (&, <, >): look for the escaped form too.
		j, _ := json.Marshal(leak)
		require.NotContains(t, logs, strings.Trim(string(j), `"`), "a secret is in the logs (JSON-escaped)")
	}
	require.NotContains(t, logs, "$argon2id$", "a password hash is in the logs")
	require.NotContains(t, logs, "Bearer", "an Authorization header value is in the logs")
}

// rateLimitTight are buckets that a handful of requests empty.
func rateLimitTight() ratelimit.Config {
	return ratelimit.Config{
		User: ratelimit.Bucket{Rate: 0.1, Burst: 2},
		IP:   ratelimit.Bucket{Rate: 0.1, Burst: 2},
		Auth: ratelimit.Bucket{Rate: 0.1, Burst: 2},
	}
}
