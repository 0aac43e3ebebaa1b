package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/secret"
)

// redirectStatus is 302 after GET and 303 after POST: a 303 makes the
// browser follow with GET, so a POSTed password or form is never re-sent to
// the client, as a 307 would (RFC 9700 §4.12, catalogue CS-02b).
func redirectStatus(r *http.Request) int {
	if r.Method == http.MethodPost {
		return http.StatusSeeOther
	}
	return http.StatusFound
}

// deliver sends the response parameters params to a's validated redirect
// URI, then state (when the request had one) and iss, in a's response mode:
// a redirect with them in the query or the fragment, or a page that posts
// them.
func (h *Handler) deliver(w http.ResponseWriter, r *http.Request, a *authorization, params ...string) {
	// RFC 6749 §4.1.2: state is "the exact value received from the client";
	// RFC 9207 §2: iss in every authorization response, success or error.
	if a.State != "" {
		params = append(params, "state", a.State)
	}
	params = append(params, "iss", h.Issuer)
	mode := a.mode
	// The last guard of catalogue AZ-03a, whatever the parsing decided: a
	// token never goes in a query string, where servers and proxies log it.
	for i := 0; i < len(params); i += 2 {
		if mode == modeQuery && (params[i] == "access_token" || params[i] == "id_token") {
			mode = modeFragment
		}
	}
	if mode == modeFormPost {
		h.formPost(w, a, params)
		return
	}
	var b strings.Builder
	b.WriteString(a.redirect)
	sep := "?"
	switch {
	case mode == modeFragment:
		// A registered URI never has a fragment (valet.ValidateRedirectURI).
		sep = "#"
	case strings.HasSuffix(a.redirect, "?"):
		sep = ""
	case strings.Contains(a.redirect, "?"):
		// RFC 6749 §3.1.2: the endpoint URI "MAY include [a] query
		// component ..., which MUST be retained when adding additional
		// query parameters" (catalogue RU-05c).
		sep = "&"
	}
	for i := 0; i+1 < len(params); i += 2 {
		b.WriteString(sep)
		// Every value is percent-encoded, so "&code=x", "#" or CR LF in a
		// state stay inside it (IP-05, HD-03).
		b.WriteString(url.QueryEscape(params[i]))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(params[i+1]))
		sep = "&"
	}
	hd := w.Header()
	hd.Set("Location", b.String())
	hd.Set("Cache-Control", "no-store")
	hd.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(redirectStatus(r))
}

// redirectError sends err to the client as an error redirect (RFC 6749
// §4.1.2.1). Anything that is not an *oauth.Error goes as server_error; its
// cause is logged, never sent.
func (h *Handler) redirectError(w http.ResponseWriter, r *http.Request, a *authorization, err error) {
	e := oauth.From(err)
	if e.Code == oauth.ServerError {
		h.Log.Error("authorize: server error", "client_id", a.client.ID, "err", e.Err)
	} else {
		h.Log.Info("authorize: error redirect", "client_id", a.client.ID, "error", e.Code)
	}
	params := []string{"error", e.Code}
	// RFC 6749 §4.1.2.1: error_description must not include characters
	// outside %x20-21 / %x23-5B / %x5D-7E.
	if d := oauth.SafeDescription(e.Description); d != "" {
		params = append(params, "error_description", d)
	}
	h.deliver(w, r, a, params...)
}

// showError renders a *pageError (or, for anything else, a 500 page). It
// never sets Location: an error page does not redirect.
func (h *Handler) showError(w http.ResponseWriter, err error) {
	var pe *pageError
	if !errors.As(err, &pe) {
		pe = internalPage(err)
	}
	if pe.status >= 500 {
		h.Log.Error("web: server error", "err", pe.cause)
	} else {
		h.Log.Info("web: error page", "status", pe.status, "error", pe.page.Code)
	}
	h.pages.error(w, pe.status, pe.page)
}

// respond answers a request the person has authorized, with what its
// response type asks for: a code (RFC 6749 §4.1.2), an access token (§4.2.2,
// implicit.go), an ID token (OIDC Core §3.2.2.5, idtoken.go), or a hybrid
// of them (§3.3.2.5). The code comes first and the access token second,
// because the ID token hashes both (c_hash, at_hash). All of them share one
// grant family: a replayed code revokes the access token issued beside it.
func (h *Handler) respond(w http.ResponseWriter, r *http.Request, a *authorization, si *signedIn) {
	ctx := r.Context()
	familyID := secret.ID("fam_")
	var params []string
	var code, accessToken string
	if a.kind.code {
		var err error
		if code, err = h.issueCode(ctx, a, si, familyID); err != nil {
			h.redirectError(w, r, a, err)
			return
		}
		h.Log.Info("authorize: code issued", "client_id", a.client.ID, "user_id", si.user.ID, "grant_id", familyID)
		params = append(params, "code", code)
	}
	if a.kind.token {
		at, p, err := h.implicitToken(ctx, a, si, familyID)
		if err != nil {
			h.redirectError(w, r, a, err)
			return
		}
		accessToken = at
		params = append(params, p...)
	}
	if a.kind.idToken {
		idToken, err := h.idToken(ctx, a, si, code, accessToken)
		if err != nil {
			h.redirectError(w, r, a, err)
			return
		}
		h.Log.Info("authorize: ID token issued", "client_id", a.client.ID, "user_id", si.user.ID)
		params = append(params, "id_token", idToken)
	}
	h.deliver(w, r, a, params...)
}

// issueCode stores a new authorization code for a, starting grant family
// familyID, and returns its value. Only its keyed digest is stored.
func (h *Handler) issueCode(ctx context.Context, a *authorization, si *signedIn, familyID string) (string, error) {
	value := secret.Token("ac_")
	now := h.now()
	err := h.Codes.Create(ctx, &valet.AuthCode{
		Digest:              h.Digester.Digest(secret.PurposeCode, value),
		FamilyID:            familyID,
		ClientID:            a.client.ID,
		UserID:              si.user.ID,
		RedirectURI:         a.RedirectURI,
		Scopes:              append([]string{}, a.Scopes...),
		Resources:           slices.Clone(a.Resources),
		Nonce:               a.Nonce,
		SessionID:           si.session.SID,
		CodeChallenge:       a.CodeChallenge,
		CodeChallengeMethod: a.CodeChallengeMethod,
		AuthTime:            si.session.AuthTime,
		CreatedAt:           now,
		ExpiresAt:           now.Add(h.CodeTTL),
	})
	if err != nil {
		return "", oauth.Internal(err)
	}
	return value, nil
}
