package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Error codes from RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, RFC 7009 §2.2.1,
// RFC 8707 and OpenID Connect Core §3.1.2.6; not_found and conflict are the
// admin API's own.
const (
	InvalidRequest          = "invalid_request"
	InvalidClient           = "invalid_client"
	InvalidGrant            = "invalid_grant"
	UnauthorizedClient      = "unauthorized_client"
	UnsupportedGrantType    = "unsupported_grant_type"
	UnsupportedResponseType = "unsupported_response_type"
	InvalidScope            = "invalid_scope"
	InvalidTarget           = "invalid_target"
	InvalidToken            = "invalid_token"
	InsufficientScope       = "insufficient_scope"
	AccessDenied            = "access_denied"
	LoginRequired           = "login_required"
	ConsentRequired         = "consent_required"
	InteractionRequired     = "interaction_required"
	UnsupportedTokenType    = "unsupported_token_type"
	ServerError             = "server_error"
	TemporarilyUnavailable  = "temporarily_unavailable"
	NotFound                = "not_found"
	Conflict                = "conflict"
	InvalidRedirectURI      = "invalid_redirect_uri"
	InvalidClientMetadata   = "invalid_client_metadata"
	RateLimited             = "slow_down"
)

// Error is an OAuth 2.0 error response. Code and Description are sent to the
// client; Err is the internal cause: logged, never sent.
type Error struct {
	Code        string
	Description string
	Err         error
	// StatusCode overrides the status chosen from Code (for example 429 or 405).
	StatusCode int
	// Header holds extra response headers, such as Retry-After or WWW-Authenticate.
	Header http.Header
}

func (e *Error) Error() string {
	s := e.Code
	if e.Description != "" {
		s += ": " + e.Description
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Status is the HTTP status for the error: 401 for invalid_client and
// invalid_token, 403 insufficient_scope, 404 not_found, 409 conflict,
// 500 server_error, 503 temporarily_unavailable, 400 otherwise.
func (e *Error) Status() int {
	if e.StatusCode != 0 {
		return e.StatusCode
	}
	switch e.Code {
	case InvalidClient, InvalidToken:
		return http.StatusUnauthorized
	case InsufficientScope:
		return http.StatusForbidden
	case NotFound:
		return http.StatusNotFound
	case Conflict:
		return http.StatusConflict
	case ServerError:
		return http.StatusInternalServerError
	case TemporarilyUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

// Errorf returns a new *Error. There are no shared error values to mutate.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Description: fmt.Sprintf(format, args...)}
}

// Internal reports an unexpected failure as server_error without revealing it.
func Internal(err error) *Error {
	return &Error{Code: ServerError, Description: "the server met an unexpected error", Err: err}
}

// Unavailable reports a storage outage: 503, Retry-After, temporarily_unavailable
// (catalogue pin P7), so clients keep their codes and tokens and retry.
func Unavailable(err error) *Error {
	return &Error{Code: TemporarilyUnavailable, Description: "the server cannot reach its database; retry shortly",
		Err: err, Header: http.Header{"Retry-After": {"5"}}}
}

// From returns err as an *Error, or Internal(err).
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Internal(err)
}

// SafeDescription keeps only the characters RFC 6749 §4.1.2.1 allows in
// error_description (%x20-21 / %x23-5B / %x5D-7E), so no input reflected in a
// description can inject quotes, backslashes, line breaks or markup.
func SafeDescription(s string) string {
	if len(s) > 500 {
		s = s[:500]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '?'
		}
		return r
	}, s)
}

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// NoStore sets the headers every sensitive JSON response carries (RFC 6749
// §5.1, catalogue §3.1).
func NoStore(h http.Header) {
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
}

// WriteJSON writes err as the JSON body of RFC 6749 §5.2 with no-store headers.
// Anything that is not an *Error is sent as server_error.
func WriteJSON(w http.ResponseWriter, err error) {
	e := From(err)
	h := w.Header()
	for k, v := range e.Header {
		h[k] = v
	}
	NoStore(h)
	w.WriteHeader(e.Status())
	json.NewEncoder(w).Encode(errorBody{Error: e.Code, Description: SafeDescription(e.Description)})
}

// WriteJSONValue writes v as a JSON response with no-store headers.
func WriteJSONValue(w http.ResponseWriter, status int, v any) {
	NoStore(w.Header())
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
