package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/secret"
)

// Handler serves the admin API under /admin/. Its fields are its
// dependencies; set them with a struct literal and call Register.
type Handler struct {
	Clients  valet.ClientStore
	Users    valet.UserStore
	Digester *secret.Digester // makes the digest of a new client secret
	// Keys and Rotator serve /admin/keys and /admin/keys/rotate; set both
	// or neither (nil leaves the routes out).
	Keys    KeyLister
	Rotator Rotator
	// Introspector serves /admin/introspect; nil leaves it out.
	Introspector Introspector
	// Token is the admin token every request must present as a bearer token.
	// An empty Token refuses every request.
	Token string
	Log   *slog.Logger     // nil discards
	Now   func() time.Time // nil means time.Now
}

// Register adds the admin API's routes to mux. Every route, including an
// unknown path under /admin/ and a wrong method, checks the admin token
// first, so nothing about the API or its data shows without it.
func (h *Handler) Register(mux *http.ServeMux) {
	h.route(mux, "/admin/clients", map[string]http.HandlerFunc{
		http.MethodGet:  h.listClients,
		http.MethodPost: h.createClient,
	})
	h.route(mux, "/admin/clients/{id}", map[string]http.HandlerFunc{
		http.MethodGet:    h.getClient,
		http.MethodPut:    h.updateClient,
		http.MethodDelete: h.deleteClient,
	})
	h.route(mux, "/admin/users", map[string]http.HandlerFunc{
		http.MethodGet:  h.listUsers,
		http.MethodPost: h.createUser,
	})
	h.route(mux, "/admin/users/{id}", map[string]http.HandlerFunc{
		http.MethodGet:    h.getUser,
		http.MethodPut:    h.updateUser,
		http.MethodDelete: h.deleteUser,
	})
	switch {
	case h.Keys != nil && h.Rotator != nil:
		h.route(mux, "/admin/keys", map[string]http.HandlerFunc{http.MethodGet: h.listKeys})
		h.route(mux, "/admin/keys/rotate", map[string]http.HandlerFunc{http.MethodPost: h.rotateKeys})
	case h.Keys != nil || h.Rotator != nil:
		panic("admin: set both Keys and Rotator, or neither")
	}
	if h.Introspector != nil {
		h.route(mux, "/admin/introspect", map[string]http.HandlerFunc{http.MethodPost: h.introspect})
	}
	mux.Handle("/admin/", h.guard(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, oauth.Errorf(oauth.NotFound, "no admin API at %s", r.URL.Path))
	}))
}

// route registers "METHOD path" for each method, and path alone for every
// other method, answering 405 with Allow.
func (h *Handler) route(mux *http.ServeMux, path string, methods map[string]http.HandlerFunc) {
	allow := make([]string, 0, len(methods)+1)
	for m, fn := range methods {
		mux.Handle(m+" "+path, h.guard(fn))
		allow = append(allow, m)
		if m == http.MethodGet {
			allow = append(allow, http.MethodHead)
		}
	}
	slices.Sort(allow)
	mux.Handle(path, h.guard(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, &oauth.Error{Code: oauth.InvalidRequest, StatusCode: http.StatusMethodNotAllowed,
			Description: r.Method + " is not allowed here; use " + strings.Join(allow, ", "),
			Header:      http.Header{"Allow": {strings.Join(allow, ", ")}}})
	}))
}

// guard lets a request through only with "Authorization: Bearer <admin
// token>" (RFC 6750 §2.1).
func (h *Handler) guard(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.authorized(r) {
			h.log().WarnContext(r.Context(), "admin: refused a request without the admin token",
				"method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			oauth.WriteJSON(w, &oauth.Error{Code: oauth.InvalidToken,
				Description: "send the admin token as Authorization: Bearer TOKEN",
				Header:      http.Header{"Www-Authenticate": {`Bearer realm="valet-admin", error="invalid_token"`}}})
			return
		}
		next(w, r)
	})
}

// authorized compares SHA-256 digests of the presented and the real token in
// constant time, so that neither the content nor the length of the token
// leaks through timing.
func (h *Handler) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || h.Token == "" {
		return false
	}
	got := sha256.Sum256([]byte(token))
	want := sha256.Sum256([]byte(h.Token))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// fail writes err in the OAuth JSON shape. A validation error keeps its RFC
// 7591 code; anything that is neither that nor an *oauth.Error is logged and
// sent as server_error without its cause.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *oauth.Error
	if ve, ok := errors.AsType[*valet.ValidationError](err); ok {
		e = &oauth.Error{Code: ve.Code, Description: ve.Field + ": " + ve.Message}
	} else {
		e = oauth.From(err)
	}
	if e.Code == oauth.ServerError {
		h.log().ErrorContext(r.Context(), "admin: request failed", "method", r.Method, "path", r.URL.Path, "err", e.Err)
	}
	// oauth.SafeDescription turns '"' into '?'; single quotes keep the
	// descriptions, which quote the offending values, readable.
	out := *e
	out.Description = strings.ReplaceAll(e.Description, `"`, "'")
	oauth.WriteJSON(w, &out)
}

// storeError maps the two expected store failures to not_found and conflict
// about kind (a client or a user) named id; others become server_error.
func storeError(err error, kind, id string) error {
	switch {
	case errors.Is(err, valet.ErrNotFound):
		return oauth.Errorf(oauth.NotFound, "no %s with id %q", kind, id)
	case errors.Is(err, valet.ErrExists):
		return oauth.Errorf(oauth.Conflict, "the %s already exists", kind)
	}
	return err
}

// now is the current time at the precision every store keeps (PostgreSQL
// timestamps hold microseconds), so a response matches a later read.
func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now().UTC().Truncate(time.Microsecond)
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.New(slog.DiscardHandler)
}

// idEncoding writes identifiers in lower-case base32: URL-safe, easy to read
// aloud and to select with a double click, and never starting with '-', which
// a command line would take for a flag.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns a fresh client or user ID of 128 random bits (26 characters).
func newID() string { return idEncoding.EncodeToString(secret.Bytes(16)) }
