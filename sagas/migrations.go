package sagas

import (
	"embed"
	"io/fs"

	"github.com/ordo-platform/ordo/internal/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the saga's tables: order_sagas, saga_steps, saga_offsets.
func Migrations() pgmigrate.Set {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // fixed at build time
	}
	return pgmigrate.Set{Name: "sagas", FS: sub}
}
