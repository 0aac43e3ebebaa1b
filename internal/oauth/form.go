package oauth

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Request size limits (catalogue pin P23).
const (
	// MaxFormBytes is the default limit on a POSTed form body: 64 KiB.
	MaxFormBytes = 64 << 10
	// MaxQueryBytes is the limit on the query string of an authorization
	// request: 8 KiB.
	MaxQueryBytes = 8 << 10
	// MaxParams is the most parameters one request may carry; more are
	// refused before any of them is decoded.
	MaxParams = 1000
)

// ParseForm reads the application/x-www-form-urlencoded body of a POST to a
// credentialed endpoint (token, revocation, introspection, PAR) and returns its
// parameters, each with exactly one non-empty value. The query string is never
// read or merged. Bodies over maxBytes (MaxFormBytes when maxBytes <= 0) are
// refused with 413.
//
// Every failure is an invalid_request *Error: 405 with Allow: POST for another
// method (catalogue pin P2), 413 for an oversized body, 400 otherwise.
func ParseForm(w http.ResponseWriter, r *http.Request, maxBytes int64) (url.Values, error) {
	body, err := readForm(w, r, maxBytes)
	if err != nil {
		return nil, err
	}
	return parseParams(body, "request body", "")
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// readForm applies ParseForm's checks of method, Content-Type and size and
// returns the body.
func readForm(w http.ResponseWriter, r *http.Request, maxBytes int64) (string, error) {
	if maxBytes <= 0 {
		maxBytes = MaxFormBytes
	}
	// RFC 6749 §3.2: "The client MUST use the HTTP "POST" method when making
	// access token requests."
	if r.Method != http.MethodPost {
		return "", &Error{Code: InvalidRequest, Description: "the method must be POST",
			StatusCode: http.StatusMethodNotAllowed, Header: http.Header{"Allow": {http.MethodPost}}}
	}
	// RFC 6749 §4.1.3: parameters are sent "using the
	// application/x-www-form-urlencoded format"; JSON and multipart bodies are
	// refused, not guessed at (catalogue IP-01f).
	ct := r.Header.Values("Content-Type")
	if len(ct) != 1 {
		return "", Errorf(InvalidRequest, "the Content-Type must be application/x-www-form-urlencoded")
	}
	mt, _, err := mime.ParseMediaType(ct[0])
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return "", Errorf(InvalidRequest, "the Content-Type must be application/x-www-form-urlencoded")
	}
	tooLarge := &Error{Code: InvalidRequest, Description: "the request body is too large",
		StatusCode: http.StatusRequestEntityTooLarge}
	if r.ContentLength > maxBytes {
		return "", tooLarge
	}
	// Read straight into a strings.Builder so the body is not copied again
	// to become a string (catalogue R10 F1: allocations stay within 4 times
	// the body).
	var body strings.Builder
	if r.Body != nil {
		if r.ContentLength > 0 {
			body.Grow(int(r.ContentLength))
		}
		// The copy buffer is pooled: a fresh 4 KB a request was a fifth of
		// the bytes a client-credentials token allocated.
		buf := copyBufs.Get().(*[]byte)
		_, err := io.CopyBuffer(&body, http.MaxBytesReader(w, r.Body, maxBytes), *buf)
		copyBufs.Put(buf)
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				return "", tooLarge
			}
			return "", &Error{Code: InvalidRequest, Description: "the request body could not be read", Err: err}
		}
	}
	return body.String(), nil
}

// ParseQuery parses the raw query string of an authorization request strictly:
// at most MaxQueryBytes, well-formed percent-encoding, no semicolon separators,
// and then the rules of SingleValues. Unlike net/url's Request.URL.Query, it
// does not silently drop malformed pairs, so "client_id=a&client_id=%zz" is a
// repeated parameter, not a single one.
func ParseQuery(rawQuery string) (map[string]string, error) {
	if len(rawQuery) > MaxQueryBytes {
		return nil, Errorf(InvalidRequest, "the query string is longer than %d bytes", MaxQueryBytes)
	}
	v, err := parseParams(rawQuery, "query string", "")
	if err != nil {
		return nil, err
	}
	return SingleValues(v)
}

// parseParams decodes an application/x-www-form-urlencoded string exactly as
// url.ParseQuery does, but refuses what ParseQuery would skip or keep:
// malformed pairs, semicolon separators, more than MaxParams parameters and
// repeated parameters, except multi (see ParseFormResources), which may
// repeat when it is not "". Parameters with empty values are dropped.
func parseParams(s, where, multi string) (url.Values, error) {
	// Counted before decoding, so a flood of tiny pairs costs one pass.
	n := strings.Count(s, "&") + 1
	if n > MaxParams {
		return nil, Errorf(InvalidRequest, "the %s has more than %d parameters", where, MaxParams)
	}
	malformed := func(err error) error {
		return &Error{Code: InvalidRequest, Err: err,
			Description: "the " + where + " is not well-formed application/x-www-form-urlencoded data"}
	}
	v := make(url.Values, n)
	// One backing array for every value; each slice gets capacity 1 so that
	// an append by a caller cannot write into its neighbour.
	values := make([]string, n)
	var repeated []string
	for i := 0; s != ""; i++ {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if strings.Contains(pair, ";") {
			return nil, malformed(errors.New("semicolon separator"))
		}
		if pair == "" {
			continue
		}
		k, val, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(k)
		if err != nil {
			return nil, malformed(err)
		}
		if val, err = url.QueryUnescape(val); err != nil {
			return nil, malformed(err)
		}
		if _, ok := v[k]; ok {
			if k == multi && multi != "" {
				v[k] = append(v[k], val)
				continue
			}
			repeated = append(repeated, k)
			continue
		}
		values[i] = val
		v[k] = values[i : i+1 : i+1]
	}
	if len(repeated) > 0 {
		return nil, repeatedError(repeated)
	}
	dropEmpty(v)
	return v, nil
}

// SingleValues turns already-decoded parameters (such as r.URL.Query() of an
// authorization request) into a map with one value per name. A parameter given
// more than once is invalid_request, whatever its values (RFC 6749 §3.1);
// parameters with an empty value are dropped as if omitted.
//
// On error it returns nil. The authorization endpoint must then decide between
// an error page and an error redirect from q itself: a repeated client_id or
// redirect_uri leaves no redirect URI to trust (catalogue IP-01a), so it shows
// the page.
func SingleValues(q url.Values) (map[string]string, error) {
	n := 0
	for _, vs := range q {
		n += len(vs)
	}
	if n > MaxParams {
		return nil, Errorf(InvalidRequest, "the request has more than %d parameters", MaxParams)
	}
	if err := checkRepeats(q); err != nil {
		return nil, err
	}
	m := make(map[string]string, len(q))
	for k, vs := range q {
		if len(vs) == 1 && vs[0] != "" {
			m[k] = vs[0]
		}
	}
	return m, nil
}

// checkRepeats refuses any parameter that appears more than once.
func checkRepeats(v url.Values) error {
	var repeated []string
	for k, vs := range v {
		if len(vs) > 1 {
			repeated = append(repeated, k)
		}
	}
	if len(repeated) == 0 {
		return nil
	}
	return repeatedError(repeated)
}

// repeatedError names the repeated parameters, sorted so that the
// description is stable, and at most five of them.
func repeatedError(repeated []string) *Error {
	slices.Sort(repeated)
	repeated = slices.Compact(repeated)
	var names []string
	for _, k := range repeated[:min(len(repeated), 5)] {
		names = append(names, paramName(k))
	}
	desc := strings.Join(names, ", ")
	if len(repeated) > len(names) {
		desc += ", ..."
	}
	// RFC 6749 §3.1 and §3.2: "Request and response parameters MUST NOT be
	// included more than once."
	return Errorf(InvalidRequest, "parameter included more than once: %s (RFC 6749 section 3.1)", desc)
}

// dropEmpty deletes parameters whose only value is empty. RFC 6749 §3.1:
// "Parameters sent without a value MUST be treated as if they were omitted
// from the request."
func dropEmpty(v url.Values) {
	for k, vs := range v {
		if len(vs) == 1 && vs[0] == "" {
			delete(v, k)
		}
	}
}

// paramName returns k for use in an error description when it looks like a
// parameter name, so that no attacker-chosen bytes are reflected.
func paramName(k string) string {
	if k == "" || len(k) > 64 {
		return "(a name not shown)"
	}
	for i := 0; i < len(k); i++ {
		if b := k[i]; !isAlnum(b) && b != '_' && b != '-' && b != '.' {
			return "(a name not shown)"
		}
	}
	return k
}
