package web

import (
	"context"

	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/token"
)

// idToken mints the ID token of a response type with id_token (OpenID
// Connect Core §3.2.2.10, §3.3.2.11) for a, which the person has just
// authorized in session si. code and accessToken are those issued beside
// it, "" when none was.
func (h *Handler) idToken(ctx context.Context, a *authorization, si *signedIn, code, accessToken string) (string, error) {
	// Core §8: the sub this client is told, public or pairwise.
	sub, err := h.Subjects.For(a.client, si.user.ID)
	if err != nil {
		return "", oauth.Internal(err)
	}
	// Core §5.4: "The Claims requested by the profile, email, address, and
	// phone scope values are returned from the UserInfo Endpoint ... when a
	// response_type value is used that results in an Access Token being
	// issued. However, when no Access Token is issued (which is the case for
	// the response_type value id_token), the resulting Claims are returned
	// in the ID Token." A code can be exchanged for an access token too, so
	// only id_token alone carries them.
	var claims map[string]any
	if !a.kind.code && !a.kind.token {
		claims = h.Claims.Release(sub, si.user, a.Scopes)
	}
	raw, err := h.IDTokens.ID(token.IDRequest{
		Alg:      a.client.IDTokenSignedResponseAlg,
		Subject:  sub,
		ClientID: a.client.ID,
		// Core §3.2.2.10: nonce "MUST be present"; checkAuthorize made sure
		// the request had one.
		Nonce: a.Nonce,
		// Core §2: auth_time is REQUIRED when max_age was asked for; it is
		// always sent, so the client can check any request.
		AuthTime:  si.session.AuthTime,
		SessionID: si.session.SID,
		// Core §3.3.2.11: at_hash when an access token is issued beside
		// it, c_hash when a code is.
		AccessToken: accessToken,
		Code:        code,
		Claims:      claims,
		TTL:         h.IDTokenTTL,
	})
	if err != nil {
		return "", oauth.Internal(err)
	}
	return raw, nil
}
