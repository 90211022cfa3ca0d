package user

import (
	"strings"

	"github.com/ordo-platform/ordo/domain"
)

// Limits of an e-mail address (RFC 5321 §4.5.3.1).
const (
	maxEmailLen  = 254
	maxLocalLen  = 64
	maxLabelLen  = 63
	localSpecial = ".!#$%&'*+/=?^_`{|}~-"
)

// NormalizeEmail trims and lower-cases an e-mail address and checks it.
//
// It accepts the addresses people actually type: a dot-atom local part (no
// quoted strings, no comments) and a DNS host name with at least two labels
// and a non-numeric top-level label. Non-ASCII (internationalised) addresses
// are refused for now. Lower-casing the local part is technically lossy, but
// no mainstream mailbox provider distinguishes case, and treating
// "Ann@x.org" and "ann@x.org" as two accounts is the worse bug.
func NormalizeEmail(s string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(s))
	if msg := emailProblem(e); msg != "" {
		return "", domain.Invalid(CodeInvalidEmail, "email", msg)
	}
	return e, nil
}

func emailProblem(e string) string {
	if e == "" {
		return "email is required"
	}
	if len(e) > maxEmailLen {
		return "email must have at most 254 characters"
	}
	at := strings.IndexByte(e, '@')
	if at < 0 || strings.Count(e, "@") != 1 {
		return "email must contain exactly one @"
	}
	local, host := e[:at], e[at+1:]
	switch {
	case local == "":
		return "email must have a name before the @"
	case len(local) > maxLocalLen:
		return "the part of the email before the @ must have at most 64 characters"
	case local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, ".."):
		return "the part of the email before the @ must not start or end with a dot or contain two dots in a row"
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if !isAlnum(c) && !strings.ContainsRune(localSpecial, rune(c)) {
			return "the part of the email before the @ contains a character that is not allowed"
		}
	}
	labels := strings.Split(host, ".")
	if len(labels) < 2 {
		return "the domain of the email must contain a dot, as in example.com"
	}
	for _, l := range labels {
		if l == "" || len(l) > maxLabelLen || l[0] == '-' || l[len(l)-1] == '-' {
			return "the domain of the email is not a valid host name"
		}
		for i := 0; i < len(l); i++ {
			if !isAlnum(l[i]) && l[i] != '-' {
				return "the domain of the email is not a valid host name"
			}
		}
	}
	tld := labels[len(labels)-1]
	if strings.Trim(tld, "0123456789") == "" {
		return "the domain of the email must end with a name, not a number"
	}
	return ""
}

func isAlnum(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
}
