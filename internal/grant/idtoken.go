package grant

import (
	"fmt"
	"slices"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/token"
)

// IDTokens adds an OpenID Connect ID token to the token response of a grant
// made for a person whose granted scopes include "openid": the
// authorization code grant (OpenID Connect Core §3.1.3.3), the refresh
// grant (Core §12.2) and the password grant. The client-credentials grant
// never gets one: no person signed in.
//
// The password grant is not in OpenID Connect; Valet follows the same rule
// there (openid among the granted scopes, which is the client's registered
// set when the request names none) so that the first response and the
// refreshes of one family agree on whether an ID token comes with them.
type IDTokens struct {
	// Subjects turns the user ID into the sub the client sees: the ID for
	// "public" clients, a per-sector value for "pairwise" ones.
	Subjects token.Subjects
	// Claims releases profile, email and custom claims by scope; UserInfo
	// uses the same rules.
	Claims token.ClaimRules
	// TTL is the ID token's lifetime; zero means token.DefaultIDTokenTTL.
	TTL time.Duration
}

// signIn is what an ID token asserts about one sign-in.
type signIn struct {
	user   *valet.User
	scopes []string
	// authTime is when the person entered their password: kept across
	// refreshes (Core §12.2: auth_time "MUST represent the time of the
	// original authentication").
	authTime time.Time
	// nonce and sessionID come from the authorization request and its
	// browser session; refreshes and the password grant have neither.
	nonce, sessionID string
	// accessToken is the access token of the same response, for at_hash.
	accessToken string
}

// wanted reports whether a response for scopes carries an ID token.
func (t *IDTokens) wanted(scopes []string) bool {
	return t != nil && slices.Contains(scopes, token.ScopeOpenID)
}

// mint signs the ID token of s for client c with issuer.
func (t *IDTokens) mint(issuer *token.Issuer, c *valet.Client, s signIn) (string, error) {
	sub, err := t.Subjects.For(c, s.user.ID)
	if err != nil {
		return "", oauth.Internal(err)
	}
	raw, err := issuer.ID(token.IDRequest{
		// Core §3.1.3.7: the client registered its alg; "" is RS256.
		Alg:      c.IDTokenSignedResponseAlg,
		Subject:  sub,
		ClientID: c.ID,
		// Core §3.1.3.6: "If a nonce value was sent in the Authentication
		// Request, a nonce Claim MUST be present and its value checked";
		// it is echoed byte for byte, never trimmed (catalogue IP-05).
		Nonce:     s.nonce,
		AuthTime:  s.authTime,
		SessionID: s.sessionID,
		// Core §3.3.2.11: at_hash lets the client tie the access token to
		// this sign-in; optional in the code flow, always sent.
		AccessToken: s.accessToken,
		Claims:      t.Claims.Release(sub, s.user, s.scopes),
		TTL:         t.TTL,
	})
	if err != nil {
		return "", oauth.Internal(fmt.Errorf("mint ID token: %w", err))
	}
	return raw, nil
}
