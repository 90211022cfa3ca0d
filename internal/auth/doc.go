// Package auth authenticates Ordo's API callers: argon2id password hashes, short-lived
// HS256 access tokens (JWT) and opaque, rotating refresh tokens stored hashed in
// Postgres.
//
// # Access tokens
//
// An access token is a JWT signed with HS256 and nothing else: the parser pins the
// algorithm, so "alg":"none" and RS256/HS512 confusion are refused before the signature
// is looked at. Every token carries and must carry iss ("ordo"), aud ("ordo-api"), exp,
// nbf, iat, jti, sub (the user id), role and fam (the refresh family it belongs to). It
// lives 15 minutes and is never stored: a replica checks it with the shared secret
// alone. The role is the role at issue time, so a role change takes effect at the next
// refresh, at most 15 minutes later. Logout revokes the refresh family; an access token
// already issued stays valid until it expires.
//
// # Refresh tokens
//
// A refresh token is 32 random bytes (base64url), stored only as its SHA-256 hash, and
// belongs to a family started by one login. Every use spends it (an atomic UPDATE ...
// WHERE used_at IS NULL) and returns a new one in the same family. Presenting a spent
// token again means it was stolen or replayed: the whole family is revoked, so both the
// thief and the user must log in again.
//
// # Passwords
//
// Passwords are hashed with argon2id (OWASP parameters by default) into PHC strings and
// checked in constant time. A login for an unknown e-mail is verified against a dummy
// hash made with the same parameters, so it takes as long as a wrong password.
package auth
