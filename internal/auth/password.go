package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// PasswordParams are the argon2id cost parameters of new hashes. Existing hashes keep
// the parameters written in their PHC string.
type PasswordParams struct {
	// MemoryKiB is the memory per hash in KiB (m).
	MemoryKiB uint32
	// Time is the number of passes (t).
	Time uint32
	// Threads is the parallelism (p).
	Threads uint8
	// MaxConcurrent bounds how many hashes run at once in this process, so that a burst
	// of logins cannot take MemoryKiB × requests of memory (0: 4 × GOMAXPROCS).
	MaxConcurrent int
}

// DefaultPasswordParams are OWASP's recommended argon2id parameters: m=19456 KiB (19 MiB),
// t=2, p=1.
func DefaultPasswordParams() PasswordParams {
	return PasswordParams{MemoryKiB: 19456, Time: 2, Threads: 1}
}

// Bounds of accepted parameters, for configuration and for hashes read back (a corrupt
// or hostile PHC string must not make verification allocate gigabytes).
const (
	maxMemoryKiB = 1 << 21 // 2 GiB
	maxTime      = 100
	saltLen      = 16
	keyLen       = 32
	maxPHCLen    = 512
)

// Validate reports every problem with the parameters.
func (p PasswordParams) Validate() error {
	var errs []error
	if p.Threads < 1 {
		errs = append(errs, errors.New("ORDO_ARGON2_THREADS: must be at least 1"))
	}
	if p.MemoryKiB < 8*uint32(max(p.Threads, 1)) || p.MemoryKiB > maxMemoryKiB {
		errs = append(errs, fmt.Errorf("ORDO_ARGON2_MEMORY_KIB %d: must be between 8×threads and %d", p.MemoryKiB, maxMemoryKiB))
	}
	if p.Time < 1 || p.Time > maxTime {
		errs = append(errs, fmt.Errorf("ORDO_ARGON2_TIME %d: must be between 1 and %d", p.Time, maxTime))
	}
	if p.MaxConcurrent < 0 {
		errs = append(errs, errors.New("argon2 concurrency must not be negative"))
	}
	return errors.Join(errs...)
}

// ErrMalformedHash is returned (wrapped) by Verify for a stored hash that is not an
// argon2id PHC string this package can read.
var ErrMalformedHash = errors.New("auth: malformed password hash")

// Hasher hashes and verifies passwords with argon2id. It is safe for concurrent use.
type Hasher struct {
	params PasswordParams
	slots  chan struct{}
	dummy  string
}

// NewHasher returns a Hasher that writes hashes with params. It computes the dummy hash
// once, with the same parameters.
func NewHasher(params PasswordParams) (*Hasher, error) {
	if err := params.Validate(); err != nil {
		return nil, err
	}
	n := params.MaxConcurrent
	if n == 0 {
		n = 4 * runtime.GOMAXPROCS(0)
	}
	h := &Hasher{params: params, slots: make(chan struct{}, n)}
	var pw [24]byte
	_, _ = rand.Read(pw[:])
	dummy, err := h.Hash(context.Background(), base64.RawURLEncoding.EncodeToString(pw[:]))
	if err != nil {
		return nil, err
	}
	h.dummy = dummy
	return h, nil
}

// Params returns the parameters of new hashes.
func (h *Hasher) Params() PasswordParams { return h.params }

// Hash returns the PHC string of password with a fresh random salt:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (unpadded standard base64).
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, h.params.Time, h.params.MemoryKiB, h.params.Threads, keyLen)
	h.release()
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		h.params.MemoryKiB, h.params.Time, h.params.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches the PHC string encoded, comparing in
// constant time. A malformed hash is an error, never a match.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (bool, error) {
	p, salt, want, err := parsePHC(encoded)
	if err != nil {
		return false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	h.release()
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// Dummy returns a hash of a random password made with the current parameters. Verifying
// against it when a login names an unknown user costs what a real verification costs.
func (h *Hasher) Dummy() string { return h.dummy }

// NeedsRehash reports whether encoded was made with other parameters than the current
// ones (or cannot be read), so that a successful login may store a fresh hash.
func (h *Hasher) NeedsRehash(encoded string) bool {
	p, _, _, err := parsePHC(encoded)
	return err != nil || p.MemoryKiB != h.params.MemoryKiB || p.Time != h.params.Time || p.Threads != h.params.Threads
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.slots }

// parsePHC reads $argon2id$v=19$m=M,t=T,p=P$salt$hash, within the package's bounds.
func parsePHC(s string) (PasswordParams, []byte, []byte, error) {
	bad := func(why string) (PasswordParams, []byte, []byte, error) {
		return PasswordParams{}, nil, nil, fmt.Errorf("%w: %s", ErrMalformedHash, why)
	}
	if len(s) > maxPHCLen {
		return bad("too long")
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return bad("want $argon2id$v=19$m=...,t=...,p=...$salt$hash")
	}
	if parts[1] != "argon2id" {
		return bad("algorithm is not argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("unsupported argon2 version")
	}
	var p PasswordParams
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return bad("want m=...,t=...,p=...")
	}
	for i, name := range []string{"m", "t", "p"} {
		k, v, ok := strings.Cut(kv[i], "=")
		if !ok || k != name {
			return bad("want m=...,t=...,p=...")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return bad("parameter " + name + " is not a number")
		}
		switch name {
		case "m":
			p.MemoryKiB = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return bad("parallelism out of range")
			}
			p.Threads = uint8(n)
		}
	}
	if p.Threads < 1 || p.Time < 1 || p.Time > maxTime || p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxMemoryKiB {
		return bad("parameters out of range")
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return bad("salt")
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return bad("hash")
	}
	return p, salt, key, nil
}
