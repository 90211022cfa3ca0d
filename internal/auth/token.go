package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/user"
)

// Errors of authentication. The HTTP edge answers 401 to each of them.
var (
	// ErrInvalidToken: the access token is missing a claim, malformed, signed with
	// another key or algorithm, not yet valid, or expired.
	ErrInvalidToken = errors.New("auth: invalid access token")
	// ErrTokenExpired: the access token was valid but has expired (wraps ErrInvalidToken).
	ErrTokenExpired = fmt.Errorf("%w: expired", ErrInvalidToken)
	// ErrInvalidRefreshToken: the refresh token is unknown, expired or revoked.
	ErrInvalidRefreshToken = errors.New("auth: invalid refresh token")
	// ErrRefreshTokenReused: a spent refresh token was presented again; its whole family
	// has been revoked.
	ErrRefreshTokenReused = errors.New("auth: refresh token reused; the session was revoked")
)

// MaxTokenLen bounds the access tokens Authenticate looks at; ours are about 400 bytes.
const MaxTokenLen = 4096

// algorithm is the only signing algorithm issued and accepted.
const algorithm = "HS256"

// Claims are the claims of an access token.
type Claims struct {
	jwt.RegisteredClaims
	// Role is the user's role when the token was issued.
	Role string `json:"role"`
	// Family is the refresh-token family (the login session) the token belongs to.
	Family string `json:"fam"`
}

// Validate implements jwt.ClaimsValidator: the claims of our own that must be present
// and well formed, checked after the registered ones.
func (c *Claims) Validate() error {
	var errs []error
	if _, err := domain.ParseID(c.Subject); err != nil {
		errs = append(errs, errors.New("sub is not a user id"))
	}
	if _, err := user.ParseRole(c.Role); err != nil {
		errs = append(errs, errors.New("role is not a role"))
	}
	if _, err := uuid.Parse(c.Family); err != nil || len(c.Family) != 36 {
		errs = append(errs, errors.New("fam is not a family id"))
	}
	if c.ID == "" {
		errs = append(errs, errors.New("jti is missing"))
	}
	if c.IssuedAt == nil {
		errs = append(errs, errors.New("iat is missing"))
	}
	return errors.Join(errs...)
}

// Principal is an authenticated caller.
type Principal struct {
	UserID    domain.ID
	Role      user.Role
	Family    uuid.UUID
	TokenID   string
	ExpiresAt time.Time
}

// IsAdmin reports whether the caller has the admin role.
func (p Principal) IsAdmin() bool { return p.Role == user.RoleAdmin }

// Tokens issues and checks access tokens. It is safe for concurrent use.
type Tokens struct {
	cfg    Config
	now    func() time.Time
	parser *jwt.Parser
}

// NewTokens returns Tokens for cfg; now is the clock (time.Now when nil).
func NewTokens(cfg Config, now func() time.Time) (*Tokens, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &Tokens{
		cfg: cfg,
		now: now,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{algorithm}),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithNotBeforeRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithTimeFunc(now),
			jwt.WithStrictDecoding(),
		),
	}, nil
}

// TTL returns the lifetime of access tokens.
func (t *Tokens) TTL() time.Duration { return t.cfg.AccessTTL }

// Issue signs an access token for a user in a refresh family and returns it with its
// expiry.
func (t *Tokens) Issue(userID domain.ID, role user.Role, family uuid.UUID) (string, time.Time, error) {
	now := t.now().UTC().Truncate(time.Second)
	exp := now.Add(t.cfg.AccessTTL)
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.cfg.Issuer,
			Subject:   userID.String(),
			Audience:  jwt.ClaimStrings{t.cfg.Audience},
			ExpiresAt: jwt.NewNumericDate(exp),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        uuid.Must(uuid.NewV7()).String(),
		},
		Role:   string(role),
		Family: family.String(),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, &claims).SignedString(t.cfg.Secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign access token: %w", err)
	}
	return s, exp, nil
}

// Authenticate checks an access token (without the "Bearer " prefix) and returns its
// caller. Every failure wraps ErrInvalidToken (ErrTokenExpired for an expired token).
func (t *Tokens) Authenticate(token string) (Principal, error) {
	if token == "" || len(token) > MaxTokenLen {
		return Principal{}, fmt.Errorf("%w: empty or longer than %d bytes", ErrInvalidToken, MaxTokenLen)
	}
	var c Claims
	if _, err := t.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.cfg.Secret, nil }); err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Principal{}, ErrTokenExpired
		}
		return Principal{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	// Validate already checked these parse.
	id, _ := domain.ParseID(c.Subject)
	fam, _ := uuid.Parse(c.Family)
	return Principal{UserID: id, Role: user.Role(c.Role), Family: fam, TokenID: c.ID, ExpiresAt: c.ExpiresAt.Time}, nil
}
