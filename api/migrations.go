package api

import (
	"embed"
	"io/fs"

	"github.com/ordo-platform/ordo/internal/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the Postgres tables of the HTTP edge and its command handlers
// (user_emails, product_skus, refresh_tokens, idempotency_keys), version table goose_api.
func Migrations() pgmigrate.Set {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	return pgmigrate.Set{Name: "api", FS: sub}
}
