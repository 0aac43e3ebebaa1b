package grant

import (
	"context"
	"net/http"
	"time"

	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/token"
)

// revoke serves POST /revoke (RFC 7009): a client tells the server that it
// no longer needs a token. Success is 200 with an empty body, also for a
// token that is unknown, invalid or already revoked (RFC 7009 §2.2). A
// storage failure is 503, never 200: RFC 7009 §2.2.1 says a client getting
// 503 "must assume the token still exists and may retry" (catalogue IR-04).
func (h *Handler) revoke(w http.ResponseWriter, r *http.Request) {
	if err := h.serveRevoke(r.Context(), w, r); err != nil {
		h.fail(w, r, err)
		return
	}
	// RFC 7009 §2.2: "The content of the response body is ignored by the
	// client as all necessary information is conveyed in the response
	// code." The no-store headers of catalogue HD-01 go out all the same.
	oauth.NoStore(w.Header())
	w.WriteHeader(http.StatusOK)
}

func (h *Handler) serveRevoke(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	// RFC 7009 §2.1: "The client requests the revocation of a particular
	// token by making an HTTP POST request ... using the
	// "application/x-www-form-urlencoded" format" (catalogue IR-02f).
	form, err := oauth.ParseForm(w, r, oauth.MaxFormBytes)
	if err != nil {
		return err
	}
	// RFC 7009 §2.1: "The authorization server first validates the client
	// credentials (in case of a confidential client)"; a public client
	// identifies itself by client_id, as at /token (catalogue CA-01).
	c, _, err := h.client(ctx, r, form)
	if err != nil {
		return err
	}
	raw := form.Get("token")
	if raw == "" {
		// RFC 7009 §2.1: token is REQUIRED.
		return oauth.Errorf(oauth.InvalidRequest, "token is required")
	}
	// token_type_hint is ignored, unknown values included (RFC 7009 §2.1:
	// the server "MAY ignore this parameter"; catalogue pin P19): the type
	// prefixes find any token in one lookup.
	t, err := h.Introspector.Lookup(ctx, raw)
	if err != nil {
		return unavailable("look up the token to revoke", err)
	}
	if t == nil {
		// RFC 7009 §2.2: "invalid tokens do not cause an error response"
		// (catalogue IR-02a): garbage, an expired JWT, a foreign one.
		return nil
	}
	// RFC 7009 §2.1: the server "verifies whether the token was issued to
	// the client making the revocation request. If this validation fails,
	// the request is refused". A confidential client is told (catalogue
	// IR-03a); a public one, whose identity anyone can claim, gets the 200
	// an unknown token gets, so that the endpoint tells it nothing about
	// other clients' tokens (IR-03b, pin P20). Either way nothing is revoked.
	if t.ClientID != c.ID {
		h.log().WarnContext(ctx, "revoke: token of another client presented",
			"client_id", c.ID, "token_client_id", t.ClientID, "public", c.Public())
		if c.Public() {
			return nil
		}
		return oauth.Errorf(oauth.InvalidRequest, "client is not authorized to revoke the presented token")
	}
	now := h.now()
	if t.TokenUse == token.UseRefresh {
		// RFC 7009 §2.1: "If the particular token is a refresh token and the
		// authorization server supports the revocation of access tokens,
		// then the authorization server SHOULD also invalidate all access
		// tokens based on the same authorization grant" (catalogue IR-02b):
		// the family goes on the deny-list, which every access token of the
		// grant carries as grant_id, until the last of them has expired.
		f := family{refresh: h.Refresh, revocations: h.Revocations, tokens: h.Introspector.Issuer, log: h.log()}
		return f.revoke(ctx, t.GrantID, now, "refresh token revoked by its client")
	}
	// An access token, JWT or opaque: its jti goes on the deny-list until it
	// would have expired anyway, with a margin for clocks that run behind
	// (catalogue IR-02c). The rest of its grant lives on.
	until := time.Unix(t.Expiry, 0).Add(token.RevocationMargin)
	if err := h.Revocations.Add(ctx, t.ID, until); err != nil {
		return unavailable("deny-list the access token", err)
	}
	h.log().InfoContext(ctx, "revoke: access token revoked", "client_id", c.ID, "jti", t.ID)
	return nil
}
