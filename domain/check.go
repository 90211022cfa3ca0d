package domain

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Text trims value and checks that it is valid UTF-8 without control
// characters (tabs and new lines are allowed only when multiline is set) and
// has between minRunes and maxRunes characters. It returns the trimmed value
// or a validation error with the given code, naming field.
func Text(code, field, value string, minRunes, maxRunes int, multiline bool) (string, error) {
	v := strings.TrimSpace(value)
	if !utf8.ValidString(v) {
		return "", Invalid(code, field, field+" must be valid UTF-8")
	}
	for _, r := range v {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
			return "", Invalid(code, field, field+" must not contain control characters")
		}
	}
	n := utf8.RuneCountInString(v)
	switch {
	case n == 0 && minRunes > 0:
		return "", Invalid(code, field, field+" is required")
	case n < minRunes:
		return "", Invalid(code, field, fmt.Sprintf("%s must have at least %d characters", field, minRunes))
	case n > maxRunes:
		return "", Invalid(code, field, fmt.Sprintf("%s must have at most %d characters (got %d)", field, maxRunes, n))
	}
	return v, nil
}

// Token checks a machine-readable snake_case identifier such as a reason
// code: 1 to 64 characters from a-z, 0-9 and '_', starting with a letter.
func Token(code, field, value string) error {
	ok := len(value) >= 1 && len(value) <= 64 && value[0] >= 'a' && value[0] <= 'z'
	for i := 0; ok && i < len(value); i++ {
		c := value[i]
		ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'
	}
	if !ok {
		return Invalid(code, field, fmt.Sprintf("%s %q must be a snake_case code of at most 64 characters", field, truncate(value, 70)))
	}
	return nil
}

// Time checks that t is set and returns it normalised the way events store
// time: UTC, truncated to the microsecond (the precision of Avro's
// timestamp-micros and of Postgres), so that an event read back equals the
// event written.
func Time(field string, t time.Time) (time.Time, error) {
	if t.IsZero() {
		return time.Time{}, Invalid(CodeInvalidTime, field, field+" is required")
	}
	return NormalizeTime(t), nil
}

// NormalizeTime returns t in UTC truncated to the microsecond, without a
// monotonic clock reading.
func NormalizeTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond).Round(0)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
