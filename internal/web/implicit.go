package web

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/token"
)

// The implicit grant (RFC 6749 §4.2, response_type=token): the access token
// goes straight to the browser, in the fragment of the redirect URI. It is
// deprecated (RFC 9700 §2.1.2) and off unless both the server (Handler.
// ImplicitDisabled false) and the client's registration (grant type
// "implicit") allow it; parseAuthorize checks both (pin P16). Sign-in and
// consent are those of the code flow; only the answer differs.

// respondImplicit mints an access token for a, which the person has just
// authorized, and sends it to the client in the fragment.
//
// The token carries a fresh grant family ID as grant_id, as every token a
// person authorized does (only client-credentials tokens have none): the
// implicit grant has no code and no refresh token, so its family is this one
// token, and putting the family on the deny-list revokes it like any other.
func (h *Handler) respondImplicit(w http.ResponseWriter, r *http.Request, a *authorization, si *signedIn) {
	// RFC 8707 §2: the resources asked for are the token's audience; with
	// none, the configured default.
	aud := a.Resources
	if len(aud) == 0 {
		aud = h.Audience
	}
	familyID := secret.ID("fam_")
	raw, exp, err := h.Tokens.Mint(r.Context(), a.client, token.AccessRequest{
		Subject:  si.user.ID,
		ClientID: a.client.ID,
		Audience: slices.Clone(aud),
		Scopes:   slices.Clone(a.Scopes),
		AuthTime: si.session.AuthTime,
		GrantID:  familyID,
	})
	if err != nil {
		h.redirectError(w, r, a, oauth.Internal(err))
		return
	}
	h.Log.Info("authorize: implicit access token issued", "client_id", a.client.ID, "user_id", si.user.ID, "grant_id", familyID)
	// RFC 6749 §4.2.2: access_token, token_type, expires_in ("RECOMMENDED"),
	// scope, state; iss is added by redirect (RFC 9207). "The authorization
	// server MUST NOT issue a refresh token" (catalogue AZ-03b).
	params := []string{
		"access_token", raw,
		"token_type", "Bearer",
		"expires_in", strconv.FormatInt(max(int64(exp.Sub(h.now()).Round(time.Second)/time.Second), 0), 10),
	}
	if s := oauth.JoinScope(a.Scopes); s != "" {
		params = append(params, "scope", s)
	}
	// parseAuthorize already set a.fragment for every token-returning type;
	// set here as well, next to the token, so that no later change to the
	// parsing can put a token in a query string (catalogue AZ-03a).
	a.fragment = true
	h.redirect(w, r, a, params...)
}
