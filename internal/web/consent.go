package web

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/secret"
)

// defaultScopeDescriptions say in plain words what common scopes allow;
// Handler.ScopeDescriptions overrides and extends them.
var defaultScopeDescriptions = map[string]string{
	"openid":         "Confirm who you are",
	"profile":        "See your name and username",
	"email":          "See your email address",
	"offline_access": "Keep access when you are not using the app",
	"contacts.read":  "Read your contacts",
	"mail.read":      "Read your mail",
}

// describeScopes returns one sentence per scope for the consent page.
func (h *Handler) describeScopes(scopes []string) []scopeLine {
	lines := make([]scopeLine, 0, len(scopes))
	for _, s := range scopes {
		d, ok := h.ScopeDescriptions[s]
		if !ok {
			d, ok = defaultScopeDescriptions[s]
		}
		if !ok {
			d = "Use the permission “" + s + "” (this server has no description for it)"
		}
		lines = append(lines, scopeLine{Scope: s, Description: d})
	}
	return lines
}

// consent serves POST /consent, the person's answer on the consent page. It
// sits behind the cross-origin check (CS-01d). The form must come from this
// browser's session, for this very request, within its ten minutes (its MAC
// says so: CS-01a-c, CS-03, CS-05b), and only once (CS-05a). The embedded
// request is then validated again exactly as GET /authorize does.
func (h *Handler) consent(w http.ResponseWriter, r *http.Request) {
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
	decision := form["decision"]
	if decision != "allow" && decision != "deny" {
		h.showError(w, badRequestPage("Choose Allow or Deny.", oauth.Errorf(oauth.InvalidRequest, "decision must be allow or deny")))
		return
	}
	si, err := h.session(ctx, r)
	if err != nil {
		h.showError(w, internalPage(err))
		return
	}
	req, csrf := form["request"], form["csrf"]
	expires, okExp := unixTime(form["expires"])
	now := h.now()
	// RFC 6749 §10.12: the server "MUST implement CSRF protection for its
	// authorization endpoint". The MAC binds session, request and expiry.
	if si == nil || !okExp || !now.Before(expires) || expires.After(now.Add(consentFormTTL+consentSkew)) ||
		!macEqual(csrf, h.mac("consent", si.session.ID, req, form["expires"])) {
		h.Log.Info("consent: csrf check failed", "signed_in", si != nil)
		h.showError(w, forbiddenForm())
		return
	}
	// Single use (CS-05a): of two posts of one form, only the first counts,
	// on every node sharing the database.
	first, err := h.Replays.Use(ctx, "consent:"+h.Digester.Digest(secret.PurposeCSRF, csrf), expires)
	if err != nil {
		h.showError(w, internalPage(err))
		return
	}
	if !first {
		h.Log.Info("consent: form replayed", "user_id", si.user.ID)
		h.showError(w, badRequestPage("This answer was already sent. Go back to the app and start again if you need to.",
			oauth.Errorf(oauth.InvalidRequest, "the consent form was already used")))
		return
	}
	a, err := h.parseAuthorize(ctx, req, false)
	if a == nil {
		h.showError(w, err)
		return
	}
	if err != nil {
		h.redirectError(w, r, a, err)
		return
	}
	if decision == "deny" {
		// RFC 6749 §4.1.2.1: access_denied, "The resource owner or
		// authorization server denied the request."
		h.Log.Info("consent: denied", "client_id", a.client.ID, "user_id", si.user.ID)
		h.redirectError(w, r, a, oauth.Errorf(oauth.AccessDenied, "the user denied the request"))
		return
	}
	// The session must still satisfy the request: max_age may have run out
	// while the page was open (OIDC Core §3.1.2.1). Signing in returns to
	// /authorize, which asks again.
	switch reason, err := h.signInReason(a, si); {
	case err != nil:
		h.redirectError(w, r, a, oauth.Internal(err))
		return
	case reason != "":
		h.Log.Info("consent: sign-in required first", "client_id", a.client.ID, "user_id", si.user.ID)
		h.toLogin(w, r, a)
		return
	}
	if err := h.remember(r, a, si); err != nil {
		h.redirectError(w, r, a, oauth.Internal(err))
		return
	}
	h.Log.Info("consent: allowed", "client_id", a.client.ID, "user_id", si.user.ID)
	h.respond(w, r, a, si)
}

// consentSkew tolerates clocks of two nodes that disagree a little: one
// renders the form, another may receive it.
const consentSkew = time.Minute

// remember records the consent, adding the new scopes to those the person
// already allowed the client.
func (h *Handler) remember(r *http.Request, a *authorization, si *signedIn) error {
	scopes := slices.Clone(a.Scopes)
	var lastUsed time.Time
	old, err := h.Consents.Get(r.Context(), si.user.ID, a.client.ID)
	switch {
	case errors.Is(err, valet.ErrNotFound):
	case err != nil:
		return err
	default:
		scopes = append(scopes, old.Scopes...)
		lastUsed = old.LastUsedAt // widening a consent is not using it
	}
	slices.Sort(scopes)
	scopes = slices.Compact(scopes)
	if scopes == nil {
		scopes = []string{}
	}
	return h.Consents.Put(r.Context(), &valet.Consent{UserID: si.user.ID, ClientID: a.client.ID, Scopes: scopes, GrantedAt: h.now(), LastUsedAt: lastUsed})
}

func forbiddenForm() *pageError {
	return &pageError{status: http.StatusForbidden, page: errorPage{
		Title:   "Request refused",
		Message: "This answer did not come from the page Valet showed you, or that page is too old. Go back to the app and start again.",
	}}
}
