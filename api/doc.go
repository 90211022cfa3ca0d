// Package api is Ordo's HTTP edge: an echo server that turns requests into the app
// layer's commands and queries, authenticates callers, limits their rate, makes
// commands idempotent, and maps every error to an RFC 9457 problem document in one
// place (handleError).
//
// Adding a route: register it in routes.go with s.v1 and the middleware it needs
// (requireUser, requireAdmin, s.idempotent for commands that create or change things),
// decode its body with s.decode (strict JSON), return errors rather than writing them,
// and describe it in openapi.yaml: TestOpenAPICoversEveryRoute fails until router and
// spec agree.
package api
