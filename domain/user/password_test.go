package user_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/user"
)

func TestValidatePassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		pw          string
		identifiers []string
		wantErr     string
	}{
		{name: "long passphrase", pw: "correct horse battery staple"},
		{name: "exactly 12", pw: "kT9#mQ2vLp4x"},
		{name: "12 runes of 2 bytes", pw: "ééééééééééé1"},
		{name: "no composition rules", pw: "aaaabbbbccccdddd"},
		{name: "spaces are kept", pw: "  leading and trailing  "},
		{name: "exactly 128 bytes", pw: strings.Repeat("ab", 64)},
		{name: "too short", pw: "Tr0ub4dor&3", wantErr: "at least 12 characters (it has 11)"},
		{name: "empty", pw: "", wantErr: "at least 12 characters (it has 0)"},
		{name: "11 runes is short even with many bytes", pw: "éééééééééé1", wantErr: "at least 12"},
		{name: "too long", pw: strings.Repeat("ab", 64) + "c", wantErr: "at most 128 bytes"},
		{name: "one repeated character", pw: strings.Repeat("x", 20), wantErr: "repeated"},
		{name: "one repeated multibyte character", pw: strings.Repeat("ü", 20), wantErr: "repeated"},
		{name: "common", pw: "password1234", wantErr: "commonly used"},
		{name: "common ignoring case", pw: "PassWord1234", wantErr: "commonly used"},
		{name: "equals the email", pw: "Ann.Lee@Example.com", identifiers: []string{"ann.lee@example.com"}, wantErr: "email"},
		{name: "equals the email's local part", pw: "ann.lee.private", identifiers: []string{"ann.lee.private@example.com"}, wantErr: "email"},
		{name: "equals the name", pw: "Annabelle Lee-Smith", identifiers: []string{"ann@example.com", "annabelle lee-smith"}, wantErr: "name"},
		{name: "contains the email is fine", pw: "ann@example.com is me", identifiers: []string{"ann@example.com"}},
		{name: "invalid utf-8", pw: "abcdefghijk\xff", wantErr: "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := user.ValidatePassword(tt.pw, tt.identifiers...)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			e, ok := domain.AsError(err)
			require.True(t, ok)
			require.Equal(t, domain.KindValidation, e.Kind)
			require.Equal(t, user.CodeWeakPassword, e.Code)
			require.Equal(t, map[string]string{"password": e.Detail}, e.Fields)
		})
	}
}
