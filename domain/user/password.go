package user

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ordo-platform/ordo/domain"
)

// Password policy, after NIST SP 800-63B §5.1.1.2: length matters, composition
// rules (a digit, a symbol, ...) do not, and passwords that attackers try
// first are refused.
const (
	MinPasswordRunes = 12
	// MaxPasswordBytes bounds the work of hashing and stays well inside what
	// every password hashing function accepts.
	MaxPasswordBytes = 128
)

// ValidatePassword checks a password before it is hashed. The optional
// identifiers are context words the password must not equal, ignoring case
// and surrounding spaces: pass the e-mail address (its local part is checked
// too) and the name. It returns nil or one KindValidation *Error with code
// CodeWeakPassword whose detail names the first problem found.
//
// Passwords are taken as typed: no trimming, no Unicode normalisation (the
// hash is of the exact bytes, so login must send the same bytes).
func ValidatePassword(pw string, identifiers ...string) error {
	if msg := passwordProblem(pw, identifiers); msg != "" {
		return domain.Invalid(CodeWeakPassword, "password", msg)
	}
	return nil
}

func passwordProblem(pw string, identifiers []string) string {
	if !utf8.ValidString(pw) {
		return "password must be valid UTF-8 text"
	}
	if n := utf8.RuneCountInString(pw); n < MinPasswordRunes {
		return fmt.Sprintf("password must have at least %d characters (it has %d)", MinPasswordRunes, n)
	}
	if len(pw) > MaxPasswordBytes {
		return fmt.Sprintf("password must be at most %d bytes long (it is %d)", MaxPasswordBytes, len(pw))
	}
	first, _ := utf8.DecodeRuneInString(pw)
	if strings.Trim(pw, string(first)) == "" {
		return "password must not be one character repeated"
	}
	folded := strings.ToLower(pw)
	for _, id := range identifiers {
		id = strings.ToLower(strings.TrimSpace(id))
		if id == "" {
			continue
		}
		local, _, _ := strings.Cut(id, "@")
		if folded == id || (len(local) > 0 && folded == local) {
			return "password must not be your email address or name"
		}
	}
	if _, common := commonPasswords[folded]; common {
		return "password is one of the most commonly used passwords; choose another"
	}
	return ""
}

// commonPasswords holds, lower-cased, the commonest passwords of at least 12
// characters in public breach corpora (shorter ones already fail the length
// rule). A handler that has a breach-corpus service can check it as well;
// this list stops the obvious ones without a network call.
var commonPasswords = map[string]struct{}{
	"123456789012": {}, "1234567890123": {}, "12345678901234": {}, "123456789123": {},
	"123123123123": {}, "121212121212": {}, "123412341234": {}, "012345678901": {},
	"987654321098": {}, "098765432109": {}, "password1234": {}, "password123!": {},
	"password12345": {}, "passwordpassword": {}, "p@ssw0rd1234": {},
	"qwertyuiop12": {}, "qwertyuiop123": {}, "qwerty123456": {}, "123456qwerty": {},
	"qwertyuiopasdfghjkl": {}, "qwertyuiopasdf": {}, "asdfghjkl123": {},
	"1q2w3e4r5t6y": {}, "1qaz2wsx3edc": {}, "zaq12wsxcde3": {}, "qazwsxedcrfv": {},
	"abcdefghijkl": {}, "abc123abc123": {}, "abcd1234abcd": {}, "iloveyou1234": {},
	"iloveyouiloveyou": {}, "letmein12345": {}, "welcome12345": {}, "welcome123456": {},
	"administrator": {}, "changeme1234": {}, "changemenow!": {}, "trustno1trustno1": {},
	"monkey123456": {}, "dragon123456": {}, "football1234": {}, "baseball1234": {},
	"sunshine1234": {}, "princess1234": {}, "superman1234": {}, "starwars1234": {},
	"michael12345": {}, "charlie12345": {}, "shadow123456": {}, "master123456": {},
	"whatever1234": {}, "computer1234": {}, "internet1234": {}, "mypassword123": {},
}
