package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/ordo-platform/ordo/web"
)

// The operator console (package web): static files, served to anyone, since they hold no
// data; every number on its pages comes from the admin routes, which check the caller.

const consolePath = "/console"

func (s *Server) consoleRoutes() {
	e := s.echo
	e.GET(consolePath, func(c echo.Context) error {
		setConsoleHeaders(c)
		return c.Redirect(http.StatusMovedPermanently, consolePath+"/")
	})
	e.GET(consolePath+"/", func(c echo.Context) error { return serveAsset(c, web.Index) })
	e.GET(consolePath+"/:asset", func(c echo.Context) error { return serveAsset(c, c.Param("asset")) })
}

// setConsoleHeaders sets the security headers of every console response.
func setConsoleHeaders(c echo.Context) {
	h := c.Response().Header()
	h.Set("Content-Security-Policy", web.ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
}

// serveAsset answers one console file with its ETag; the browser revalidates every time
// (no-cache) and gets 304 while the file is unchanged.
func serveAsset(c echo.Context, name string) error {
	setConsoleHeaders(c)
	a, ok := web.Lookup(name)
	if !ok {
		return newProblem(http.StatusNotFound, codeNotFound, "the console has no file called "+truncateParam(name))
	}
	h := c.Response().Header()
	h.Set("ETag", a.ETag)
	h.Set("Cache-Control", "no-cache")
	if etagMatches(c.Request().Header.Get("If-None-Match"), a.ETag) {
		return c.NoContent(http.StatusNotModified)
	}
	return c.Blob(http.StatusOK, a.ContentType, a.Body)
}
