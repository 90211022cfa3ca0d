package api_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/app"
	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/user"
	"github.com/ordo-platform/ordo/eventstore"
)

// The JWT attack suite, beyond the forgeries of TestJWTAttacks (security_test.go: alg
// none, HS512, RS256, another key, tampering, expiry, nbf/iat, iss/aud, missing claims):
// every spelling of "none", every other algorithm family, algorithm confusion (HMAC
// keyed with an attacker's public key or with guessable values), key-selection headers
// (jwk, jku, kid, x5u), claim type confusion, the leeway's edges, privilege escalation
// on a genuine customer token, and what happens to the tokens of a user whose role
// changes or who logs out. Each refused token gets 401 invalid_token and changes
// nothing, on a command only an admin may run.

// rawJWT assembles a token from a header and claims (as given, no library checks) and
// signs its input with sign (nil: an empty signature).
func rawJWT(t *testing.T, header map[string]any, claims any, sign func(input []byte) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	require.NoError(t, err)
	c, ok := claims.([]byte)
	if !ok {
		c, err = json.Marshal(claims)
		require.NoError(t, err)
	}
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	var sig []byte
	if sign != nil {
		sig = sign([]byte(input))
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func hmacWith(key []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write(in)
		return m.Sum(nil)
	}
}

func TestJWTAttackSuite(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	adminID := uuid.NewString()
	claims := func(mod ...func(jwt.MapClaims)) jwt.MapClaims {
		c := validClaims(adminID, "admin")
		for _, m := range mod {
			m(c)
		}
		return c
	}
	hs := map[string]any{"alg": "HS256", "typ": "JWT"}
	with := func(h map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range h {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ec384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	rsaPub, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	require.NoError(t, err)
	rsaPubPEM := "-----BEGIN PUBLIC KEY-----\n" + base64.StdEncoding.EncodeToString(rsaPub) + "\n-----END PUBLIC KEY-----\n"
	jwk := map[string]any{"kty": "RSA", "n": base64.RawURLEncoding.EncodeToString(rsaKey.N.Bytes()), "e": "AQAB"}
	lib := func(m jwt.SigningMethod, key any, c jwt.MapClaims, header ...any) string {
		tok := jwt.NewWithClaims(m, c)
		for i := 0; i < len(header); i += 2 {
			tok.Header[header[i].(string)] = header[i+1]
		}
		out, err := tok.SignedString(key)
		require.NoError(t, err)
		return out
	}
	good := rawJWT(t, hs, claims(), hmacWith(testSecret))
	require.Equal(t, http.StatusCreated, s.do(t, http.MethodPost, "/v1/products",
		map[string]any{"sku": "JWT-OK", "name": "x", "price_cents": 1, "currency": "EUR"}, bearer(good)).Code,
		"the suite's own forging is right: correctly signed, the token works")

	// A genuine customer token, escalated by editing its payload.
	customerToken, _ := s.customer(t)
	parts := strings.Split(customerToken, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var cc map[string]any
	require.NoError(t, json.Unmarshal(payload, &cc))
	cc["role"] = "admin"
	escalated, err := json.Marshal(cc)
	require.NoError(t, err)
	dupRole := []byte(strings.Replace(string(payload), `"role":"customer"`, `"role":"customer","role":"admin"`, 1))
	require.NotEqual(t, payload, dupRole)

	attacks := []struct{ name, token string }{
		// "none" in every spelling, with and without a signature.
		{"alg none", rawJWT(t, with(hs, "alg", "none"), claims(), nil)},
		{"alg None", rawJWT(t, with(hs, "alg", "None"), claims(), nil)},
		{"alg NONE", rawJWT(t, with(hs, "alg", "NONE"), claims(), nil)},
		{"alg nOnE", rawJWT(t, with(hs, "alg", "nOnE"), claims(), nil)},
		{"alg none with the right HMAC", rawJWT(t, with(hs, "alg", "none"), claims(), hmacWith(testSecret))},
		{"alg empty", rawJWT(t, with(hs, "alg", ""), claims(), hmacWith(testSecret))},
		{"alg missing", rawJWT(t, map[string]any{"typ": "JWT"}, claims(), hmacWith(testSecret))},
		{"alg not a string", rawJWT(t, with(hs, "alg", []string{"HS256"}), claims(), hmacWith(testSecret))},
		{"alg hs256 lower case", rawJWT(t, with(hs, "alg", "hs256"), claims(), hmacWith(testSecret))},
		// Other algorithms, each with a key of its own kind.
		{"HS384 with the right key", lib(jwt.SigningMethodHS384, testSecret, claims())},
		{"RS512", lib(jwt.SigningMethodRS512, rsaKey, claims())},
		{"PS256", lib(jwt.SigningMethodPS256, rsaKey, claims())},
		{"ES256", lib(jwt.SigningMethodES256, ecKey, claims())},
		{"ES384", lib(jwt.SigningMethodES384, ec384, claims())},
		{"EdDSA", lib(jwt.SigningMethodEdDSA, edKey, claims())},
		// Algorithm confusion: HMAC keyed with a public key, or with what an attacker
		// could guess.
		{"HS256 keyed with an RSA public key (PEM)", rawJWT(t, hs, claims(), hmacWith([]byte(rsaPubPEM)))},
		{"HS256 keyed with an RSA public key (DER)", rawJWT(t, hs, claims(), hmacWith(rsaPub))},
		{"HS256 with an empty key", rawJWT(t, hs, claims(), hmacWith(nil))},
		{"HS256 keyed with the issuer", rawJWT(t, hs, claims(), hmacWith([]byte("ordo")))},
		{"HS256 keyed with the audience", rawJWT(t, hs, claims(), hmacWith([]byte("ordo-api")))},
		{"HS256 keyed with the base64 of the secret", rawJWT(t, hs, claims(), hmacWith([]byte(base64.StdEncoding.EncodeToString(testSecret))))},
		{"HS256 keyed with a truncated secret", rawJWT(t, hs, claims(), hmacWith(testSecret[:16]))},
		// Key-selection headers pointing at the attacker's key.
		{"embedded jwk, RS256", lib(jwt.SigningMethodRS256, rsaKey, claims(), "jwk", jwk)},
		{"embedded jwk, HS256 with its modulus", rawJWT(t, with(hs, "jwk", jwk), claims(), hmacWith(rsaKey.N.Bytes()))},
		{"jku", lib(jwt.SigningMethodRS256, rsaKey, claims(), "jku", "http://127.0.0.1:1/jwks.json")},
		{"x5u", lib(jwt.SigningMethodRS256, rsaKey, claims(), "x5u", "http://127.0.0.1:1/cert.pem")},
		{"kid path traversal, empty key", rawJWT(t, with(hs, "kid", "../../../../dev/null"), claims(), hmacWith(nil))},
		{"kid SQL injection", rawJWT(t, with(hs, "kid", "x' UNION SELECT 'key'--"), claims(), hmacWith([]byte("key")))},
		// Claim type confusion, correctly signed. (A number in a string, "exp":"1700000000",
		// is read as the number by golang-jwt; only the key's holder can sign one, so it is
		// not an attack and not listed.)
		{"exp as an object", rawJWT(t, hs, claims(func(c jwt.MapClaims) { c["exp"] = map[string]any{"$gt": 0} }), hmacWith(testSecret))},
		{"nbf not a number", rawJWT(t, hs, claims(func(c jwt.MapClaims) { c["nbf"] = "yesterday" }), hmacWith(testSecret))},
		{"role as an array", rawJWT(t, hs, claims(func(c jwt.MapClaims) { c["role"] = []string{"admin"} }), hmacWith(testSecret))},
		{"role in another case", rawJWT(t, hs, claims(func(c jwt.MapClaims) { c["role"] = "Admin" }), hmacWith(testSecret))},
		{"sub as a number", rawJWT(t, hs, claims(func(c jwt.MapClaims) { c["sub"] = 42 }), hmacWith(testSecret))},
		{"sub the nil uuid in braces", rawJWT(t, hs, claims(func(c jwt.MapClaims) { c["sub"] = "{" + adminID + "}" }), hmacWith(testSecret))},
		{"aud among others but as an object", rawJWT(t, hs, claims(func(c jwt.MapClaims) { c["aud"] = map[string]any{"0": "ordo-api"} }), hmacWith(testSecret))},
		{"payload not JSON", rawJWT(t, hs, []byte("role=admin"), hmacWith(testSecret))},
		{"payload an array", rawJWT(t, hs, []byte(`[{"role":"admin"}]`), hmacWith(testSecret))},
		// The leeway (30 s) is not a door: well past it, refused.
		{"expired 90 s ago", rawJWT(t, hs, claims(func(c jwt.MapClaims) {
			c["exp"] = time.Now().Add(-90 * time.Second).Unix()
			c["iat"], c["nbf"] = time.Now().Add(-time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
		}), hmacWith(testSecret))},
		{"nbf in 90 s", rawJWT(t, hs, claims(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(90 * time.Second).Unix() }), hmacWith(testSecret))},
		// Escalation of a genuine customer token.
		{"customer token with role admin, original signature", parts[0] + "." + base64.RawURLEncoding.EncodeToString(escalated) + "." + parts[2]},
		{"customer token with a duplicate role member", parts[0] + "." + base64.RawURLEncoding.EncodeToString(dupRole) + "." + parts[2]},
		{"customer token with a padded signature", customerToken + "=="},
		{"customer token, signature in standard base64", parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[2]) + "+"},
		{"customer token with a fourth segment", customerToken + ".e30"},
	}
	// Not parallel: a parallel subtest may wait for a free slot longer than the leeway, and
	// "nbf in 90 s", minted above, would then be valid by the time it runs.
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			before := s.headPosition(t)
			r := s.do(t, http.MethodPost, "/v1/products", map[string]any{"sku": "HACK-" + uuid.NewString()[:8], "name": "x", "price_cents": 1, "currency": "EUR"},
				bearer(a.token))
			code := "invalid_token"
			if strings.HasPrefix(a.name, "expired") {
				code = "token_expired"
			}
			r.problem(t, http.StatusUnauthorized, code)
			require.Equal(t, before, s.headPosition(t), "nothing appended")
		})
	}

	t.Run("inside the leeway", func(t *testing.T) {
		// It appends: it runs after the attacks, which check that nothing is appended.
		// 30 s of clock skew are tolerated on exp and nbf (with a 10 s margin here).
		for _, tok := range []string{
			rawJWT(t, hs, claims(func(c jwt.MapClaims) {
				c["exp"] = time.Now().Add(-20 * time.Second).Unix()
				c["iat"], c["nbf"] = time.Now().Add(-time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
			}), hmacWith(testSecret)),
			rawJWT(t, hs, claims(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(20 * time.Second).Unix() }), hmacWith(testSecret)),
		} {
			r := s.do(t, http.MethodPost, "/v1/products", map[string]any{"sku": "LEEWAY-" + uuid.NewString()[:8], "name": "x", "price_cents": 1, "currency": "EUR"},
				bearer(tok))
			require.Equal(t, http.StatusCreated, r.Code, "%s", r.Body)
		}
	})
}

// changeRole appends user.role_changed as an admin's command would (POST
// /v1/users/{id}/role is tested in users_change_test.go).
func (s *testServer) changeRole(t *testing.T, userID string, role user.Role) {
	t.Helper()
	id := domain.MustParseID(userID)
	by := domain.ID(uuid.New())
	_, _, err := app.Execute(context.Background(), s.env, app.Command[*user.User]{
		Stream: eventstore.Stream{Type: user.StreamType, ID: user.StreamID(id)},
		New:    func() *user.User { return &user.User{} },
		Decide: func(u *user.User) ([]domain.Event, error) {
			return u.DecideChangeRole(user.ChangeRole{Role: role, ChangedBy: by, ActorRole: user.RoleAdmin})
		},
		Meta: eventstore.Metadata{CorrelationID: uuid.New(), CausationID: uuid.New(), Actor: "test"},
	})
	require.NoError(t, err)
}

// TestTokensOfAUserWhoseRoleChanged: access tokens are stateless, so a role change
// reaches the caller's tokens at the next refresh, and an access token lives at most
// its 15 minutes: a demoted admin keeps admin rights that long at most, and a refresh
// returns a token with the new role that the admin routes refuse. Promotion works the
// same way. A logged-out session cannot be refreshed into a new token.
func TestTokensOfAUserWhoseRoleChanged(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	email := uniqueEmail("demoted")
	u := s.register(t, email)
	s.changeRole(t, u.ID, user.RoleAdmin)
	tok := s.login(t, email)
	adminRoute := func(access string) int {
		return s.do(t, http.MethodGet, "/v1/streams/user-"+u.ID+"/events", nil, bearer(access)).Code
	}
	require.Equal(t, http.StatusOK, adminRoute(tok.AccessToken))
	var c jwt.RegisteredClaims
	_, _, err := jwt.NewParser().ParseUnverified(tok.AccessToken, &c)
	require.NoError(t, err)
	require.LessOrEqual(t, c.ExpiresAt.Sub(c.IssuedAt.Time), 15*time.Minute, "an access token outlives a role change by at most 15 minutes")

	s.changeRole(t, u.ID, user.RoleCustomer)
	r := s.do(t, http.MethodPost, "/v1/auth/refresh", map[string]string{"refresh_token": tok.RefreshToken})
	require.Equal(t, http.StatusOK, r.Code, "%s", r.Body)
	var demoted tokensBody
	r.decode(t, &demoted)
	s.do(t, http.MethodGet, "/v1/streams/user-"+u.ID+"/events", nil, bearer(demoted.AccessToken)).
		problem(t, http.StatusForbidden, "admin_required")
	var me userBody
	s.do(t, http.MethodGet, "/v1/users/me", nil, bearer(demoted.AccessToken)).decode(t, &me)
	require.Equal(t, "customer", me.Role)

	// Promotion: the customer token stays a customer's until refreshed.
	s.changeRole(t, u.ID, user.RoleAdmin)
	require.Equal(t, http.StatusForbidden, adminRoute(demoted.AccessToken))
	r = s.do(t, http.MethodPost, "/v1/auth/refresh", map[string]string{"refresh_token": demoted.RefreshToken})
	var promoted tokensBody
	r.decode(t, &promoted)
	require.Equal(t, http.StatusOK, adminRoute(promoted.AccessToken))

	// Logged out: the refresh token is dead, and so is every older one of the family.
	require.Equal(t, http.StatusNoContent, s.do(t, http.MethodPost, "/v1/auth/logout", nil, bearer(promoted.AccessToken)).Code)
	for _, rt := range []string{promoted.RefreshToken, demoted.RefreshToken, tok.RefreshToken} {
		res := s.do(t, http.MethodPost, "/v1/auth/refresh", map[string]string{"refresh_token": rt})
		require.Equal(t, http.StatusUnauthorized, res.Code, "%s", res.Body)
	}
}
