package domain_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/domain"
)

func TestErrorHelpers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  *domain.Error
		kind domain.ErrorKind
		str  string
	}{
		{name: "validation", err: domain.Invalid("invalid_email", "email", "email must contain an @"), kind: domain.KindValidation, str: "validation"},
		{name: "conflict", err: domain.Conflict("insufficient_stock", "only 3 available"), kind: domain.KindConflict, str: "conflict"},
		{name: "not found", err: domain.NotFound("order_not_found", "order not found"), kind: domain.KindNotFound, str: "not_found"},
		{name: "forbidden", err: domain.Forbidden("admin_required", "admins only"), kind: domain.KindForbidden, str: "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wrapped := fmt.Errorf("handle command: %w", tt.err)

			got, ok := domain.AsError(wrapped)
			require.True(t, ok)
			require.Same(t, tt.err, got)
			require.Equal(t, tt.kind, domain.KindOf(wrapped))
			require.Equal(t, tt.str, tt.kind.String())
			require.True(t, domain.HasCode(wrapped, tt.err.Code))
			require.False(t, domain.HasCode(wrapped, "something_else"))
			require.Equal(t, tt.err.Code+": "+tt.err.Detail, tt.err.Error())

			require.ErrorIs(t, wrapped, &domain.Error{Code: tt.err.Code})
			require.ErrorIs(t, wrapped, &domain.Error{Kind: tt.kind})
			require.ErrorIs(t, wrapped, &domain.Error{Kind: tt.kind, Code: tt.err.Code})
			require.NotErrorIs(t, wrapped, &domain.Error{Kind: tt.kind, Code: "other"})
			require.NotErrorIs(t, wrapped, &domain.Error{}, "an empty target matches nothing")
		})
	}
	require.Equal(t, domain.KindUnknown, domain.KindOf(errors.New("boom")))
	require.Equal(t, domain.KindUnknown, domain.KindOf(nil))
	_, ok := domain.AsError(errors.New("boom"))
	require.False(t, ok)
	require.Equal(t, "unknown", domain.ErrorKind(99).String())
}

func TestErrorWithFieldCopies(t *testing.T) {
	t.Parallel()
	base := domain.Invalid("invalid_input", "", "bad")
	require.Nil(t, base.Fields)
	a := base.WithField("a", "bad a")
	b := a.WithField("b", "bad b")
	require.Nil(t, base.Fields)
	require.Equal(t, map[string]string{"a": "bad a"}, a.Fields)
	require.Equal(t, map[string]string{"a": "bad a", "b": "bad b"}, b.Fields)
}

func TestJoinValidation(t *testing.T) {
	t.Parallel()
	email := domain.Invalid("invalid_email", "email", "email is required")
	name := domain.Invalid("invalid_name", "name", "name is required")

	require.NoError(t, domain.JoinValidation())
	require.NoError(t, domain.JoinValidation(nil, nil))
	require.Same(t, email, domain.JoinValidation(nil, email, nil))

	joined := domain.JoinValidation(email, nil, name)
	e, ok := domain.AsError(joined)
	require.True(t, ok)
	require.Equal(t, domain.KindValidation, e.Kind)
	require.Equal(t, domain.CodeInvalidInput, e.Code)
	require.Equal(t, "email is required; name is required", e.Detail)
	require.Equal(t, map[string]string{"email": "email is required", "name": "name is required"}, e.Fields)

	boom := errors.New("boom")
	mixed := domain.JoinValidation(email, boom)
	require.ErrorIs(t, mixed, boom)
	require.NotEqual(t, domain.KindValidation, domain.KindOf(mixed), "a non-validation error must not become a 422")

	conflict := domain.Conflict("insufficient_stock", "none left")
	require.Equal(t, domain.KindConflict, domain.KindOf(domain.JoinValidation(email, conflict)))
}
