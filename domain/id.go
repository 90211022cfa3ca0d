package domain

import "fmt"

// ID identifies an aggregate instance: a UUID held as its 16 bytes.
//
// It has the same underlying type as github.com/google/uuid.UUID, so code
// outside the domain converts either way without copying or parsing:
// domain.ID(u) and uuid.UUID(id). The domain itself never generates ids (that
// needs randomness and a clock); handlers pass them in, UUIDv7 by convention.
// The zero ID is "no id" and every command rejects it.
type ID [16]byte

// ParseID parses the canonical 36-character UUID text form
// (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx), in either letter case. Other forms
// (braces, "urn:uuid:", no hyphens) are rejected so that every id has exactly
// one spelling on the wire.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return ID{}, invalidID(s)
	}
	// Every consumer parses the ids of every event it reads: one table lookup per
	// digit, and one check for all 32 of them at the end.
	var bad byte
	for j, i := range idDigits {
		hi, lo := hexValue[s[i]], hexValue[s[i+1]]
		bad |= hi | lo
		id[j] = hi<<4 | lo&0x0f
	}
	if bad&0xf0 != 0 {
		return ID{}, invalidID(s)
	}
	return id, nil
}

// idDigits is where each byte's two hex digits start in the text form.
var idDigits = [16]int{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// hexValue maps a hex digit (either case) to its value and every other byte to 0xff.
var hexValue = func() (t [256]byte) {
	for c := range t {
		if v, ok := fromHex(byte(c)); ok {
			t[c] = v
		} else {
			t[c] = 0xff
		}
	}
	return t
}()

// MustParseID is ParseID for constants in tests and fixtures; it panics on
// bad input.
func MustParseID(s string) ID {
	id, err := ParseID(s)
	if err != nil {
		panic(err)
	}
	return id
}

// IsZero reports whether id is the zero ("nil") UUID.
func (id ID) IsZero() bool { return id == ID{} }

// String returns the canonical lower-case text form.
func (id ID) String() string {
	var buf [36]byte
	id.encode(&buf)
	return string(buf[:])
}

// MarshalText implements encoding.TextMarshaler with the canonical form.
func (id ID) MarshalText() ([]byte, error) {
	var buf [36]byte
	id.encode(&buf)
	return buf[:], nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseID.
func (id *ID) UnmarshalText(b []byte) error {
	parsed, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = parsed
	return nil
}

const hexDigits = "0123456789abcdef"

func (id ID) encode(buf *[36]byte) {
	j := 0
	for i, b := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			buf[j] = '-'
			j++
		}
		buf[j] = hexDigits[b>>4]
		buf[j+1] = hexDigits[b&0x0f]
		j += 2
	}
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func invalidID(s string) *Error {
	const show = 40
	if len(s) > show {
		s = s[:show] + "..."
	}
	return Invalid(CodeInvalidID, "", fmt.Sprintf("%q is not a UUID", s))
}

// RequireID returns a validation error naming field when id is zero.
func RequireID(field string, id ID) error {
	if id.IsZero() {
		return Invalid(CodeInvalidID, field, field+" must be a non-nil UUID")
	}
	return nil
}
