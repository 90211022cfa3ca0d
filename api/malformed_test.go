package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Malformed HTTP bodies against every POST route: deep nesting, huge numbers, invalid
// UTF-8, duplicate keys, NUL bytes, 10 MB bodies (with a length and chunked without
// one), wrong and missing content types. Each answer is a 4xx problem document, nothing
// panics, and the store is unchanged afterwards: no event, no row of any table (users'
// emails, SKUs, refresh tokens, idempotency keys, re-drives, sagas, read models).

// bodyRoute is a POST route that decodes a JSON body: who may call it, and a valid body
// as a template whose %s is the raw JSON value of one string member (strT) and of one
// integer member (numT; strT again when the body has no integer member).
type bodyRoute struct {
	caller     string
	strT, strV string // strV: the valid string, unquoted
	numT, numV string // numV: the valid raw value
}

func (b bodyRoute) withString(s string) []byte { return []byte(fmt.Sprintf(b.strT, `"`+s+`"`)) }

func (b bodyRoute) withRaw(v string) []byte {
	if b.numT != "" {
		return []byte(fmt.Sprintf(b.numT, v))
	}
	return []byte(fmt.Sprintf(b.strT, v))
}

func (b bodyRoute) valid() []byte {
	if b.strV == "" {
		return b.withRaw(b.numV)
	}
	return b.withString(b.strV)
}

// loginEmail is registered in the world of TestMalformedBodies, so that the valid login
// body succeeds and a malformed one that got through would show.
const loginEmail = "malformed-login@example.com"

// bodyRoutes are the POST routes that read a body; noBodyRoutes those that take none
// (a body sent to them is never read: the console sends {}). Every POST route of the
// router must be in one of them.
func (w *world) bodyRoutes() map[string]bodyRoute {
	order := `{"items":[{"product_id":"` + w.product.ID + `","quantity":%s}],"payment_token":%s}`
	return map[string]bodyRoute{
		"/v1/users": {caller: anonymous, strV: "Mallory",
			strT: `{"email":"m@example.com","name":%s,"password":"correct horse battery staple"}`},
		"/v1/auth/login": {caller: anonymous, strV: goodPassword,
			strT: `{"email":"` + loginEmail + `","password":%s}`},
		"/v1/auth/refresh": {caller: anonymous, strV: strings.Repeat("A", 43), strT: `{"refresh_token":%s}`},
		"/v1/products": {caller: adminRole, strV: "Mug", numV: "100",
			strT: `{"sku":"MAL-1","name":%s,"price_cents":100,"currency":"EUR"}`,
			numT: `{"sku":"MAL-1","name":"Mug","price_cents":%s,"currency":"EUR"}`},
		"/v1/products/:id/stock": {caller: adminRole, strV: "delivery", numV: "5",
			strT: `{"delta":5,"reason":%s}`, numT: `{"delta":%s,"reason":"delivery"}`},
		"/v1/orders": {caller: owner, strV: "tok_visa", numV: "1",
			strT: fmt.Sprintf(order, "1", "%s"), numT: fmt.Sprintf(order, "%s", `"tok_visa"`)},
		"/v1/orders/:id/cancel": {caller: owner, strV: "changed my mind", strT: `{"detail":%s}`},
		"/v1/admin/dlq/redrive": {caller: adminRole, numV: "true", strT: `{"all":%s}`, numT: `{"all":%s}`},
		// The owner's password changes once (to strV) if a valid body gets through; later
		// ones then fail on the current password, which is a 4xx as well.
		"/v1/users/me/password": {caller: owner, strV: "another horse battery staple",
			strT: `{"current_password":"correct horse battery staple","new_password":%s}`},
		"/v1/users/:id/role": {caller: adminRole, strV: "customer", strT: `{"role":%s}`}, // the owner's own role
	}
}

var noBodyRoutes = map[string]string{
	"/v1/auth/logout":                     owner,
	"/v1/admin/sagas/:id/retry":           adminRole,
	"/v1/admin/projections/:name/rebuild": adminRole,
}

type malformed struct {
	name        string
	body        []byte
	contentType string // "-" sends none
	status      int    // the expected status; 0: any 4xx
}

func malformedCases(route string, b bodyRoute) []malformed {
	str := b.strV
	if str == "" {
		str = "x"
	}
	valid := b.valid()
	deep := func(open, close string, n int) string {
		return strings.Repeat(open, n) + "1" + strings.Repeat(close, n)
	}
	big := bytes.Repeat([]byte("A"), 10<<20)
	cases := []malformed{
		{name: "nesting 10k arrays in a member", body: b.withRaw(deep("[", "]", 10_000))},
		{name: "nesting 10k objects in a member", body: b.withRaw(deep(`{"a":`, "}", 10_000))},
		{name: "nesting 10k arrays at the top", body: []byte(deep("[", "]", 10_000))},
		{name: "number 1e400", body: b.withRaw("1e400")},
		{name: "number 2^70", body: b.withRaw("1180591620717411303424")},
		{name: "number -2^70", body: b.withRaw("-1180591620717411303424")},
		{name: "number 2^63", body: b.withRaw("9223372036854775808")},
		{name: "number 1.5", body: b.withRaw("1.5")},
		{name: "number 1e2", body: b.withRaw("1e2")},
		{name: "number -0.0", body: b.withRaw("-0.0")},
		{name: "number NaN", body: b.withRaw("NaN")},
		{name: "number Infinity", body: b.withRaw("Infinity")},
		{name: "number 0x10", body: b.withRaw("0x10")},
		{name: "number with 100k digits", body: b.withRaw(strings.Repeat("9", 100_000))},
		{name: "invalid UTF-8 in a string", body: b.withString(str + "\xff\xfe")},
		{name: "overlong UTF-8 slash", body: b.withString(str + "\xc0\xaf")},
		{name: "UTF-16 surrogate in UTF-8", body: b.withString(str + "\xed\xa0\x80")},
		{name: "truncated UTF-8", body: b.withString(str + "\xe2\x82")},
		{name: "UTF-16 body", body: utf16(valid)},
		{name: "duplicate key", body: dup(valid, false)},
		{name: "duplicate key, other case", body: dup(valid, true)},
		{name: "NUL before the body", body: append([]byte{0}, valid...)},
		{name: "NUL after the body", body: append(slices.Clone(valid), 0)},
		{name: "NUL inside a key", body: bytes.Replace(valid, []byte(`":`), []byte("\x00\":"), 1)},
		{name: "NUL in a string", body: b.withString(str + "\x00")},
		{name: "escaped NUL in a string", body: b.withString(`\u0000` + str)},
		{name: "empty body", body: nil},
		{name: "whitespace only", body: []byte(" \r\n\t ")},
		{name: "null", body: []byte("null")},
		{name: "an array", body: []byte("[]")},
		{name: "a string", body: []byte(`"x"`)},
		{name: "two objects", body: append(slices.Clone(valid), valid...)},
		{name: "trailing garbage", body: append(slices.Clone(valid), []byte("garbage")...)},
		{name: "truncated", body: valid[:len(valid)/2]},
		{name: "comment", body: append([]byte("/* hi */"), valid...)},
		{name: "single quotes", body: bytes.ReplaceAll(valid, []byte(`"`), []byte("'"))},
		{name: "unknown member", body: bytes.Replace(valid, []byte("{"), []byte(`{"role":"admin",`), 1)},
		{name: "100k members", body: []byte("{" + strings.Repeat(`"k":1,`, 100_000) + `"k":1}`)},
		{name: "a 64 KiB member name", body: []byte(`{"` + strings.Repeat("k", 64<<10) + `":1}`)},
		{name: "10 MB", body: append(append([]byte(`{"x":"`), big...), []byte(`"}`)...), status: http.StatusRequestEntityTooLarge},
		{name: "10 MB of nesting", body: []byte(strings.Repeat("[", 10<<20)), status: http.StatusRequestEntityTooLarge},
		{name: "text/plain", body: valid, contentType: "text/plain", status: http.StatusUnsupportedMediaType},
		{name: "form", body: []byte("email=a@example.com&password=x"), contentType: "application/x-www-form-urlencoded", status: http.StatusUnsupportedMediaType},
		{name: "multipart", body: []byte("--x\r\n\r\n{}\r\n--x--"), contentType: "multipart/form-data; boundary=x", status: http.StatusUnsupportedMediaType},
		{name: "latin1 charset", body: valid, contentType: "application/json; charset=latin1", status: http.StatusUnsupportedMediaType},
		{name: "json look-alike type", body: valid, contentType: "application/jsonx", status: http.StatusUnsupportedMediaType},
		{name: "two types", body: valid, contentType: "application/json, text/plain", status: http.StatusUnsupportedMediaType},
		{name: "empty content type", body: valid, contentType: "", status: http.StatusUnsupportedMediaType},
		{name: "no content type", body: valid, contentType: "-", status: http.StatusUnsupportedMediaType},
	}
	cases = append(cases,
		malformed{name: "invalid UTF-8 in a member name", body: bytes.Replace(valid, []byte(`":`), []byte("\xff\":"), 1)},
		malformed{name: "byte order mark", body: append([]byte("\xef\xbb\xbf"), valid...)},
		malformed{name: "100k array elements in a member", body: b.withRaw("[" + strings.Repeat("1,", 100_000) + "1]")},
		malformed{name: "a 900 KiB string member", body: b.withString(strings.Repeat("x", 900<<10))},
	)
	if route == "/v1/orders" {
		// Duplicates below the top level, where a second value would win silently.
		cases = append(cases,
			malformed{name: "duplicate key in an item", body: []byte(strings.Replace(string(valid), `"quantity":1`, `"quantity":1,"quantity":1000000`, 1))},
			malformed{name: "duplicate product in an item", body: []byte(strings.Replace(string(valid), `"quantity":1`, `"quantity":1,"product_id":"00000000-0000-7000-8000-000000000001"`, 1))},
		)
	}
	if route == "/v1/orders/:id/cancel" {
		// The body of a cancellation is optional: a blank one cancels.
		cases = dropCases(cases, "empty body", "whitespace only")
	}
	return cases
}

func dropCases(cs []malformed, names ...string) []malformed {
	var out []malformed
	for _, c := range cs {
		keep := true
		for _, n := range names {
			keep = keep && c.name != n
		}
		if keep {
			out = append(out, c)
		}
	}
	return out
}

// dup repeats a member of a JSON object in front of it (with its name upper-cased
// when otherCase).
func dup(b []byte, otherCase bool) []byte {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || len(m) == 0 {
		panic(fmt.Sprintf("dup: %s is not an object with members", b))
	}
	name := slices.Sorted(maps.Keys(m))[0]
	value := m[name]
	if otherCase {
		name = strings.ToUpper(name)
	}
	q, _ := json.Marshal(name)
	return []byte("{" + string(q) + ":" + string(value) + "," + string(b[1:]))
}

func utf16(b []byte) []byte {
	out := []byte{0xff, 0xfe}
	for _, c := range b {
		out = append(out, c, 0)
	}
	return out
}

func TestMalformedBodies(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fullOpts{kafka: true})
	bodies := w.bodyRoutes()
	posts := routesOf(w.Server, http.MethodPost)
	for _, r := range posts {
		_, reads := bodies[r.Path]
		_, ignores := noBodyRoutes[r.Path]
		require.True(t, reads != ignores, "POST %s: add it to bodyRoutes (it reads a body) or noBodyRoutes", r.Path)
	}

	// The templates are right: each valid body is accepted (or, for refresh, refused only
	// for its unknown token), so a 4xx below is the malformation's doing. Checked on
	// copies with other unique values, so that the suite's own values stay unused.
	w.register(t, loginEmail)
	t.Run("valid bodies are accepted", func(t *testing.T) {
		for _, r := range posts {
			b, ok := bodies[r.Path]
			if !ok {
				continue
			}
			body := bytes.Replace(bytes.Replace(b.valid(), []byte("m@example.com"), []byte(uniqueEmail("valid")), 1),
				[]byte("MAL-1"), []byte("VALID-1"), 1)
			path := w.path(t, r.Path, nil)
			if r.Path == "/v1/orders/:id/cancel" {
				path = "/v1/orders/" + w.fullServer.order(t, w.owner, w.product.ID, 1).ID + "/cancel"
			}
			res := w.do(t, http.MethodPost, path, body, w.auth(b.caller)...)
			if r.Path == "/v1/auth/refresh" {
				res.problem(t, http.StatusUnauthorized, "invalid_refresh_token")
				continue
			}
			require.Less(t, res.Code, 300, "POST %s: %s", r.Path, res.Body)
		}
	})

	for _, r := range posts {
		b, ok := bodies[r.Path]
		if !ok {
			continue
		}
		path := w.path(t, r.Path, nil)
		for _, c := range malformedCases(r.Path, b) {
			what := "POST " + r.Path + ": " + c.name
			before := w.snapshot(t)
			opts := w.auth(b.caller)
			switch c.contentType {
			case "":
				opts = append(opts, header("Content-Type", "application/json"))
			case "-":
				opts = append(opts, func(r *http.Request) { r.Header.Del("Content-Type") })
			default:
				opts = append(opts, header("Content-Type", c.contentType))
			}
			if c.name == "empty content type" {
				opts = append(opts, header("Content-Type", ""))
			}
			var body any
			if c.body != nil {
				body = c.body
			}
			res := w.do(t, http.MethodPost, path, body, opts...)
			require.GreaterOrEqual(t, res.Code, 400, "%s: %s", what, res.Body)
			require.Less(t, res.Code, 500, "%s: %s", what, res.Body)
			if c.status != 0 {
				require.Equal(t, c.status, res.Code, "%s: %s", what, res.Body)
			}
			requireProblem(t, res, what)
			requireUnchanged(t, before, w.snapshot(t), what)
		}
	}

	// Over a real connection: bodies without a length (chunked), and bodies longer or
	// shorter than their Content-Length, framed by net/http as a client would send them.
	srv := httptest.NewServer(w.Handler())
	t.Cleanup(srv.Close)
	for _, r := range posts {
		b, ok := bodies[r.Path]
		if !ok {
			continue
		}
		for _, c := range []struct {
			name   string
			body   func() io.Reader
			length int64
			status int
		}{
			{"chunked 10 MB", func() io.Reader {
				return io.MultiReader(strings.NewReader(`{"x":"`), bytes.NewReader(bytes.Repeat([]byte("A"), 10<<20)))
			}, -1, http.StatusRequestEntityTooLarge},
			{"chunked deep nesting", func() io.Reader { return strings.NewReader(strings.Repeat("[", 500_000)) }, -1, 0},
			{"chunked invalid UTF-8", func() io.Reader { return bytes.NewReader(b.withString("x\xff")) }, -1, 0},
			{"chunked duplicate keys", func() io.Reader { return bytes.NewReader(dup(b.valid(), false)) }, -1, 0},
			{"shorter than Content-Length", func() io.Reader { return strings.NewReader(`{"x":1}`) }, 100, 0},
		} {
			what := "POST " + r.Path + " over HTTP: " + c.name
			before := w.snapshot(t)
			req, err := http.NewRequest(http.MethodPost, srv.URL+w.path(t, r.Path, nil), io.NopCloser(c.body()))
			require.NoError(t, err)
			req.ContentLength = c.length
			req.Header.Set("Content-Type", "application/json")
			if tok := w.token(b.caller); tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			res, err := srv.Client().Do(req)
			if err == nil {
				body, _ := io.ReadAll(res.Body)
				_ = res.Body.Close()
				require.GreaterOrEqual(t, res.StatusCode, 400, "%s: %s", what, body)
				require.Less(t, res.StatusCode, 500, "%s: %s", what, body)
				if c.status != 0 {
					require.Equal(t, c.status, res.StatusCode, "%s: %s", what, body)
				}
			} else {
				// The client may fail to finish sending a body the server stopped reading
				// (it answered 413 and closed); or a body shorter than announced never
				// reaches the handler. Either way the access log has the answer, if any.
				require.NotContains(t, w.logs.String(), `"status":5`, "%s: %v", what, err)
			}
			requireUnchanged(t, before, w.snapshot(t), what)
		}
	}
	require.NotContains(t, w.logs.String(), `"status":5`, "no request answered 5xx")
	require.NotContains(t, w.logs.String(), "panic", "no handler panicked")

	t.Run("routes without a body ignore one", func(t *testing.T) {
		// They never read it: the hostile bytes reach no decoder, the route does its job.
		for path, caller := range noBodyRoutes {
			res := w.do(t, http.MethodPost, w.path(t, path, nil), bytes.Repeat([]byte("["), 2<<20), w.auth(caller)...)
			require.Less(t, res.Code, 300, "POST %s: %s", path, res.Body)
		}
	})
}
