package user

import (
	"fmt"

	"github.com/ordo-platform/ordo/domain"
)

// Role is what a user may do.
type Role string

// Roles. Stored as strings; adding one later is not a breaking change.
const (
	RoleCustomer Role = "customer"
	RoleAdmin    Role = "admin"
)

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleCustomer, RoleAdmin:
		return r, nil
	}
	return "", domain.Invalid(CodeInvalidRole, "role",
		fmt.Sprintf("role %q must be one of customer, admin", s))
}
