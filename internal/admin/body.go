package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/valetauth/valet/internal/oauth"
)

// maxBody is the largest request body the admin API reads. The biggest
// legitimate one, a client with 20 redirect URIs of 2000 characters, is
// well under it.
const maxBody = 64 << 10

// maxDepth bounds how deeply a body may nest arrays and objects.
const maxDepth = 16

// decodeBody reads r's body into v, which must point to a struct. It insists
// on Content-Type application/json, at most maxBody bytes, exactly one JSON
// object, no member named twice at any depth, and no top-level member that v
// does not declare (exact case: encoding/json alone would accept
// "Client_Name" for client_name and a duplicate member, silently keeping the
// last). Malformed JSON is invalid_request; well-formed JSON with the wrong
// members or types is code, so that clients get invalid_client_metadata.
func decodeBody(w http.ResponseWriter, r *http.Request, code string, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return oauth.Errorf(oauth.InvalidRequest, "send the body as JSON with Content-Type: application/json")
	}
	tooLarge := &oauth.Error{Code: oauth.InvalidRequest, StatusCode: http.StatusRequestEntityTooLarge,
		Description: fmt.Sprintf("the request body is larger than %d bytes", maxBody)}
	if r.ContentLength > maxBody {
		return tooLarge
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return tooLarge
		}
		return oauth.Errorf(oauth.InvalidRequest, "cannot read the request body")
	}
	if err := checkObject(data, memberNames(reflect.TypeOf(v).Elem()), code); err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			// Field is a path such as "ClientMetadata.scope" when the member
			// belongs to an embedded struct; every member here is top-level.
			field := te.Field[strings.LastIndex(te.Field, ".")+1:]
			return oauth.Errorf(code, "%s: must be %s, not a JSON %s", field, kindOf(te.Type), te.Value)
		}
		return oauth.Errorf(code, "the request body does not fit: %v", err)
	}
	return nil
}

// checkObject reports the first thing wrong with data as a request body.
func checkObject(data []byte, known map[string]bool, code string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err == io.EOF {
		return oauth.Errorf(oauth.InvalidRequest, "the request body is empty: send a JSON object")
	}
	if err != nil {
		return syntaxError(err)
	}
	if tok != json.Delim('{') {
		return oauth.Errorf(oauth.InvalidRequest, "the request body must be a JSON object")
	}
	if err := walkObject(dec, known, code, "", 1); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return oauth.Errorf(oauth.InvalidRequest, "the request body has data after the JSON object: send exactly one object")
	}
	return nil
}

// walkObject reads the members of an object whose '{' was just read. known,
// when not nil, lists the member names allowed.
func walkObject(dec *json.Decoder, known map[string]bool, code, path string, depth int) error {
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		key, _ := tok.(string)
		name := path + key
		if seen[key] {
			return oauth.Errorf(code, "member %q appears twice: send each member once", name)
		}
		seen[key] = true
		if known != nil && !known[key] {
			return oauth.Errorf(code, "unknown member %q: the members are %s", name, strings.Join(sortedKeys(known), ", "))
		}
		if err := walkValue(dec, code, name, depth); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return syntaxError(err)
	}
	return nil
}

func walkValue(dec *json.Decoder, code, path string, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return syntaxError(err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if depth >= maxDepth {
		return oauth.Errorf(code, "the request body nests more than %d levels deep", maxDepth)
	}
	if d == '{' {
		return walkObject(dec, nil, code, path+".", depth+1)
	}
	for i := 0; dec.More(); i++ { // d == '['
		if err := walkValue(dec, code, fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return syntaxError(err)
	}
	return nil
}

func syntaxError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return oauth.Errorf(oauth.InvalidRequest, "the request body is not valid JSON: it ends before the object does")
	}
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return oauth.Errorf(oauth.InvalidRequest, "the request body is not valid JSON: %v (at byte %d)", err, se.Offset)
	}
	return oauth.Errorf(oauth.InvalidRequest, "the request body is not valid JSON: %v", err)
}

// memberNames lists the JSON member names of struct type t, including those
// of embedded structs.
func memberNames(t reflect.Type) map[string]bool {
	names := make(map[string]bool)
	for f := range t.Fields() {
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			for n := range memberNames(f.Type) {
				names[n] = true
			}
			continue
		}
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			names[name] = true
		}
	}
	return names
}

// kindOf names a Go type the way a JSON author thinks of it.
func kindOf(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(kindOf(t.Elem()), "a "), "an ") + "s"
	case reflect.Bool:
		return "true or false"
	case reflect.Map:
		return "a JSON object"
	case reflect.Int, reflect.Int64, reflect.Uint64, reflect.Float64:
		return "a number"
	}
	return "a " + t.String()
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
