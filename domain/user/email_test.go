package user_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/user"
)

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{in: "ann@example.com", want: "ann@example.com"},
		{in: "  Ann.Lee+shop@Mail.Example.CO.UK\n", want: "ann.lee+shop@mail.example.co.uk"},
		{in: "o'brien@example.ie", want: "o'brien@example.ie"},
		{in: "x@a-b.io", want: "x@a-b.io"},
		{in: "", wantErr: "required"},
		{in: "ann", wantErr: "exactly one @"},
		{in: "ann@@example.com", wantErr: "exactly one @"},
		{in: "a@b@example.com", wantErr: "exactly one @"},
		{in: "@example.com", wantErr: "before the @"},
		{in: "ann@localhost", wantErr: "contain a dot"},
		{in: "ann@example..com", wantErr: "valid host name"},
		{in: "ann@-example.com", wantErr: "valid host name"},
		{in: "ann@exa_mple.com", wantErr: "valid host name"},
		{in: "ann@192.168.0.1", wantErr: "not a number"},
		{in: ".ann@example.com", wantErr: "dot"},
		{in: "an..n@example.com", wantErr: "dot"},
		{in: "ann lee@example.com", wantErr: "not allowed"},
		{in: "Ann <ann@example.com>", wantErr: "not allowed"},
		{in: "änn@example.com", wantErr: "not allowed"},
		{in: strings.Repeat("a", 65) + "@example.com", wantErr: "64"},
		{in: "a@" + strings.Repeat("b", 250) + ".com", wantErr: "254"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := user.NormalizeEmail(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.True(t, domain.HasCode(err, user.CodeInvalidEmail))
				require.Equal(t, domain.KindValidation, domain.KindOf(err))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
