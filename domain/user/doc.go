// Package user is the user aggregate: registration, role changes and
// password changes, plus the e-mail and password rules the HTTP edge applies
// before it hashes a password.
//
// Password hashing happens outside the domain (it is slow, needs randomness
// and a library); events carry the resulting PHC string ("$argon2id$..."),
// never the password. E-mail uniqueness across users is not the aggregate's
// to enforce (it sees one stream): the users read model's unique index on
// the normalised e-mail is, and registration handlers check it.
package user
