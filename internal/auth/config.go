package auth

import (
	"errors"
	"fmt"
	"time"
)

// Config configures tokens.
type Config struct {
	// Secret is the HS256 key of access tokens: at least 32 bytes (ORDO_JWT_SECRET).
	// Every replica of the API needs the same one.
	Secret []byte
	// Issuer is the iss claim written and required ("ordo").
	Issuer string
	// Audience is the aud claim written and required ("ordo-api").
	Audience string
	// AccessTTL is the lifetime of access tokens (15 minutes).
	AccessTTL time.Duration
	// RefreshTTL is the lifetime of a refresh token (30 days); every refresh issues a new
	// one with a full lifetime.
	RefreshTTL time.Duration
	// Leeway is the clock skew tolerated on exp, nbf and iat (30 seconds).
	Leeway time.Duration
}

// MinSecretLen is the shortest accepted HS256 secret: 256 bits, the size of the MAC.
const MinSecretLen = 32

// DefaultConfig returns the defaults, without a secret.
func DefaultConfig() Config {
	return Config{
		Issuer:     "ordo",
		Audience:   "ordo-api",
		AccessTTL:  15 * time.Minute,
		RefreshTTL: 30 * 24 * time.Hour,
		Leeway:     30 * time.Second,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	switch {
	case len(c.Secret) == 0:
		errs = append(errs, fmt.Errorf("ORDO_JWT_SECRET: required (at least %d bytes; for example `head -c 48 /dev/urandom | base64`)", MinSecretLen))
	case len(c.Secret) < MinSecretLen:
		errs = append(errs, fmt.Errorf("ORDO_JWT_SECRET: too short (%d bytes, want at least %d)", len(c.Secret), MinSecretLen))
	}
	if c.Issuer == "" || c.Audience == "" {
		errs = append(errs, errors.New("jwt issuer and audience must be set"))
	}
	if c.AccessTTL < time.Minute || c.AccessTTL > 24*time.Hour {
		errs = append(errs, fmt.Errorf("ORDO_ACCESS_TOKEN_TTL %s: want between 1m and 24h", c.AccessTTL))
	}
	if c.RefreshTTL < c.AccessTTL {
		errs = append(errs, fmt.Errorf("ORDO_REFRESH_TOKEN_TTL %s: must be at least the access token lifetime %s", c.RefreshTTL, c.AccessTTL))
	}
	if c.Leeway < 0 || c.Leeway > 5*time.Minute {
		errs = append(errs, fmt.Errorf("jwt leeway %s: want between 0 and 5m", c.Leeway))
	}
	return errors.Join(errs...)
}
