package web

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/token"
)

// The implicit grant (RFC 6749 §4.2, response_type=token) and the access
// tokens of OpenID Connect's "id_token token" and hybrid types: the access
// token goes straight to the browser, in the fragment of the redirect URI
// or a form_post page. It is deprecated (RFC 9700 §2.1.2) and off unless
// both the server (Handler.ImplicitDisabled false) and the client's
// registration allow it; checkResponseType checks both (pin P16). Sign-in
// and consent are those of the code flow; only the answer differs.

// implicitToken mints an access token for a, which the person has just
// authorized, and returns it with the response parameters that carry it.
//
// The token carries familyID as grant_id, as every token a person
// authorized does (only client-credentials tokens have none). With a code
// beside it (hybrid), that is the code's family, so a replayed code revokes
// this token too; alone, its family is this one token, and putting the
// family on the deny-list revokes it like any other.
func (h *Handler) implicitToken(ctx context.Context, a *authorization, si *signedIn, familyID string) (string, []string, error) {
	// RFC 8707 §2: the resources asked for are the token's audience; with
	// none, the configured default.
	aud := a.Resources
	if len(aud) == 0 {
		aud = h.Audience
	}
	raw, exp, err := h.Tokens.Mint(ctx, a.client, token.AccessRequest{
		Subject:  si.user.ID,
		ClientID: a.client.ID,
		Audience: slices.Clone(aud),
		Scopes:   slices.Clone(a.Scopes),
		AuthTime: si.session.AuthTime,
		GrantID:  familyID,
	})
	if errors.Is(err, token.ErrStore) {
		return "", nil, oauth.Unavailable(err) // temporarily_unavailable, as for any store failure
	}
	if err != nil {
		return "", nil, oauth.Internal(err)
	}
	h.Log.Info("authorize: implicit access token issued", "client_id", a.client.ID, "user_id", si.user.ID, "grant_id", familyID)
	// RFC 6749 §4.2.2: access_token, token_type, expires_in ("RECOMMENDED"),
	// scope; deliver adds state and iss (RFC 9207). "The authorization
	// server MUST NOT issue a refresh token" (catalogue AZ-03b).
	params := []string{
		"access_token", raw,
		"token_type", "Bearer",
		"expires_in", strconv.FormatInt(max(int64(exp.Sub(h.now()).Round(time.Second)/time.Second), 0), 10),
	}
	if s := oauth.JoinScope(a.Scopes); s != "" {
		params = append(params, "scope", s)
	}
	return raw, params, nil
}
