package user

// Error codes of the user aggregate (domain.Error.Code).
const (
	CodeInvalidEmail        = "invalid_email"
	CodeWeakPassword        = "weak_password"
	CodeInvalidName         = "invalid_name"
	CodeInvalidRole         = "invalid_role"
	CodeInvalidPasswordHash = "invalid_password_hash"
	CodeUserAlreadyExists   = "user_already_exists"
	CodeUserNotFound        = "user_not_found"
	CodeAdminRequired       = "admin_required"
	CodeCannotDemoteSelf    = "cannot_demote_self"
)
