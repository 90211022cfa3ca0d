package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// maxJSONDepth bounds the nesting of request bodies; ours nest three levels.
const maxJSONDepth = 32

// body returns the request body, read once (at most cfg.BodyLimit bytes) and kept for
// the rest of the request: the idempotency check hashes it, the handler decodes it.
func (s *Server) body(c echo.Context) ([]byte, error) {
	if b, ok := c.Get(ctxBody).([]byte); ok {
		return b, nil
	}
	r := c.Request()
	tooLarge := newProblem(http.StatusRequestEntityTooLarge, codePayloadTooLarge,
		fmt.Sprintf("the request body must be at most %d bytes", s.cfg.BodyLimit))
	if r.ContentLength > s.cfg.BodyLimit {
		return nil, tooLarge
	}
	var b []byte
	if r.Body != nil {
		var err error
		b, err = io.ReadAll(io.LimitReader(r.Body, s.cfg.BodyLimit+1))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, tooLarge
			}
			return nil, newProblem(http.StatusBadRequest, codeBadRequest, "the request body could not be read")
		}
		if int64(len(b)) > s.cfg.BodyLimit {
			return nil, tooLarge
		}
	}
	c.Set(ctxBody, b)
	return b, nil
}

// decode reads a JSON object into dst, strictly: the Content-Type must be
// application/json, the body one JSON object with no unknown, duplicate or miscased
// member names and nothing after it. dst must be a pointer to a struct with json tags.
// Every failure is a 4xx problem.
func (s *Server) decode(c echo.Context, dst any) error {
	if err := requireJSON(c); err != nil {
		return err
	}
	b, err := s.body(c)
	if err != nil {
		return err
	}
	return decodeStrict(b, dst)
}

// hasBody reports whether the request carries a non-blank body (for routes whose body
// is optional).
func (s *Server) hasBody(c echo.Context) (bool, error) {
	b, err := s.body(c)
	if err != nil {
		return false, err
	}
	return len(bytes.TrimSpace(b)) > 0, nil
}

func requireJSON(c echo.Context) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	mt, params, err := mime.ParseMediaType(ct)
	if err == nil && mt == "application/json" {
		if cs, ok := params["charset"]; !ok || strings.EqualFold(cs, "utf-8") {
			return nil
		}
	}
	return newProblem(http.StatusUnsupportedMediaType, codeUnsupportedMedia, "the request body must be JSON: Content-Type: application/json").
		withHeader("Accept-Post", "application/json")
}

func decodeStrict(b []byte, dst any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return newProblem(http.StatusBadRequest, codeInvalidJSON, "the request body must be a JSON object, not empty")
	}
	// JSON text is UTF-8 (RFC 8259 §8.1). encoding/json would replace invalid bytes in
	// strings with U+FFFD and carry on, storing a value the client never sent.
	if !utf8.Valid(b) {
		return newProblem(http.StatusBadRequest, codeInvalidJSON, "the request body is not valid UTF-8")
	}
	if err := checkJSON(b, reflect.TypeOf(dst)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := te.Field
			if field == "" {
				field = "body"
			}
			return newProblem(http.StatusBadRequest, codeInvalidJSON, fmt.Sprintf("%s must be %s, not a JSON %s", field, typeName(te.Type), te.Value)).
				withField(field, "must be "+typeName(te.Type))
		}
		return newProblem(http.StatusBadRequest, codeInvalidJSON, "the request body is not valid JSON: "+strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a " + t.String()
}

// checkJSON walks the token stream of b: one JSON object, nothing after it, no member
// name twice in an object, every member name one of the target struct's json names,
// exactly as spelt (encoding/json alone ignores duplicates, keeps the last one, and
// matches names without regard to case), and no deeper than maxJSONDepth.
func checkJSON(b []byte, t reflect.Type) error {
	type frame struct {
		object  bool
		wantKey bool
		keys    map[string]bool
		typ     reflect.Type // struct type of an object (nil: not checked)
		elem    reflect.Type // type of the current member, or of an array's elements
		path    string       // path of this container ("items[2]")
		key     string       // current member name
		index   int          // next array index
	}
	bad := func(code, detail string) *Problem { return newProblem(http.StatusBadRequest, code, detail) }
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var stack []*frame
	started := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if len(stack) > 0 || !started {
				return bad(codeInvalidJSON, "the request body is not valid JSON: unexpected end")
			}
			return nil
		}
		if err != nil {
			return bad(codeInvalidJSON, "the request body is not valid JSON: "+strings.TrimPrefix(err.Error(), "json: "))
		}
		if !started {
			if d, ok := tok.(json.Delim); !ok || d != '{' {
				return bad(codeInvalidJSON, "the request body must be a JSON object")
			}
		} else if len(stack) == 0 {
			return bad(codeInvalidJSON, "the request body must hold one JSON object and nothing after it")
		}
		started = true

		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey { // a member name, or the end of the object
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			name, _ := tok.(string) // the decoder yields only strings here
			field := joinPath(top.path, name)
			if top.keys[strings.ToLower(name)] {
				return bad(codeDuplicateField, field+" appears twice").withField(field, "appears twice")
			}
			top.keys[strings.ToLower(name)] = true
			top.wantKey, top.key, top.elem = false, name, nil
			if top.typ != nil {
				ft, ok := memberType(top.typ, name)
				if !ok {
					return bad(codeUnknownField, field+" is not a known field").withField(field, "unknown field")
				}
				top.elem = ft
			}
			continue
		}
		// A value, or the end of an array.
		valueType, valuePath := t, ""
		if top != nil {
			if d, ok := tok.(json.Delim); ok && d == ']' {
				stack = stack[:len(stack)-1]
				continue
			}
			valueType = top.elem
			if top.object {
				top.wantKey = true
				valuePath = joinPath(top.path, top.key)
			} else {
				valuePath = top.path + "[" + strconv.Itoa(top.index) + "]"
				top.index++
			}
		}
		d, ok := tok.(json.Delim)
		if !ok {
			continue // a scalar
		}
		if len(stack) >= maxJSONDepth {
			return bad(codeInvalidJSON, fmt.Sprintf("the request body nests deeper than %d levels", maxJSONDepth))
		}
		f := &frame{object: d == '{', wantKey: d == '{', keys: map[string]bool{}, path: valuePath}
		switch vt := deref(valueType); {
		case vt == nil:
		case f.object && vt.Kind() == reflect.Struct:
			f.typ = vt
		case !f.object && (vt.Kind() == reflect.Slice || vt.Kind() == reflect.Array):
			f.elem = vt.Elem()
		}
		stack = append(stack, f)
	}
}

func joinPath(parent, name string) string {
	if parent == "" {
		return name
	}
	if name == "" {
		return parent
	}
	return parent + "." + name
}

func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// memberType returns the type of the exported field of struct type t whose json name is
// exactly name.
func memberType(t reflect.Type, name string) (reflect.Type, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if tag == name {
			return f.Type, true
		}
	}
	return nil, false
}
