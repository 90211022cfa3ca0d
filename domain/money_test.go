package domain_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/domain"
)

func TestNewMoney(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		currency string
		want     string
		wantErr  bool
	}{
		{name: "upper case", currency: "EUR", want: "EUR"},
		{name: "normalised", currency: " usd ", want: "USD"},
		{name: "empty", currency: "", wantErr: true},
		{name: "two letters", currency: "EU", wantErr: true},
		{name: "four letters", currency: "EURO", wantErr: true},
		{name: "digits", currency: "E1R", wantErr: true},
		{name: "non-ascii", currency: "ÉUR", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := domain.NewMoney(1999, tt.currency)
			if tt.wantErr {
				require.True(t, domain.HasCode(err, domain.CodeInvalidCurrency), "err = %v", err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, domain.Money{Cents: 1999, Currency: tt.want}, m)
			require.NoError(t, m.Validate())
		})
	}
	require.Error(t, domain.Money{Cents: 1, Currency: "eur"}.Validate(), "Validate does not normalise")
}

func TestMoneyArithmetic(t *testing.T) {
	t.Parallel()
	eur := func(c int64) domain.Money { return domain.Money{Cents: c, Currency: "EUR"} }

	sum, err := eur(150).Add(eur(250))
	require.NoError(t, err)
	require.Equal(t, eur(400), sum)

	_, err = eur(1).Add(domain.Money{Cents: 1, Currency: "USD"})
	require.True(t, domain.HasCode(err, domain.CodeCurrencyMismatch))

	_, err = eur(math.MaxInt64).Add(eur(1))
	require.True(t, domain.HasCode(err, domain.CodeAmountOverflow))

	p, err := eur(1999).Mul(3)
	require.NoError(t, err)
	require.Equal(t, eur(5997), p)

	_, err = eur(math.MaxInt64 / 2).Mul(3)
	require.True(t, domain.HasCode(err, domain.CodeAmountOverflow))

	require.True(t, eur(1).IsPositive())
	require.False(t, eur(0).IsPositive())
	require.Equal(t, "1999 EUR", eur(1999).String())
}

func TestCheckedIntegerArithmetic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b         int64
		sum, product bool // whether each fits
	}{
		{a: 2, b: 3, sum: true, product: true},
		{a: math.MaxInt64, b: 1, sum: false, product: true},
		{a: math.MinInt64, b: -1, sum: false, product: false},
		{a: math.MaxInt64, b: -1, sum: true, product: true},
		{a: 1 << 32, b: 1 << 31, sum: true, product: false},
		{a: 1 << 31, b: 1 << 31, sum: true, product: true},
		{a: 1 << 32, b: 1 << 32, sum: true, product: false},
		{a: 0, b: math.MinInt64, sum: true, product: true},
	}
	for _, tt := range tests {
		s, ok := domain.AddInt64(tt.a, tt.b)
		require.Equal(t, tt.sum, ok, "%d + %d", tt.a, tt.b)
		if ok {
			require.Equal(t, tt.a+tt.b, s)
		}
		p, ok := domain.MulInt64(tt.a, tt.b)
		require.Equal(t, tt.product, ok, "%d × %d", tt.a, tt.b)
		if ok {
			require.Equal(t, tt.a*tt.b, p)
		}
	}
}
