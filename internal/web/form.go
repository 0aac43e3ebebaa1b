package web

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/valetauth/valet/internal/oauth"
)

// readForm reads an application/x-www-form-urlencoded POST body of at most
// limit bytes and returns it raw; callers parse it strictly.
func readForm(w http.ResponseWriter, r *http.Request, limit int64) (string, *pageError) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return "", badRequestPage("The form was not sent as a web form.",
			oauth.Errorf(oauth.InvalidRequest, "the Content-Type must be application/x-www-form-urlencoded"))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return "", &pageError{status: http.StatusRequestEntityTooLarge, page: errorPage{
				Title: "This request cannot continue", Message: "The form is too large.", Code: oauth.InvalidRequest}}
		}
		return "", badRequestPage("The form could not be read.", nil)
	}
	return string(body), nil
}

// formValues parses a form body strictly: well-formed, each parameter at
// most once, empty values dropped (RFC 6749 §3.1).
func formValues(raw string) (map[string]string, *pageError) {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return nil, badRequestPage("The form is not well-formed.", nil)
	}
	m, err := oauth.SingleValues(v)
	if err != nil {
		return nil, badRequestPage("The form is not well-formed.", oauth.From(err))
	}
	return m, nil
}

// unixTime parses a positive decimal Unix time.
func unixTime(s string) (time.Time, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}
