// Package web holds the operator console: plain HTML, CSS and ES modules, embedded in
// the binary and served by `ordo serve` at /console (api/console.go). There is no build
// step and nothing is loaded from elsewhere: the page talks only to the admin routes of
// the API it came from, so the API, not the page, decides who sees what.
//
// Assets are flat (console/<name>): the router serves /console/{asset}. Each carries a
// strong ETag (a hash of its bytes, computed once at start-up), so browsers revalidate
// with a cheap 304 and never run a stale script after an upgrade.
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed console
var files embed.FS

// Asset is one file of the console.
type Asset struct {
	Name        string
	Body        []byte
	ContentType string
	// ETag is a strong entity tag, quoted: a hash of Body.
	ETag string
}

// Index is the console's entry page.
const Index = "index.html"

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".json": "application/json",
}

var assets = load()

func load() map[string]Asset {
	out := map[string]Asset{}
	entries, err := fs.ReadDir(files, "console")
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	for _, e := range entries {
		if e.IsDir() {
			panic(fmt.Sprintf("web: console/%s: assets are flat, no directories", e.Name()))
		}
		body, err := files.ReadFile("console/" + e.Name())
		if err != nil {
			panic(err)
		}
		ct, ok := contentTypes[strings.ToLower(path.Ext(e.Name()))]
		if !ok {
			panic(fmt.Sprintf("web: console/%s: no content type for its extension", e.Name()))
		}
		sum := sha256.Sum256(body)
		out[e.Name()] = Asset{Name: e.Name(), Body: body, ContentType: ct, ETag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	}
	return out
}

// Lookup returns the asset called name ("index.html", "app.js").
func Lookup(name string) (Asset, bool) {
	a, ok := assets[name]
	return a, ok
}

// Names lists every asset, sorted.
func Names() []string {
	out := make([]string, 0, len(assets))
	for n := range assets {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ContentSecurityPolicy is the policy every console response carries: everything from
// the console's own origin, nothing inline (no inline scripts, styles or event
// handlers), no framing, no plugins.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
