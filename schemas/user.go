package schemas

import "github.com/ordo-platform/ordo/domain/user"

// ordo.user.UserRegistered
type userRegistered struct {
	UserID       string    `avro:"user_id" json:"user_id"`
	Email        string    `avro:"email" json:"email"`
	Name         string    `avro:"name" json:"name"`
	Role         string    `avro:"role" json:"role"`
	PasswordHash secret    `avro:"password_hash" json:"password_hash"`
	RegisteredAt timestamp `avro:"registered_at" json:"registered_at"`
}

func userRegisteredRecord(e user.Registered) userRegistered {
	return userRegistered{
		UserID:       e.UserID.String(),
		Email:        e.Email,
		Name:         e.Name,
		Role:         string(e.Role),
		PasswordHash: secret(e.PasswordHash),
		RegisteredAt: timestamp(e.RegisteredAt),
	}
}

func userRegisteredEvent(r *userRegistered) (user.Registered, error) {
	var f fields
	e := user.Registered{
		UserID:       f.id("user_id", r.UserID),
		Email:        r.Email,
		Name:         r.Name,
		Role:         user.Role(r.Role),
		PasswordHash: string(r.PasswordHash),
		RegisteredAt: f.time("registered_at", r.RegisteredAt),
	}
	return e, f.err
}

// ordo.user.UserRoleChanged
type userRoleChanged struct {
	UserID    string `avro:"user_id" json:"user_id"`
	Role      string `avro:"role" json:"role"`
	ChangedBy string `avro:"changed_by" json:"changed_by"`
}

func userRoleChangedRecord(e user.RoleChanged) userRoleChanged {
	return userRoleChanged{UserID: e.UserID.String(), Role: string(e.Role), ChangedBy: e.ChangedBy.String()}
}

func userRoleChangedEvent(r *userRoleChanged) (user.RoleChanged, error) {
	var f fields
	e := user.RoleChanged{UserID: f.id("user_id", r.UserID), Role: user.Role(r.Role), ChangedBy: f.id("changed_by", r.ChangedBy)}
	return e, f.err
}

// ordo.user.UserPasswordChanged
type userPasswordChanged struct {
	UserID       string `avro:"user_id" json:"user_id"`
	PasswordHash secret `avro:"password_hash" json:"password_hash"`
}

func userPasswordChangedRecord(e user.PasswordChanged) userPasswordChanged {
	return userPasswordChanged{UserID: e.UserID.String(), PasswordHash: secret(e.PasswordHash)}
}

func userPasswordChangedEvent(r *userPasswordChanged) (user.PasswordChanged, error) {
	var f fields
	e := user.PasswordChanged{UserID: f.id("user_id", r.UserID), PasswordHash: string(r.PasswordHash)}
	return e, f.err
}
