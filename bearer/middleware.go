package bearer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
)

type tokenKey struct{}

// FromContext returns the token that Require verified for this request.
func FromContext(ctx context.Context) (*Token, bool) {
	t, ok := ctx.Value(tokenKey{}).(*Token)
	return t, ok
}

// Require returns middleware that admits a request only with a valid bearer
// token carrying every one of scopes, and puts the token in the request's
// context for FromContext. Otherwise it answers as RFC 6750 §3 says:
//
//   - no credentials, or another scheme than Bearer: 401 with
//     WWW-Authenticate: Bearer realm="…" and no error code (§3.1);
//   - a token that is malformed, expired, revoked, for another audience or
//     otherwise refused: 401 with error="invalid_token";
//   - a valid token without a required scope: 403 with
//     error="insufficient_scope" and scope="…", the scopes required;
//   - more than one Authorization header: 400 with error="invalid_request";
//   - a token that cannot be checked because the authorization server is
//     unreachable: 503 with Retry-After, logged at Error. The request is
//     refused (fail closed) but the client is not told its token is bad,
//     so it does not throw it away and hammer the authorization server for
//     a new one.
//
// Only the Authorization header is read. A token in the query string or in
// a form body is never accepted (RFC 6750 §2.2–2.3 are optional, and
// RFC 9700 §4.3.2 advises against the query string). The scheme name is
// matched case-insensitively (RFC 9110 §11.1).
//
// Require panics if a scope is not an RFC 6749 §3.3 scope token.
func (v *Verifier) Require(scopes ...string) func(http.Handler) http.Handler {
	for _, s := range scopes {
		if !validScope(s) {
			panic(fmt.Sprintf("bearer: Require: %q is not a scope token", s))
		}
	}
	required := strings.Join(scopes, " ")
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, err := tokenFromHeader(r.Header)
			if err != nil {
				v.refuse(w, r, err, required)
				return
			}
			tok, err := v.Verify(r.Context(), raw)
			if err != nil {
				v.refuse(w, r, err, required)
				return
			}
			for _, s := range scopes {
				if !tok.HasScope(s) {
					v.refuse(w, r, errInsufficientScope, required)
					return
				}
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok)))
		})
	}
}

// Errors the middleware answers that Verify does not return.
var (
	errNoCredentials     = errors.New("no bearer token")
	errInsufficientScope = errors.New("insufficient scope")
	errSeveralHeaders    = errors.New("more than one Authorization header")
)

// tokenFromHeader reads the token of an "Authorization: Bearer" header.
func tokenFromHeader(h http.Header) (string, error) {
	values := h.Values("Authorization")
	switch {
	case len(values) == 0:
		return "", errNoCredentials
	case len(values) > 1:
		// RFC 6750 §3.1 invalid_request: the request "repeats the same parameter".
		return "", errSeveralHeaders
	}
	scheme, rest, _ := strings.Cut(values[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		// §3.1: a client that "attempted using an unsupported authentication
		// scheme" gets a challenge without an error code.
		return "", errNoCredentials
	}
	// What follows must be one b64token (RFC 6750 §2.1); Verify checks it.
	return strings.Trim(rest, " \t"), nil
}

// refuse answers a refused request: status, WWW-Authenticate and a small
// JSON body. Causes go to the log, never to the client.
func (v *Verifier) refuse(w http.ResponseWriter, r *http.Request, err error, required string) {
	status, code, desc, scope, level := http.StatusUnauthorized, CodeInvalidToken, "the token is invalid", "", slog.LevelDebug
	var e *Error
	switch {
	case errors.Is(err, errNoCredentials):
		code, desc = "", "a bearer token is required"
	case errors.Is(err, errSeveralHeaders):
		status, code, desc = http.StatusBadRequest, "invalid_request", "send one Authorization header"
	case errors.Is(err, errInsufficientScope):
		// RFC 6750 §3.1: 403, and scope names what the request needs.
		status, code, desc, scope = http.StatusForbidden, "insufficient_scope", "the token lacks a required scope", required
	case errors.As(err, &e) && e.Code == CodeUnavailable:
		status, code, desc, level = http.StatusServiceUnavailable, CodeUnavailable, "the token cannot be checked now; try again later", slog.LevelError
	case errors.As(err, &e):
		desc = e.Description
	}
	v.log.Log(r.Context(), level, "bearer: request refused", "method", r.Method, "path", r.URL.Path,
		"status", status, "error", code, "cause", err)

	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	} else {
		w.Header().Set("WWW-Authenticate", v.challenge(code, desc, scope))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if code == "" {
		code = "unauthorized"
	}
	json.NewEncoder(w).Encode(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{code, desc})
}

// challenge builds a Bearer challenge (RFC 6750 §3).
func (v *Verifier) challenge(code, desc, scope string) string {
	var b strings.Builder
	b.WriteString("Bearer realm=")
	b.WriteString(quote(v.cfg.Realm))
	if code != "" {
		b.WriteString(", error=")
		b.WriteString(quote(code))
		if desc != "" {
			b.WriteString(", error_description=")
			b.WriteString(quote(desc))
		}
	}
	if scope != "" {
		b.WriteString(", scope=")
		b.WriteString(quote(scope))
	}
	if v.cfg.ResourceMetadataURL != "" {
		// RFC 9728 §5.1.
		b.WriteString(", resource_metadata=")
		b.WriteString(quote(v.cfg.ResourceMetadataURL))
	}
	return b.String()
}

// quote makes a quoted-string of s. RFC 6750 §3 limits the values of error,
// error_description and scope to %x20-21 / %x23-5B / %x5D-7E, so '"', '\'
// and anything outside printable ASCII are dropped rather than escaped.
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// validScope reports whether s is a scope token (RFC 6749 §3.3:
// 1*( %x21 / %x23-5B / %x5D-7E )).
func validScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
