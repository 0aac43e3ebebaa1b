package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
)

// authorizeGet serves GET /authorize (RFC 6749 §4.1.1).
func (h *Handler) authorizeGet(w http.ResponseWriter, r *http.Request) {
	h.authorize(w, r, r.URL.RawQuery, false)
}

// authorizePost serves POST /authorize. OIDC Core §3.1.2.1: "Authorization
// Servers MUST support the use of the HTTP GET and POST methods"; with POST
// the parameters are a form body. It is not behind the cross-origin check:
// a client's page posting here is the legitimate use.
func (h *Handler) authorizePost(w http.ResponseWriter, r *http.Request) {
	raw, pe := readForm(w, r, oauth.MaxQueryBytes)
	if pe != nil {
		h.showError(w, pe)
		return
	}
	mixed := false
	if r.URL.RawQuery != "" {
		// Catalogue IP-01d: a client_id or redirect_uri in the URL as well
		// as the body leaves no single redirect target to trust.
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil || q.Has("client_id") || q.Has("redirect_uri") {
			h.showError(w, badRequestPage("The request carries parameters both in the address and in the form.",
				oauth.Errorf(oauth.InvalidRequest, "send the authorization request in the form body only")))
			return
		}
		mixed = true
	}
	h.authorize(w, r, raw, mixed)
}

// authorize validates the request, then sends the browser to sign in, shows
// the consent page, or answers the client.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, raw string, mixed bool) {
	a, err := h.parseAuthorize(r.Context(), raw, mixed)
	if a == nil {
		h.showError(w, err)
		return
	}
	if err != nil {
		h.redirectError(w, r, a, err)
		return
	}
	si, err := h.session(r.Context(), r)
	if err != nil {
		h.redirectError(w, r, a, oauth.Internal(err))
		return
	}
	h.proceed(w, r, a, si)
}

// proceed decides, for a valid request, between signing in, asking for
// consent and answering the client at once.
func (h *Handler) proceed(w http.ResponseWriter, r *http.Request, a *authorization, si *signedIn) {
	none := a.hasPrompt("none")
	reason, err := h.signInReason(a, si)
	switch {
	case err != nil:
		h.redirectError(w, r, a, oauth.Internal(err))
		return
	case reason != "" && none:
		// OIDC Core §3.1.2.6: login_required when "the Authorization Server
		// requires End-User authentication" but prompt=none forbids a page
		// (catalogue AZ-04d).
		h.redirectError(w, r, a, oauth.Errorf(oauth.LoginRequired, "%s", reason))
		return
	case reason != "":
		h.toLogin(w, r, a)
		return
	}
	consent, err := h.Consents.Get(r.Context(), si.user.ID, a.client.ID)
	if errors.Is(err, valet.ErrNotFound) {
		consent, err = nil, nil
	}
	if err != nil {
		h.redirectError(w, r, a, oauth.Internal(err))
		return
	}
	// A remembered consent answers at once unless it lacks a scope asked for
	// now: a request for more scopes asks again (catalogue CS-05c).
	// prompt=consent: the OP "SHOULD prompt the End-User for consent before
	// returning information to the Client" (OIDC Core §3.1.2.1).
	if consent != nil && consent.Covers(a.Scopes) && !a.hasPrompt("consent") {
		h.respond(w, r, a, si)
		return
	}
	if none {
		h.redirectError(w, r, a, oauth.Errorf(oauth.ConsentRequired, "the user has not allowed this client these scopes"))
		return
	}
	h.showConsent(w, a, si)
}

// toLogin sends the browser to the sign-in page, which returns to
// /authorize with the canonical request. prompt=login and max_age are
// dropped from it, because the sign-in about to happen satisfies both;
// otherwise max_age=0 or prompt=login would send the person back to sign in
// for ever. The client can check the fresh auth_time, which every ID token
// carries. An id_token_hint stays: after signing in as someone else the
// person is asked again (or, with prompt=none, the client gets
// login_required).
func (h *Handler) toLogin(w http.ResponseWriter, r *http.Request, a *authorization) {
	next := a.AuthorizeRequest
	next.Prompt = slices.DeleteFunc(slices.Clone(next.Prompt), func(p string) bool { return p == "login" })
	next.MaxAge, next.HasMaxAge = 0, false
	hd := w.Header()
	hd.Set("Location", "/login?return_to="+url.QueryEscape("/authorize?"+next.Encode()))
	hd.Set("Cache-Control", "no-store")
	hd.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(redirectStatus(r))
}

// showConsent renders the consent page. Its form carries the canonical
// request, an expiry and a MAC over both and the session id, so that the
// form works only for this browser's session, this request and ten minutes
// (catalogue CS-01, CS-03, CS-05b).
func (h *Handler) showConsent(w http.ResponseWriter, a *authorization, si *signedIn) {
	req := a.Encode()
	expires := strconv.FormatInt(h.now().Add(consentFormTTL).Unix(), 10)
	c := a.client
	name := c.Name
	if name == "" {
		name = c.ID
	}
	h.pages.consent(w, consentPage{
		ClientName: name,
		ClientID:   c.ID,
		ClientURI:  webLink(c.ClientURI),
		PolicyURI:  webLink(c.PolicyURI),
		TosURI:     webLink(c.TosURI),
		Username:   si.user.Username,
		Scopes:     h.describeScopes(a.Scopes),
		Request:    req,
		Expires:    expires,
		CSRF:       h.mac("consent", si.session.ID, req, expires),
	})
}

// webLink returns u when it is an absolute http(s) URL, else "": a client's
// URL is shown as a link only if it cannot run script (javascript:, data:).
// html/template would neutralise such a URL too; this keeps it off the page.
func webLink(u string) string {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || p.User != nil {
		return ""
	}
	return u
}
