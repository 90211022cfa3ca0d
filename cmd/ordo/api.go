package main

import (
	"sync"

	"github.com/ordo-platform/ordo/api"
	"github.com/ordo-platform/ordo/internal/auth"
)

func init() {
	registerMigrations(api.Migrations())
	registerCollectors(api.Collectors()...)
}

// passwords returns the process's password hasher, made once (it computes a dummy hash
// at start).
func (d *deps) passwords() (*auth.Hasher, error) {
	hasherOnce.Do(func() { hasher, hasherErr = auth.NewHasher(d.env.Passwords) })
	return hasher, hasherErr
}

var (
	hasherOnce sync.Once
	hasher     *auth.Hasher
	hasherErr  error
)
