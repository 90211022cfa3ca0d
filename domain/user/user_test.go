package user_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/user"
)

var (
	userID  = domain.MustParseID("0193a1c2-0000-7000-8000-000000000001")
	adminID = domain.MustParseID("0193a1c2-0000-7000-8000-0000000000ad")
	at      = time.Date(2025, 3, 4, 12, 0, 0, 0, time.UTC)
)

const hash = "$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"

func registered(role user.Role) user.Registered {
	return user.Registered{UserID: userID, Email: "ann@example.com", Name: "Ann", Role: role, PasswordHash: hash, RegisteredAt: at}
}

// decide folds the history, runs the decision and checks its outcome: either
// the wanted events, or an error with the wanted kind and code.
func decide(t *testing.T, history []domain.Event, run func(*user.User) ([]domain.Event, error),
	want []domain.Event, wantKind domain.ErrorKind, wantCode string,
) {
	t.Helper()
	u, err := user.Fold(history)
	require.NoError(t, err)
	got, err := run(u)
	if wantCode != "" {
		require.Error(t, err)
		e, ok := domain.AsError(err)
		require.True(t, ok, "want a *domain.Error, got %v", err)
		require.Equal(t, wantKind, e.Kind, "kind of %v", err)
		require.Equal(t, wantCode, e.Code, "code of %v", err)
		require.Empty(t, got)
		return
	}
	require.NoError(t, err)
	require.Equal(t, want, got)
}

func TestDecideRegister(t *testing.T) {
	t.Parallel()
	valid := user.Register{UserID: userID, Email: "  Ann@Example.COM ", Name: " Ann ", Role: user.RoleCustomer, PasswordHash: hash, At: at}
	with := func(f func(*user.Register)) user.Register { c := valid; f(&c); return c }
	tests := []struct {
		name     string
		history  []domain.Event
		cmd      user.Register
		want     []domain.Event
		wantKind domain.ErrorKind
		wantCode string
	}{
		{
			name: "registers with normalised email and name",
			cmd:  valid,
			want: []domain.Event{registered(user.RoleCustomer)},
		},
		{
			name: "admin role",
			cmd:  with(func(c *user.Register) { c.Role = user.RoleAdmin }),
			want: []domain.Event{registered(user.RoleAdmin)},
		},
		{
			name: "time is normalised to UTC micros",
			cmd:  with(func(c *user.Register) { c.At = at.In(time.FixedZone("X", 7200)).Add(999) }),
			want: []domain.Event{registered(user.RoleCustomer)},
		},
		{name: "already registered", history: []domain.Event{registered(user.RoleCustomer)}, cmd: valid, wantKind: domain.KindConflict, wantCode: user.CodeUserAlreadyExists},
		{name: "bad email", cmd: with(func(c *user.Register) { c.Email = "ann" }), wantKind: domain.KindValidation, wantCode: user.CodeInvalidEmail},
		{name: "empty name", cmd: with(func(c *user.Register) { c.Name = "  " }), wantKind: domain.KindValidation, wantCode: user.CodeInvalidName},
		{name: "long name", cmd: with(func(c *user.Register) { c.Name = strings.Repeat("n", 201) }), wantKind: domain.KindValidation, wantCode: user.CodeInvalidName},
		{name: "unknown role", cmd: with(func(c *user.Register) { c.Role = "root" }), wantKind: domain.KindValidation, wantCode: user.CodeInvalidRole},
		{name: "missing role", cmd: with(func(c *user.Register) { c.Role = "" }), wantKind: domain.KindValidation, wantCode: user.CodeInvalidRole},
		{name: "plain password instead of hash", cmd: with(func(c *user.Register) { c.PasswordHash = "hunter2hunter2" }), wantKind: domain.KindValidation, wantCode: user.CodeInvalidPasswordHash},
		{name: "hash without algorithm", cmd: with(func(c *user.Register) { c.PasswordHash = "$$abc" }), wantKind: domain.KindValidation, wantCode: user.CodeInvalidPasswordHash},
		{name: "nil id", cmd: with(func(c *user.Register) { c.UserID = domain.ID{} }), wantKind: domain.KindValidation, wantCode: domain.CodeInvalidID},
		{name: "no time", cmd: with(func(c *user.Register) { c.At = time.Time{} }), wantKind: domain.KindValidation, wantCode: domain.CodeInvalidTime},
		{
			name:     "several problems are reported together",
			cmd:      with(func(c *user.Register) { c.Email = ""; c.Name = "" }),
			wantKind: domain.KindValidation, wantCode: domain.CodeInvalidInput,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			decide(t, tt.history, func(u *user.User) ([]domain.Event, error) { return u.DecideRegister(tt.cmd) },
				tt.want, tt.wantKind, tt.wantCode)
		})
	}
}

func TestRegisterReportsEveryField(t *testing.T) {
	t.Parallel()
	_, err := (&user.User{}).DecideRegister(user.Register{UserID: userID, Role: user.RoleCustomer, PasswordHash: hash, At: at})
	e, ok := domain.AsError(err)
	require.True(t, ok)
	require.Contains(t, e.Fields, "email")
	require.Contains(t, e.Fields, "name")
	require.Len(t, e.Fields, 2)
}

func TestDecideChangeRole(t *testing.T) {
	t.Parallel()
	customer := []domain.Event{registered(user.RoleCustomer)}
	admin := []domain.Event{registered(user.RoleAdmin)}
	promote := user.ChangeRole{Role: user.RoleAdmin, ChangedBy: adminID, ActorRole: user.RoleAdmin}
	tests := []struct {
		name     string
		history  []domain.Event
		cmd      user.ChangeRole
		want     []domain.Event
		wantKind domain.ErrorKind
		wantCode string
	}{
		{name: "admin promotes a customer", history: customer, cmd: promote,
			want: []domain.Event{user.RoleChanged{UserID: userID, Role: user.RoleAdmin, ChangedBy: adminID}}},
		{name: "same role is a no-op", history: admin, cmd: promote},
		{name: "another admin demotes an admin", history: admin,
			cmd:  user.ChangeRole{Role: user.RoleCustomer, ChangedBy: adminID, ActorRole: user.RoleAdmin},
			want: []domain.Event{user.RoleChanged{UserID: userID, Role: user.RoleCustomer, ChangedBy: adminID}}},
		{name: "an admin cannot demote themselves", history: admin,
			cmd:      user.ChangeRole{Role: user.RoleCustomer, ChangedBy: userID, ActorRole: user.RoleAdmin},
			wantKind: domain.KindConflict, wantCode: user.CodeCannotDemoteSelf},
		{name: "a customer cannot change roles", history: customer,
			cmd:      user.ChangeRole{Role: user.RoleAdmin, ChangedBy: userID, ActorRole: user.RoleCustomer},
			wantKind: domain.KindForbidden, wantCode: user.CodeAdminRequired},
		{name: "unknown user", cmd: promote, wantKind: domain.KindNotFound, wantCode: user.CodeUserNotFound},
		{name: "unknown role", history: customer, cmd: user.ChangeRole{Role: "owner", ChangedBy: adminID, ActorRole: user.RoleAdmin},
			wantKind: domain.KindValidation, wantCode: user.CodeInvalidRole},
		{name: "missing actor", history: customer, cmd: user.ChangeRole{Role: user.RoleAdmin, ActorRole: user.RoleAdmin},
			wantKind: domain.KindValidation, wantCode: domain.CodeInvalidID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			decide(t, tt.history, func(u *user.User) ([]domain.Event, error) { return u.DecideChangeRole(tt.cmd) },
				tt.want, tt.wantKind, tt.wantCode)
		})
	}
}

func TestDecideChangePassword(t *testing.T) {
	t.Parallel()
	const newHash = "$argon2id$v=19$m=65536,t=3,p=2$bmV3c2FsdA$bmV3aGFzaA"
	customer := []domain.Event{registered(user.RoleCustomer)}
	tests := []struct {
		name     string
		history  []domain.Event
		cmd      user.ChangePassword
		want     []domain.Event
		wantKind domain.ErrorKind
		wantCode string
	}{
		{name: "changes", history: customer, cmd: user.ChangePassword{PasswordHash: newHash},
			want: []domain.Event{user.PasswordChanged{UserID: userID, PasswordHash: newHash}}},
		{name: "same hash is a no-op", history: customer, cmd: user.ChangePassword{PasswordHash: hash}},
		{name: "not a hash", history: customer, cmd: user.ChangePassword{PasswordHash: "secret"},
			wantKind: domain.KindValidation, wantCode: user.CodeInvalidPasswordHash},
		{name: "unknown user", cmd: user.ChangePassword{PasswordHash: newHash}, wantKind: domain.KindNotFound, wantCode: user.CodeUserNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			decide(t, tt.history, func(u *user.User) ([]domain.Event, error) { return u.DecideChangePassword(tt.cmd) },
				tt.want, tt.wantKind, tt.wantCode)
		})
	}
}

func TestFold(t *testing.T) {
	t.Parallel()
	const newHash = "$argon2id$v=19$new"
	u, err := user.Fold([]domain.Event{
		registered(user.RoleCustomer),
		user.RoleChanged{UserID: userID, Role: user.RoleAdmin, ChangedBy: adminID},
		user.PasswordChanged{UserID: userID, PasswordHash: newHash},
	})
	require.NoError(t, err)
	require.True(t, u.Exists())
	require.Equal(t, userID, u.ID())
	require.Equal(t, "ann@example.com", u.Email())
	require.Equal(t, "Ann", u.Name())
	require.Equal(t, user.RoleAdmin, u.Role())
	require.True(t, u.IsAdmin())
	require.Equal(t, newHash, u.PasswordHash())
	require.Equal(t, at, u.RegisteredAt())

	empty, err := user.Fold(nil)
	require.NoError(t, err)
	require.False(t, empty.Exists())

	_, err = user.Fold([]domain.Event{registered(user.RoleCustomer), foreign{}})
	require.ErrorIs(t, err, domain.ErrUnknownEvent)
}

func TestFoldNeverValidates(t *testing.T) {
	t.Parallel()
	// History is fact: an event that today's rules would refuse (an old,
	// looser e-mail rule; a role since removed) must still fold.
	u, err := user.Fold([]domain.Event{user.Registered{UserID: userID, Email: "legacy", Role: "superuser"}})
	require.NoError(t, err)
	require.Equal(t, "legacy", u.Email())
	require.Equal(t, user.Role("superuser"), u.Role())
}

type foreign struct{}

func (foreign) EventType() string { return "other.thing" }

func TestEventsAndStreams(t *testing.T) {
	t.Parallel()
	var types []string
	for _, e := range user.Events() {
		types = append(types, e.EventType())
	}
	require.Equal(t, []string{"user.registered", "user.role_changed", "user.password_changed"}, types)
	require.Equal(t, "user", user.StreamType)
	require.Equal(t, "user-0193a1c2-0000-7000-8000-000000000001", user.StreamID(userID))
}
