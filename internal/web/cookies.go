package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/secret"
)

// Cookie names. With Secure the __Host- prefix makes the browser insist on
// Secure, Path=/ and no Domain, so a sibling subdomain cannot plant or
// shadow the cookie (RFC 6265bis §4.1.3.2).
const (
	sessionCookie = "valet_session"
	csrfCookie    = "valet_csrf"
	hostPrefix    = "__Host-"
	sessionPrefix = "vs_" // session cookie values
	loginPrefix   = "lc_" // login-CSRF cookie values
)

func (h *Handler) cookieName(base string) string {
	if h.Secure {
		return hostPrefix + base
	}
	return base
}

// setCookie sets a cookie with the attributes every Valet cookie has:
// HttpOnly, SameSite=Lax, Path=/, Secure when the issuer is https.
func (h *Handler) setCookie(w http.ResponseWriter, base, value string, maxAge time.Duration) {
	c := &http.Cookie{
		Name:     h.cookieName(base),
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		Secure:   h.Secure,
		SameSite: http.SameSiteLaxMode,
	}
	if maxAge < 0 {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}

// cookieValue returns the value of the named cookie when it has the shape
// Valet gives its values (prefix and 43 base64url characters), else "".
func (h *Handler) cookieValue(r *http.Request, base, prefix string) string {
	c, err := r.Cookie(h.cookieName(base))
	if err != nil {
		return ""
	}
	v, ok := strings.CutPrefix(c.Value, prefix)
	if !ok || len(v) != 43 {
		return ""
	}
	if _, err := base64.RawURLEncoding.DecodeString(v); err != nil {
		return ""
	}
	return c.Value
}

// signedIn is a valid session and its user.
type signedIn struct {
	session *valet.Session
	user    *valet.User
}

// session returns the browser's session, nil when it has none that is valid
// now. Only the digest of the cookie value is looked up; a cookie value that
// Valet did not issue finds nothing and is never adopted (CS-04a).
func (h *Handler) session(ctx context.Context, r *http.Request) (*signedIn, error) {
	v := h.cookieValue(r, sessionCookie, sessionPrefix)
	if v == "" {
		return nil, nil
	}
	s, err := h.Sessions.Get(ctx, h.Digester.Digest(secret.PurposeSession, v))
	if errors.Is(err, valet.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !h.now().Before(s.ExpiresAt) {
		return nil, nil
	}
	u, err := h.Users.Get(ctx, s.UserID)
	if errors.Is(err, valet.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &signedIn{session: s, user: u}, nil
}

// startSession creates a new session for user with a fresh random id and
// sets its cookie. The session the browser had before, if any, is deleted:
// the id changes at every sign-in (session fixation, CS-04a).
func (h *Handler) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, user *valet.User) error {
	if old := h.cookieValue(r, sessionCookie, sessionPrefix); old != "" {
		if err := h.Sessions.Delete(ctx, h.Digester.Digest(secret.PurposeSession, old)); err != nil {
			return err
		}
	}
	value := secret.Token(sessionPrefix)
	now := h.now()
	s := &valet.Session{
		ID: h.Digester.Digest(secret.PurposeSession, value),
		// The public "sid" of ID and logout tokens: random, so that it says
		// nothing about the cookie, and new with every sign-in.
		SID:       secret.ID(""),
		UserID:    user.ID,
		AuthTime:  now,
		CreatedAt: now,
		ExpiresAt: now.Add(h.SessionTTL),
	}
	if err := h.Sessions.Create(ctx, s); err != nil {
		return err
	}
	h.setCookie(w, sessionCookie, value, h.SessionTTL)
	return nil
}

// mac returns base64url(HMAC-SHA-256) of the parts, under the CSRF key.
// Parts are joined with NUL, which none of them can contain, so two
// different lists never give the same input.
func (h *Handler) mac(parts ...string) string {
	m := hmac.New(sha256.New, h.Digester.Key(secret.PurposeCSRF))
	m.Write([]byte(strings.Join(parts, "\x00")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// macEqual compares two MACs in constant time.
func macEqual(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }
