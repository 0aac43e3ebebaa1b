package web

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/throttle"
)

// maxReturnTo bounds return_to: the canonical request of an 8 KiB query,
// percent-encoded once more, still fits.
const maxReturnTo = 3 * oauth.MaxQueryBytes

// wrongCredentials is the one message for an unknown user and a wrong
// password, so that the page does not tell which usernames exist.
const wrongCredentials = "Wrong username or password."

// loginPage serves GET /login: the sign-in form. The browser gets a login
// CSRF cookie, and the form a MAC of it (catalogue CS-04b).
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	q, err := oauth.ParseQuery(r.URL.RawQuery)
	if err != nil {
		h.showError(w, badRequestPage("The sign-in address is not well-formed.", nil))
		return
	}
	returnTo := q["return_to"]
	if !validReturnTo(returnTo) {
		h.showError(w, badReturnTo())
		return
	}
	token := h.cookieValue(r, csrfCookie, loginPrefix)
	if token == "" {
		token = secret.Token(loginPrefix)
		h.setCookie(w, csrfCookie, token, 0) // a browser-session cookie
	}
	name, hint := h.aboutRequest(r.Context(), returnTo)
	h.pages.login(w, http.StatusOK, loginPage{
		ClientName: name,
		// OIDC Core §3.1.2.1: login_hint pre-fills the username.
		Username: hint,
		CSRF:     h.mac("login", token),
		ReturnTo: returnTo,
	})
}

// login serves POST /login. It sits behind the cross-origin check, then
// requires the login CSRF token, limits failures per address and per
// account, checks the password with argon2id, and on success starts a new
// session and returns to /authorize with 303.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	raw, pe := readForm(w, r, oauth.MaxFormBytes)
	if pe != nil {
		h.showError(w, pe)
		return
	}
	form, pe := formValues(raw)
	if pe != nil {
		h.showError(w, pe)
		return
	}
	returnTo := form["return_to"]
	if !validReturnTo(returnTo) {
		h.showError(w, badReturnTo())
		return
	}
	// Login CSRF (RFC 6819 §4.4.1.8, catalogue CS-04b): without this a
	// cross-site form could sign the victim in to the attacker's account.
	token := h.cookieValue(r, csrfCookie, loginPrefix)
	if token == "" || !macEqual(form["csrf"], h.mac("login", token)) {
		h.Log.Info("login: csrf check failed")
		h.showError(w, &pageError{status: http.StatusForbidden, page: errorPage{
			Title:   "Request refused",
			Message: "The sign-in form had expired or did not come from Valet. Go back to the app and start again.",
		}})
		return
	}
	name, _ := h.aboutRequest(ctx, returnTo)
	page := loginPage{
		ClientName: name,
		Username:   form["username"],
		CSRF:       form["csrf"],
		ReturnTo:   returnTo,
	}
	username, password := form["username"], form["password"]
	if username == "" || password == "" {
		page.Error = "Enter your username and password."
		h.pages.login(w, http.StatusBadRequest, page)
		return
	}

	// RFC 6749 §10.10 and catalogue DS-04: limit guessing per address and
	// per account; an attempt in flight counts until it is known to pass.
	byAddr, wait := h.AddressLimiter.Begin("addr:" + throttle.AddressKey(r))
	if byAddr == nil {
		h.tooMany(w, page, wait)
		return
	}
	byUser, wait := h.AccountLimiter.Begin(throttle.AccountKey(username))
	if byUser == nil {
		byAddr.Succeed() // refused before any password was checked
		h.tooMany(w, page, wait)
		return
	}
	user, err := h.Users.GetByUsername(ctx, username)
	if err != nil && !errors.Is(err, valet.ErrNotFound) {
		byAddr.Succeed()
		byUser.Succeed()
		h.showError(w, internalPage(err))
		return
	}
	hash := ""
	if user != nil {
		hash = user.PasswordHash
	}
	// An unknown user costs one argon2id computation too (secret.CheckPassword
	// checks a dummy hash), so timing does not reveal who has an account.
	if !secret.CheckPassword(hash, password) || user == nil {
		byAddr.Fail()
		byUser.Fail()
		if user != nil {
			h.Log.Info("login: wrong password", "user_id", user.ID)
		} else {
			h.Log.Info("login: unknown user")
		}
		page.Error = wrongCredentials
		h.pages.login(w, http.StatusBadRequest, page)
		return
	}
	byAddr.Succeed()
	byUser.Succeed()
	if err := h.startSession(ctx, w, r, user); err != nil {
		h.showError(w, internalPage(err))
		return
	}
	h.setCookie(w, csrfCookie, "", -1) // used; the next sign-in gets a new one
	h.Log.Info("login: signed in", "user_id", user.ID)
	hd := w.Header()
	hd.Set("Location", returnTo)
	hd.Set("Cache-Control", "no-store")
	// RFC 9700 §4.12: 303, never 307, so the password is not re-posted.
	w.WriteHeader(http.StatusSeeOther)
}

// tooMany answers 429 with Retry-After and the form, saying how long to wait.
func (h *Handler) tooMany(w http.ResponseWriter, page loginPage, wait time.Duration) {
	h.Log.Info("login: throttled")
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	mins := max(int(math.Ceil(wait.Minutes())), 1)
	unit := "minutes"
	if mins == 1 {
		unit = "minute"
	}
	page.Error = fmt.Sprintf("Too many attempts; try again in %d %s.", mins, unit)
	h.pages.login(w, http.StatusTooManyRequests, page)
}

// validReturnTo reports whether s is a place the sign-in page may send the
// browser back to: only Valet's own /authorize, or exactly the account page,
// so the page is no open redirect (catalogue CS-03). The request itself is
// validated again there.
func validReturnTo(s string) bool {
	if s == accountPath {
		return true
	}
	if !strings.HasPrefix(s, "/authorize?") || len(s) > maxReturnTo {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '\\' {
			return false
		}
	}
	return true
}

func badReturnTo() *pageError {
	return badRequestPage("This sign-in page was not opened by an app. Go back to the app you want to use and start from there.",
		oauth.Errorf(oauth.InvalidRequest, "return_to must be an authorization request at this server"))
}

// aboutRequest reads, from the request in returnTo, the name of the app a
// sign-in is for and the login_hint (OIDC Core §3.1.2.1); each is "" when it
// cannot tell. The request is validated only when the browser gets back to
// /authorize, so the hint is bounded here too.
func (h *Handler) aboutRequest(ctx context.Context, returnTo string) (clientName, hint string) {
	q, err := url.ParseQuery(strings.TrimPrefix(returnTo, "/authorize?"))
	if err != nil {
		return "", ""
	}
	if len(q["login_hint"]) == 1 {
		hint = loginHint(q.Get("login_hint"))
	}
	if len(q["client_id"]) != 1 {
		return "", hint
	}
	c, err := h.Clients.Get(ctx, q.Get("client_id"))
	if err != nil {
		return "", hint
	}
	if c.Name != "" {
		return c.Name, hint
	}
	return c.ID, hint
}
