package grant

import (
	"context"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/token"
)

// ClientCredentials issues access tokens to a client acting on its own
// behalf (RFC 6749 §4.4): machine-to-machine traffic, the hot path. The
// Handler has already authenticated the client with a keyed digest of its
// secret, the client lookup being the only read; a JWT access token then
// needs no write at all, an opaque one a single insert.
type ClientCredentials struct {
	Tokens *token.Issuer
	// Access and Digester store opaque access tokens, for clients
	// registered with access_token_format "opaque".
	Access   valet.AccessTokenStore
	Digester *secret.Digester
	// Audience is the "aud" of tokens whose request names no RFC 8707
	// resource.
	Audience []string
}

// Type returns "client_credentials".
func (g *ClientCredentials) Type() string { return valet.GrantClientCredentials }

// Exchange mints an access token for client c with the requested scopes,
// or every scope c registered when none is requested.
func (g *ClientCredentials) Exchange(ctx context.Context, c *valet.Client, r *Request) (*Response, error) {
	// RFC 6749 §4.4: "The client credentials grant type MUST only be used by
	// confidential clients." Registration refuses a public client with this
	// grant; a stored one is refused here all the same (catalogue TE-04a,
	// unauthorized_client as pinned).
	if c.Public() {
		return nil, oauth.Errorf(oauth.UnauthorizedClient, "a public client cannot use the client_credentials grant: it has no secret to prove itself")
	}
	// RFC 6749 §4.4.2: scope as in §3.3 (catalogue TE-04b).
	scopes, err := clientScopes(c, r.Scopes)
	if err != nil {
		return nil, err
	}
	aud, err := clientAudience(c, r.Resources, g.Audience)
	if err != nil {
		return nil, err
	}
	// The subject is the client itself (RFC 9068 §2.2: sub "SHOULD
	// correspond to an identifier the authorization server uses to indicate
	// the client application"). There is no user, so no auth_time, and no
	// grant family (catalogue TE-04d). RFC 6749 §4.4.3: "A refresh token
	// SHOULD NOT be included" (TE-04c): none is. Nor is an ID token, even
	// with scope openid: nobody signed in (UserInfo refuses these tokens
	// for the same reason).
	f := family{opaque: g.Access, digester: g.Digester, tokens: g.Tokens}
	return f.access(ctx, c, grantedTokens{userID: c.ID, audience: aud, scopes: scopes})
}
