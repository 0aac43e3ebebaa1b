package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/token"
)

// LogoutHandler serves the logout endpoint, GET and POST /logout (OpenID
// Connect RP-Initiated Logout 1.0), and tells the apps the person used that
// they signed out (Back-Channel Logout 1.0). Its fields are its
// dependencies: set them with a struct literal and call Register once.
type LogoutHandler struct {
	// Issuer is the server's issuer identifier. Its origin is trusted for
	// the confirmation form, as Handler trusts it for its own forms.
	Issuer   string
	Clients  valet.ClientStore
	Sessions valet.SessionStore
	Consents valet.ConsentStore // which apps to notify: those the person allowed
	Users    valet.UserStore
	// Digester finds the session of a cookie and keys the CSRF MACs; it is
	// the sign-in pages' Digester, so the same cookie is the same session.
	Digester *secret.Digester
	// Tokens verifies id_token_hint and mints logout tokens.
	Tokens *token.Issuer
	// Notifier delivers logout tokens. Nil turns back-channel logout off;
	// discovery must then not advertise backchannel_logout_supported.
	Notifier *BackchannelNotifier
	// Subjects computes the "sub" each client knows the person by, public
	// or pairwise (Core §8): the same value as Handler.Subjects, so that a
	// logout token names the person as their ID tokens did.
	Subjects token.Subjects
	// Secure must equal Handler.Secure: it picks the cookie names and HSTS.
	Secure bool
	Log    *slog.Logger     // nil discards
	Now    func() time.Time // nil means time.Now

	// web lends the sign-in pages' session lookup, cookies, CSRF MACs and
	// templates, so that both handlers read one cookie one way.
	web    *Handler
	origin *http.CrossOriginProtection
}

// Register checks the dependencies, parses the templates and adds GET and
// POST /logout to mux. It panics on a missing dependency, at start-up.
func (h *LogoutHandler) Register(mux *http.ServeMux) {
	if h.Clients == nil || h.Sessions == nil || h.Consents == nil || h.Users == nil || h.Digester == nil || h.Tokens == nil {
		panic("web: LogoutHandler needs Clients, Sessions, Consents, Users, Digester and Tokens")
	}
	iss, err := url.Parse(h.Issuer)
	if err != nil || (iss.Scheme != "https" && iss.Scheme != "http") || iss.Host == "" {
		panic("web: LogoutHandler Issuer must be an absolute http(s) URL, got " + h.Issuer)
	}
	if h.Log == nil {
		h.Log = slog.New(slog.DiscardHandler)
	}
	h.web = &Handler{
		Issuer: h.Issuer, Clients: h.Clients, Users: h.Users, Sessions: h.Sessions, Consents: h.Consents,
		Digester: h.Digester, Secure: h.Secure, Log: h.Log, Now: h.Now,
		pages: parsePages(h.Secure),
	}
	h.origin = http.NewCrossOriginProtection()
	if err := h.origin.AddTrustedOrigin(iss.Scheme + "://" + iss.Host); err != nil {
		panic("web: issuer origin: " + err.Error())
	}
	mux.HandleFunc("GET /logout", h.get)
	mux.HandleFunc("POST /logout", h.post)
}

// logoutRequest is a request to /logout, parsed once: either an app's
// logout request (RP-Initiated Logout §2; ui_locales and logout_hint are
// ignored) or the answer of the confirmation form, which names Sessions.
type logoutRequest struct {
	IDTokenHint           string
	ClientID              string
	PostLogoutRedirectURI string
	State                 string
	// Sessions is the confirmation form's button: "this" ends this
	// browser's session, "all" every session of the person. Empty for a
	// request from an app.
	Sessions string
	CSRF     string
}

func parseLogoutRequest(p map[string]string) logoutRequest {
	return logoutRequest{
		IDTokenHint:           p["id_token_hint"],
		ClientID:              p["client_id"],
		PostLogoutRedirectURI: p["post_logout_redirect_uri"],
		State:                 p["state"],
		Sessions:              p["sessions"],
		CSRF:                  p["csrf"],
	}
}

// logout is a validated logout request.
type logout struct {
	logoutRequest
	hint   *token.IDClaims // nil without id_token_hint
	client *valet.Client   // the app that asked, when it is known
	// redirect is the post_logout_redirect_uri to return to, or "" when
	// there is none to honour: then Valet shows its own page.
	redirect string
}

// get serves GET /logout, an app's logout request in the query.
func (h *LogoutHandler) get(w http.ResponseWriter, r *http.Request) {
	p, err := oauth.ParseQuery(r.URL.RawQuery)
	if err != nil {
		h.web.showError(w, badRequestPage("The sign-out address is not well-formed.", oauth.From(err)))
		return
	}
	req := parseLogoutRequest(p)
	if req.Sessions != "" || req.CSRF != "" {
		// Only the form's POST ends sessions by choice; a link cannot.
		h.web.showError(w, badRequestPage("Use the sign-out button to sign out.",
			oauth.Errorf(oauth.InvalidRequest, "sessions and csrf are accepted only in a POST")))
		return
	}
	h.request(w, r, req)
}

// post serves POST /logout: the confirmation form's answer, or an app's
// logout request sent as a form (RP-Initiated Logout §2: "OPs MUST support
// the use of the HTTP GET and POST methods at the Logout Endpoint").
func (h *LogoutHandler) post(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawQuery != "" {
		h.web.showError(w, badRequestPage("The sign-out request carries parameters in the address as well as in the form.",
			oauth.Errorf(oauth.InvalidRequest, "send a POSTed logout request in the form body only")))
		return
	}
	raw, pe := readForm(w, r, oauth.MaxQueryBytes)
	if pe != nil {
		h.web.showError(w, pe)
		return
	}
	p, pe := formValues(raw)
	if pe != nil {
		h.web.showError(w, pe)
		return
	}
	req := parseLogoutRequest(p)
	if req.Sessions != "" || req.CSRF != "" {
		h.confirmed(w, r, req)
		return
	}
	// An app's page posts here from its own site, so the browser leaves
	// out the SameSite=Lax session cookie and Valet could not see whom to
	// sign out. A 303 turns the request into the GET it stands for, a
	// top-level navigation that carries the cookie. It is validated first,
	// so a bad request gets its error page here.
	if _, pe := h.validate(r.Context(), req); pe != nil {
		h.web.showError(w, pe)
		return
	}
	q := url.Values{}
	for k, v := range map[string]string{"id_token_hint": req.IDTokenHint, "client_id": req.ClientID,
		"post_logout_redirect_uri": req.PostLogoutRedirectURI, "state": req.State} {
		if v != "" {
			q.Set(k, v)
		}
	}
	w.Header().Set("Location", "/logout?"+q.Encode())
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusSeeOther)
}

// request handles an app's logout request. RP-Initiated Logout §2: "the OP
// SHOULD ask the End-User whether to log out of the OP as well"; Valet asks
// unless the request carries an ID token of this very session, which a
// cross-site link cannot (logout CSRF).
func (h *LogoutHandler) request(w http.ResponseWriter, r *http.Request, req logoutRequest) {
	ctx := r.Context()
	l, pe := h.validate(ctx, req)
	if pe != nil {
		h.web.showError(w, pe)
		return
	}
	si, err := h.web.session(ctx, r)
	if err != nil {
		h.web.showError(w, internalPage(err))
		return
	}
	switch {
	case si == nil:
		// Nothing to end; a stale cookie is cleared all the same.
		if h.web.cookieValue(r, sessionCookie, sessionPrefix) != "" {
			h.web.setCookie(w, sessionCookie, "", -1)
		}
		h.finish(w, r, l, false)
	case l.hint != nil && h.hintMatches(l, si):
		h.end(w, r, l, si, false)
	default:
		page := logoutPage{Username: si.user.Username, ClientName: clientDisplayName(l.client), CSRF: h.web.logoutCSRF(si.session)}
		if l.client != nil {
			page.ClientID = l.client.ID
		}
		// Only validated values travel in the form: an unregistered URI
		// is never written into the page (catalogue RU-01d).
		if l.redirect != "" {
			page.PostLogoutRedirectURI, page.State = l.redirect, l.State
		}
		h.web.pages.logout(w, page)
	}
}

// confirmed handles the confirmation form's answer. It sits behind the
// cross-origin check, and its CSRF token must be the MAC of this browser's
// session (RFC 6749 §10.12; catalogue CS-01d).
func (h *LogoutHandler) confirmed(w http.ResponseWriter, r *http.Request, req logoutRequest) {
	ctx := r.Context()
	if req.Sessions != "this" && req.Sessions != "all" {
		h.web.showError(w, badRequestPage("Choose one of the sign-out buttons.",
			oauth.Errorf(oauth.InvalidRequest, "sessions must be this or all")))
		return
	}
	if err := h.origin.Check(r); err != nil {
		h.Log.Info("logout: cross-origin form post refused")
		h.web.showError(w, logoutRefused())
		return
	}
	si, err := h.web.session(ctx, r)
	if err != nil {
		h.web.showError(w, internalPage(err))
		return
	}
	if si != nil && !macEqual(req.CSRF, h.web.logoutCSRF(si.session)) {
		h.Log.Info("logout: csrf check failed", "user_id", si.user.ID)
		h.web.showError(w, logoutRefused())
		return
	}
	l, pe := h.validate(ctx, logoutRequest{ClientID: req.ClientID, PostLogoutRedirectURI: req.PostLogoutRedirectURI, State: req.State})
	if pe != nil {
		h.web.showError(w, pe)
		return
	}
	if si == nil {
		// The session ended since the page was shown: nothing to end.
		h.finish(w, r, l, false)
		return
	}
	h.end(w, r, l, si, req.Sessions == "all")
}

// validate checks the hint, the client and the post-logout redirect URI.
// A bad hint or client is an error page; a post_logout_redirect_uri that
// cannot be honoured is not an error, only never used (catalogue RU-01d/e).
func (h *LogoutHandler) validate(ctx context.Context, req logoutRequest) (*logout, *pageError) {
	l := &logout{logoutRequest: req}
	clientID := req.ClientID
	if req.IDTokenHint != "" {
		// RP-Initiated Logout §2: "the OP MUST validate that it was the
		// issuer of the ID Token". An expired one is fine; an at+jwt, a
		// logout token or another issuer's token is not (catalogue JW-02c).
		c, err := h.Tokens.ParseIDTokenHint(req.IDTokenHint)
		if err != nil {
			h.Log.Info("logout: id_token_hint refused")
			return nil, badRequestPage("This sign-out request came with an ID token that Valet did not issue, so Valet cannot tell which app sent it.",
				oauth.Errorf(oauth.InvalidRequest, "id_token_hint is not an ID token of this server"))
		}
		// §2: "When both client_id and id_token_hint are present, the OP
		// MUST verify that the Client Identifier matches the one used when
		// issuing the ID Token."
		if clientID != "" && !slices.Contains(c.Audience, clientID) {
			h.Log.Info("logout: client_id does not match id_token_hint", "client_id", clientID)
			return nil, badRequestPage("This sign-out request names one app but carries the ID token of another.",
				oauth.Errorf(oauth.InvalidRequest, "client_id does not match the audience of id_token_hint"))
		}
		if clientID == "" && len(c.Audience) == 1 {
			clientID = c.Audience[0]
		}
		l.hint = c
	}
	if clientID != "" {
		c, err := h.Clients.Get(ctx, clientID)
		switch {
		case errors.Is(err, valet.ErrNotFound) && req.ClientID != "":
			return nil, badRequestPage("The app that sent you here is not registered with Valet.",
				oauth.Errorf(oauth.InvalidRequest, "unknown client_id"))
		case errors.Is(err, valet.ErrNotFound):
			// The hint's app was deleted since: sign out, never redirect.
		case err != nil:
			return nil, internalPage(err)
		default:
			l.client = c
		}
	}
	if uri := req.PostLogoutRedirectURI; uri != "" {
		// RP-Initiated Logout §3: "The OP MUST NOT perform post-logout
		// redirection if the post_logout_redirect_uri value supplied does
		// not exactly match one of the previously registered
		// post_logout_redirect_uris values." Simple string comparison, as
		// for redirect URIs (RFC 9700 §2.1): a query added to a registered
		// URI is another URI (catalogue RU-01e).
		if l.client != nil && slices.Contains(l.client.PostLogoutRedirectURIs, uri) {
			l.redirect = uri
		} else {
			h.Log.Info("logout: post_logout_redirect_uri not registered; not redirecting", "client_id", clientID)
		}
	}
	return l, nil
}

// hintMatches reports whether the hint was issued in this browser's
// session: its sid is the session's. An ID token without sid must at least
// name the signed-in person, as the client knows them.
func (h *LogoutHandler) hintMatches(l *logout, si *signedIn) bool {
	if l.hint.SessionID != "" {
		return l.hint.SessionID == si.session.SID
	}
	if l.client == nil {
		return false
	}
	sub, err := h.Subjects.For(l.client, si.user.ID)
	return err == nil && sub == l.hint.Subject
}

// end signs the person out: it deletes this session, or all of theirs, so
// the old cookie signs no one in again (catalogue CS-04c), clears the
// cookie, queues the back-channel notifications and finishes.
func (h *LogoutHandler) end(w http.ResponseWriter, r *http.Request, l *logout, si *signedIn, all bool) {
	ctx := r.Context()
	var n int
	var err error
	if all {
		n, err = h.Sessions.DeleteByUser(ctx, si.user.ID)
	} else {
		n, err = 1, h.Sessions.Delete(ctx, si.session.ID)
	}
	if err != nil {
		h.web.showError(w, internalPage(err))
		return
	}
	h.web.setCookie(w, sessionCookie, "", -1)
	clientID := ""
	if l.client != nil {
		clientID = l.client.ID
	}
	h.Log.Info("logout: signed out", "user_id", si.user.ID, "sessions", n, "client_id", clientID)
	h.notify(ctx, si, all)
	h.finish(w, r, l, all)
}

// finish returns to the app's registered post-logout URI with state (302
// after GET, 303 after POST), or shows Valet's own signed-out page.
func (h *LogoutHandler) finish(w http.ResponseWriter, r *http.Request, l *logout, all bool) {
	if l.redirect == "" {
		h.web.pages.signedOut(w, signedOutPage{ClientName: clientDisplayName(l.client), All: all})
		return
	}
	loc := l.redirect
	if l.State != "" {
		// RP-Initiated Logout §3: state is passed back "using the state
		// parameter when redirecting the User Agent back to the RP". A
		// registered URI's own query is kept (RFC 6749 §3.1.2 by analogy).
		sep := "?"
		if strings.Contains(loc, "?") {
			sep = "&"
		}
		loc += sep + "state=" + url.QueryEscape(l.State)
	}
	hd := w.Header()
	hd.Set("Location", loc)
	hd.Set("Cache-Control", "no-store")
	hd.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(redirectStatus(r))
}

// notify queues a logout token for every app with a back-channel logout
// URI that the person allowed: consent is how Valet remembers the apps a
// person used (Back-Channel Logout §2.3). Nothing here waits on an app's
// server; failures are logged and the person is signed out regardless.
func (h *LogoutHandler) notify(ctx context.Context, si *signedIn, all bool) {
	if h.Notifier == nil {
		return
	}
	consents, err := h.Consents.ListByUser(ctx, si.user.ID)
	if err != nil {
		h.Log.Error("logout: back-channel: list consents", "user_id", si.user.ID, "err", err)
		return
	}
	for _, cs := range consents {
		c, err := h.Clients.Get(ctx, cs.ClientID)
		if errors.Is(err, valet.ErrNotFound) {
			continue
		}
		if err != nil {
			h.Log.Error("logout: back-channel: get client", "client_id", cs.ClientID, "err", err)
			continue
		}
		if c.BackchannelLogoutURI == "" {
			continue
		}
		sub, err := h.Subjects.For(c, si.user.ID)
		if err != nil {
			// The sid alone still names the session; the user ID is never
			// a fallback, since a pairwise client must not learn it.
			h.Log.Error("logout: back-channel: subject", "client_id", c.ID, "err", err)
			sub = ""
		}
		req := token.LogoutRequest{Alg: c.IDTokenSignedResponseAlg, ClientID: c.ID, Subject: sub, SessionID: si.session.SID}
		if all && sub != "" && !c.BackchannelLogoutSessionRequired {
			// §2.4: "If a sid Claim is not present, the intent is that all
			// sessions at the RP for the End-User identified by the iss and
			// sub Claims be logged out." A client that requires sid (§2.2)
			// gets this session's; the store cannot list the others' sids.
			req.SessionID = ""
		}
		tok, err := h.Tokens.Logout(req)
		if err != nil {
			h.Log.Error("logout: back-channel: mint logout token", "client_id", c.ID, "err", err)
			continue
		}
		h.Notifier.Notify(c.ID, c.BackchannelLogoutURI, tok)
	}
}

// logoutCSRF is the CSRF token of a sign-out form in session s: any page
// that offers "Sign out" (the confirmation page; the account page) puts it
// in the form's csrf field, with sessions=this or sessions=all.
func (h *Handler) logoutCSRF(s *valet.Session) string { return h.mac("logout", s.ID) }

func logoutRefused() *pageError {
	return &pageError{status: http.StatusForbidden, page: errorPage{
		Title:   "Request refused",
		Message: "This sign-out form did not come from the page Valet showed you. You are still signed in.",
	}}
}

func clientDisplayName(c *valet.Client) string {
	switch {
	case c == nil:
		return ""
	case c.Name != "":
		return c.Name
	default:
		return c.ID
	}
}

// logoutPage asks the person to confirm signing out.
type logoutPage struct {
	Username   string
	ClientName string // the app that asked, when known
	CSRF       string
	// The validated request, carried to the POST: a client known to Valet
	// and a registered post-logout URI, or nothing.
	ClientID              string
	PostLogoutRedirectURI string
	State                 string
}

// signedOutPage says the person is signed out.
type signedOutPage struct {
	ClientName string
	All        bool // every session ended, not only this browser's
}

func (p *pages) logout(w http.ResponseWriter, l logoutPage) {
	p.render(w, http.StatusOK, "logout.html", "Sign out?", l)
}

func (p *pages) signedOut(w http.ResponseWriter, s signedOutPage) {
	p.render(w, http.StatusOK, "logout_done.html", "Signed out", s)
}
