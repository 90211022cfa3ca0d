package web_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/web"
)

// The console's rules, checked on the files themselves: everything it loads is one of
// its own assets, nothing runs inline (the CSP would block it, silently), nothing comes
// from another origin, and no API data is ever parsed as HTML.

var (
	srcHref     = regexp.MustCompile(`(?i)\s(?:src|href)="([^"]*)"`)
	importFrom  = regexp.MustCompile(`(?m)^\s*import\s[^'"]*['"]([^'"]+)['"]`)
	inlineEvent = regexp.MustCompile(`(?i)<[^>]+\son[a-z]+\s*=`)
	styleAttr   = regexp.MustCompile(`(?i)<[^>]+\sstyle\s*=`)
	scriptTag   = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	externalURL = regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
)

func TestEveryAssetHasAContentTypeAndAnETag(t *testing.T) {
	t.Parallel()
	names := web.Names()
	require.Contains(t, names, web.Index)
	for _, n := range names {
		a, ok := web.Lookup(n)
		require.True(t, ok)
		require.NotEmpty(t, a.Body, n)
		require.NotEmpty(t, a.ContentType, n)
		require.Regexp(t, `^"[0-9a-f]{24}"$`, a.ETag)
	}
	_, ok := web.Lookup("../web.go")
	require.False(t, ok)
}

func TestIndexLoadsOnlyItsOwnAssetsAndNothingInline(t *testing.T) {
	t.Parallel()
	a, _ := web.Lookup(web.Index)
	html := string(a.Body)
	for _, m := range srcHref.FindAllStringSubmatch(html, -1) {
		ref := m[1]
		if strings.HasPrefix(ref, "#") {
			continue // in-page routes
		}
		_, ok := web.Lookup(ref)
		require.True(t, ok, "index.html refers to %q, which is not an asset", ref)
	}
	for _, m := range scriptTag.FindAllStringSubmatch(html, -1) {
		require.Contains(t, m[1], "src=", "inline script: %s", m[0])
		require.Empty(t, strings.TrimSpace(m[2]), "inline script body")
	}
	require.NotRegexp(t, inlineEvent, html, "inline event handler")
	require.NotRegexp(t, styleAttr, html, "inline style")
	require.NotContains(t, html, "<style")
}

func TestModulesImportOnlyAssetsAndNeverParseHTML(t *testing.T) {
	t.Parallel()
	forbidden := []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute('style'", "localStorage"}
	for _, n := range web.Names() {
		a, _ := web.Lookup(n)
		body := string(a.Body)
		if strings.HasSuffix(n, ".js") {
			for _, m := range importFrom.FindAllStringSubmatch(body, -1) {
				require.True(t, strings.HasPrefix(m[1], "./"), "%s imports %q: only ./asset.js", n, m[1])
				_, ok := web.Lookup(strings.TrimPrefix(m[1], "./"))
				require.True(t, ok, "%s imports %q, which is not an asset", n, m[1])
			}
			for _, f := range forbidden {
				require.NotContains(t, body, f, "%s uses %s", n, f)
			}
		}
		// The only URL with a host is the SVG namespace (a name, never fetched).
		for _, u := range externalURL.FindAllString(body, -1) {
			require.Equal(t, "http://www.w3.org", u, "%s refers to another origin: %s", n, u)
		}
	}
}

func TestEveryPageIsInTheNavigation(t *testing.T) {
	t.Parallel()
	index, _ := web.Lookup(web.Index)
	app, _ := web.Lookup("app.js")
	for _, page := range []string{"events", "streams", "orders", "projections", "dlq", "consumers", "sales"} {
		require.Contains(t, string(index.Body), `data-page="`+page+`"`)
		require.Regexp(t, `\b`+page+`[,\s}]`, string(app.Body), "app.js routes %s", page)
	}
}

func TestPolicyForbidsInlineCode(t *testing.T) {
	t.Parallel()
	p := web.ContentSecurityPolicy
	require.Contains(t, p, "default-src 'self'")
	require.Contains(t, p, "frame-ancestors 'none'")
	require.NotContains(t, p, "unsafe-inline")
	require.NotContains(t, p, "unsafe-eval")
}
