package web

import (
	"errors"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/token"
)

// The connected-apps page: a signed-in person sees every app they allowed
// to use their account and can take that access back. RFC 6749 §10.4 wants
// refresh tokens revocable; RFC 9700 §4.14.2 binds them "to the scope and
// resource servers as consented", so removing the consent removes them.

// accountPath is the page's address, the one return_to besides /authorize.
const accountPath = "/account"

// accountPage lists the person's connected apps.
type accountPage struct {
	Username string
	Apps     []connectedApp
	// Removed names the app whose access was just removed, for the notice.
	Removed string
	// JWTMinutes is how long a removed app's self-contained access tokens
	// may still be accepted by services that do not ask Valet.
	JWTMinutes int
	LogoutCSRF string
}

// connectedApp is one consent, as the person sees it.
type connectedApp struct {
	ClientID  string
	Name      string
	Initial   string // the monogram shown instead of a logo
	ClientURI string // only http(s) URIs (webLink)
	PolicyURI string
	TosURI    string
	Scopes    []scopeLine
	Granted   shownTime
	LastUsed  shownTime // zero: never used
	CSRF      string
}

func (p *pages) account(w http.ResponseWriter, a accountPage) {
	p.render(w, http.StatusOK, "account.html", "Connected apps", a)
}

// accountGet serves GET /account. Without a session it sends the browser
// to sign in, and back here after.
func (h *Handler) accountGet(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	si, err := h.session(ctx, r)
	if err != nil {
		h.showError(w, internalPage(err))
		return
	}
	if si == nil {
		hd := w.Header()
		hd.Set("Location", "/login?return_to="+url.QueryEscape(accountPath))
		hd.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusSeeOther)
		return
	}
	consents, err := h.Consents.ListByUser(ctx, si.user.ID)
	if err != nil {
		h.showError(w, internalPage(err))
		return
	}
	page := accountPage{
		Username:   si.user.Username,
		JWTMinutes: int(math.Ceil(h.AccessTTL.Minutes())),
		LogoutCSRF: h.logoutCSRF(si.session),
	}
	for _, c := range consents {
		client, err := h.Clients.Get(ctx, c.ClientID)
		if errors.Is(err, valet.ErrNotFound) {
			continue // deleted since; the database cascades its consents away
		}
		if err != nil {
			h.showError(w, internalPage(err))
			return
		}
		name := clientDisplayName(client)
		page.Apps = append(page.Apps, connectedApp{
			ClientID:  client.ID,
			Name:      name,
			Initial:   initial(name),
			ClientURI: webLink(client.ClientURI),
			PolicyURI: webLink(client.PolicyURI),
			TosURI:    webLink(client.TosURI),
			Scopes:    h.describeScopes(c.Scopes),
			Granted:   showTime(c.GrantedAt),
			LastUsed:  showTime(c.LastUsedAt),
			CSRF:      h.removeCSRF(si.session, client.ID),
		})
	}
	// The notice after a removal names the app by its registered name only;
	// the query never puts text of its own on the page.
	if id := r.URL.Query().Get("removed"); id != "" {
		if c, err := h.Clients.Get(ctx, id); err == nil {
			page.Removed = clientDisplayName(c)
		}
	}
	h.pages.account(w, page)
}

// removeCSRF is the CSRF token of a "Remove access" form: a MAC of the
// session and the app, so a form works only in the browser it was shown
// in, and only for its app.
func (h *Handler) removeCSRF(s *valet.Session, clientID string) string {
	return h.mac("account-remove", s.ID, clientID)
}

// accountRemove serves POST /account/remove: "Remove access". It sits
// behind the cross-origin check. Everything is keyed by the signed-in
// person, so another person's app ID finds nothing to remove.
func (h *Handler) accountRemove(w http.ResponseWriter, r *http.Request) {
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
	si, err := h.session(ctx, r)
	if err != nil {
		h.showError(w, internalPage(err))
		return
	}
	clientID := form["client_id"]
	if si == nil || clientID == "" || !macEqual(form["csrf"], h.removeCSRF(si.session, clientID)) {
		h.Log.Info("account: csrf check failed", "signed_in", si != nil)
		h.showError(w, forbiddenForm())
		return
	}
	now := h.now()
	// The consent goes first: from now on /authorize asks again and the
	// refresh grant refuses this app's tokens (RFC 9700 §4.14.2).
	consentGone := false
	switch err := h.Consents.Delete(ctx, si.user.ID, clientID); {
	case errors.Is(err, valet.ErrNotFound):
		consentGone = true
	case err != nil:
		h.showError(w, internalPage(err))
		return
	}
	families, err := h.Refresh.RevokeFor(ctx, si.user.ID, clientID, now)
	if err != nil {
		h.showError(w, internalPage(err))
		return
	}
	if consentGone && len(families) == 0 {
		h.showError(w, &pageError{status: http.StatusNotFound, page: errorPage{
			Title:   "Nothing to remove",
			Message: "This app has no access to your account.",
		}})
		return
	}
	// Access tokens carry their family as grant_id: on the deny-list,
	// introspection answers inactive at once, until the last of them has
	// expired anyway (as grant/family.go's revoke does).
	until := now.Add(h.AccessTTL + token.RevocationMargin)
	for _, f := range families {
		if err := h.Revocations.Add(ctx, f, until); err != nil {
			h.Log.Error("account: deny-listing a removed app's grant failed; its access tokens live until they expire",
				"client_id", clientID, "user_id", si.user.ID, "family_id", f, "err", err)
			h.showError(w, internalPage(err))
			return
		}
	}
	h.Log.Info("account: app removed", "client_id", clientID, "user_id", si.user.ID, "families", len(families))
	hd := w.Header()
	hd.Set("Location", accountPath+"?removed="+url.QueryEscape(clientID))
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusSeeOther) // POST/redirect/GET: a reload does not post again
}

// initial is the monogram of an app: the first letter of its name.
func initial(name string) string {
	r, _ := utf8.DecodeRuneInString(strings.TrimSpace(name))
	if r == utf8.RuneError || !unicode.IsPrint(r) {
		return "?"
	}
	return string(unicode.ToUpper(r))
}

// shownTime is a time as the page shows it: words for people, ISO 8601 for
// the <time> element. Both are empty for the zero time.
type shownTime struct{ Text, ISO string }

// showTime formats t in UTC, the one zone Valet knows nothing wrong about.
func showTime(t time.Time) shownTime {
	if t.IsZero() {
		return shownTime{}
	}
	t = t.UTC()
	return shownTime{Text: t.Format("2 January 2006, 15:04 UTC"), ISO: t.Format(time.RFC3339)}
}
