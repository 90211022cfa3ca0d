package domain

import (
	"fmt"
	"math"
	"strings"
)

// Money is an amount in a currency's minor unit (cents for EUR and USD, yen
// for JPY) with its ISO 4217 alphabetic code. Integer minor units keep sums
// exact; floats never appear in the domain.
type Money struct {
	Cents    int64
	Currency string
}

// NewMoney returns cents in currency after normalising the code (trimmed,
// upper-cased) and checking it with ParseCurrency. The amount may have any
// sign; commands that need a positive amount say so.
func NewMoney(cents int64, currency string) (Money, error) {
	c, err := ParseCurrency(currency)
	if err != nil {
		return Money{}, err
	}
	return Money{Cents: cents, Currency: c}, nil
}

// ParseCurrency trims and upper-cases code and checks that it has the shape
// of an ISO 4217 alphabetic code: exactly three letters A-Z. It does not
// consult the list of codes in circulation (which changes); an unknown but
// well-formed code is the payment provider's to refuse.
func ParseCurrency(code string) (string, error) {
	c := strings.ToUpper(strings.TrimSpace(code))
	if !isCurrency(c) {
		return "", Invalid(CodeInvalidCurrency, "currency",
			fmt.Sprintf("currency %q must be an ISO 4217 code of three letters, such as EUR", truncate(code, 16)))
	}
	return c, nil
}

func isCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := range 3 {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}

// Validate checks the currency code (it must already be normalised).
func (m Money) Validate() error {
	if !isCurrency(m.Currency) {
		return Invalid(CodeInvalidCurrency, "currency",
			fmt.Sprintf("currency %q must be an ISO 4217 code of three upper-case letters", truncate(m.Currency, 16)))
	}
	return nil
}

// IsPositive reports whether the amount is greater than zero.
func (m Money) IsPositive() bool { return m.Cents > 0 }

// Add returns m + o. It fails on different currencies and on overflow.
func (m Money) Add(o Money) (Money, error) {
	if m.Currency != o.Currency {
		return Money{}, Invalid(CodeCurrencyMismatch, "currency",
			fmt.Sprintf("cannot add %s to %s", o.Currency, m.Currency))
	}
	sum, ok := AddInt64(m.Cents, o.Cents)
	if !ok {
		return Money{}, Invalid(CodeAmountOverflow, "", "amount is too large")
	}
	return Money{Cents: sum, Currency: m.Currency}, nil
}

// Mul returns m × n. It fails on overflow.
func (m Money) Mul(n int64) (Money, error) {
	p, ok := MulInt64(m.Cents, n)
	if !ok {
		return Money{}, Invalid(CodeAmountOverflow, "", "amount is too large")
	}
	return Money{Cents: p, Currency: m.Currency}, nil
}

// String formats the amount in minor units, for messages: "1999 EUR".
func (m Money) String() string {
	return fmt.Sprintf("%d %s", m.Cents, m.Currency)
}

// AddInt64 returns a+b and whether it did not overflow.
func AddInt64(a, b int64) (int64, bool) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, false
	}
	return s, true
}

// MulInt64 returns a×b and whether it did not overflow.
func MulInt64(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	if (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
		return 0, false
	}
	p := a * b
	if p/b != a {
		return 0, false
	}
	return p, true
}
