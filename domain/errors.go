package domain

import (
	"errors"
	"maps"
	"slices"
	"strings"
)

// ErrorKind classifies a domain error by what the caller did wrong. The HTTP
// edge maps kinds to status codes: Validation → 422, Conflict → 409,
// NotFound → 404, Forbidden → 403.
type ErrorKind uint8

const (
	// KindUnknown is the zero value; KindOf returns it for errors that are not
	// a *Error (which the HTTP edge treats as 500).
	KindUnknown ErrorKind = iota
	// KindValidation: the command is malformed whatever the state (bad email,
	// empty name, quantity 0).
	KindValidation
	// KindConflict: the command is well formed but the aggregate's current
	// state forbids it (insufficient stock, confirm after cancel).
	KindConflict
	// KindNotFound: the command targets an aggregate that does not exist.
	KindNotFound
	// KindForbidden: the actor may not do this.
	KindForbidden
)

// String returns the kind's snake_case name.
func (k ErrorKind) String() string {
	switch k {
	case KindValidation:
		return "validation"
	case KindConflict:
		return "conflict"
	case KindNotFound:
		return "not_found"
	case KindForbidden:
		return "forbidden"
	default:
		return "unknown"
	}
}

// Error is the domain's typed error. Code is a stable snake_case identifier
// ("insufficient_stock") that clients may switch on; Detail is a sentence for
// humans; Fields maps offending input fields (by their API names, such as
// "email" or "items[2].quantity") to a message, for validation errors.
//
// Find it in a wrapped chain with errors.As or AsError. errors.Is matches a
// target *Error on its non-zero Kind and Code, so
// errors.Is(err, &domain.Error{Code: product.CodeInsufficientStock}) works.
type Error struct {
	Kind   ErrorKind
	Code   string
	Detail string
	Fields map[string]string
}

// Error implements error as "<code>: <detail>".
func (e *Error) Error() string {
	if e.Detail == "" {
		return e.Code
	}
	return e.Code + ": " + e.Detail
}

// Is reports whether target is a *Error whose non-zero Kind and Code equal
// e's.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error) // target is the errors.Is argument, never wrapped
	if !ok || t == nil {
		return false
	}
	if t.Kind == KindUnknown && t.Code == "" {
		return false
	}
	return (t.Kind == KindUnknown || t.Kind == e.Kind) && (t.Code == "" || t.Code == e.Code)
}

// WithField returns a copy of e with one more offending field.
func (e *Error) WithField(field, message string) *Error {
	c := *e
	c.Fields = maps.Clone(e.Fields)
	if c.Fields == nil {
		c.Fields = make(map[string]string, 1)
	}
	c.Fields[field] = message
	return &c
}

// Invalid returns a validation error. When field is not empty the detail is
// also recorded as that field's message.
func Invalid(code, field, detail string) *Error {
	e := &Error{Kind: KindValidation, Code: code, Detail: detail}
	if field != "" {
		e.Fields = map[string]string{field: detail}
	}
	return e
}

// Conflict returns an error for a command the current state forbids.
func Conflict(code, detail string) *Error {
	return &Error{Kind: KindConflict, Code: code, Detail: detail}
}

// NotFound returns an error for a command on an aggregate that does not
// exist.
func NotFound(code, detail string) *Error {
	return &Error{Kind: KindNotFound, Code: code, Detail: detail}
}

// Forbidden returns an error for an actor that may not run the command.
func Forbidden(code, detail string) *Error {
	return &Error{Kind: KindForbidden, Code: code, Detail: detail}
}

// AsError finds the first *Error in err's chain.
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// KindOf returns the kind of the first *Error in err's chain, or KindUnknown.
func KindOf(err error) ErrorKind {
	if e, ok := AsError(err); ok {
		return e.Kind
	}
	return KindUnknown
}

// HasCode reports whether err's chain holds a *Error with the given code.
func HasCode(err error, code string) bool {
	e, ok := AsError(err)
	return ok && e.Code == code
}

// JoinValidation combines the validation errors of one command so that a
// client learns about every bad field at once. Nil errors are skipped. One
// error is returned as it is; several become one KindValidation *Error with
// code CodeInvalidInput, all their fields and their details joined. If any
// error is not a validation *Error, only those errors are returned (joined
// with errors.Join): they are not the client's fault and must not be mapped
// to 422 because a validation error happened to come first.
func JoinValidation(errs ...error) error {
	var found []*Error
	var others []error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if e, ok := AsError(err); ok && e.Kind == KindValidation {
			found = append(found, e)
		} else {
			others = append(others, err)
		}
	}
	switch {
	case len(others) == 1:
		return others[0]
	case len(others) > 1:
		return errors.Join(others...)
	case len(found) == 0:
		return nil
	case len(found) == 1:
		return found[0]
	}
	joined := &Error{Kind: KindValidation, Code: CodeInvalidInput, Fields: map[string]string{}}
	details := make([]string, 0, len(found))
	for _, e := range found {
		details = append(details, e.Detail)
		for _, f := range slices.Sorted(maps.Keys(e.Fields)) {
			if _, dup := joined.Fields[f]; !dup {
				joined.Fields[f] = e.Fields[f]
			}
		}
	}
	joined.Detail = strings.Join(details, "; ")
	return joined
}

// Codes shared by several aggregates. Aggregate packages define their own.
const (
	CodeInvalidInput     = "invalid_input"
	CodeInvalidID        = "invalid_id"
	CodeInvalidStreamID  = "invalid_stream_id"
	CodeInvalidCurrency  = "invalid_currency"
	CodeInvalidAmount    = "invalid_amount"
	CodeCurrencyMismatch = "currency_mismatch"
	CodeAmountOverflow   = "amount_overflow"
	CodeInvalidTime      = "invalid_time"
	CodeInvalidText      = "invalid_text"
	CodeInvalidToken     = "invalid_token"
)
