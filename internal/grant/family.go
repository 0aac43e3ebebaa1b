package grant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/token"
)

// A grant family is everything one authorization produced: its code, the
// chain of refresh tokens rotated from it and every access token minted on
// the way, which carry the family ID as grant_id. This file holds what both
// grants do with a family: mint its tokens and revoke it.

// family names the stores and token issuer a grant needs to mint and revoke
// a family's tokens.
type family struct {
	refresh     valet.RefreshStore
	revocations valet.RevocationStore
	opaque      valet.AccessTokenStore // opaque access tokens
	digester    *secret.Digester
	tokens      *token.Issuer
	log         *slog.Logger
}

// revoke kills the whole family: its access tokens through the shared
// deny-list, until the last of them has expired on its own, and its refresh
// tokens in the refresh store. The deny-list entry is written first, so that
// a concurrent request that creates a refresh token in the family and then
// checks the deny-list (see checkRevoked) always sees one or the other.
//
// RFC 6749 §4.1.2: "If an authorization code is used more than once, the
// authorization server MUST deny the request and SHOULD revoke (when
// possible) all tokens previously issued based on that authorization code."
// RFC 9700 §4.14.2: on refresh-token reuse the server "will revoke the
// active refresh token".
func (f family) revoke(ctx context.Context, familyID string, now time.Time, why string) error {
	f.log.WarnContext(ctx, "token: grant family revoked", "family_id", familyID, "reason", why)
	if err := f.revocations.Add(ctx, familyID, now.Add(f.tokens.AccessTTL+token.RevocationMargin)); err != nil {
		return unavailable("deny-list the grant family", err)
	}
	if _, err := f.refresh.RevokeFamily(ctx, familyID, now); err != nil {
		return unavailable("revoke the grant family", err)
	}
	return nil
}

// checkRevoked closes the window between a code's consumption (or a
// refresh token's Get) and the creation of the family's next refresh
// token: a concurrent replay or revocation may have revoked the family in
// between, before that token existed. If the family is on the deny-list, the
// new token is revoked as well. revoke writes the deny-list before it
// revokes, and callers create before they check, so in every interleaving
// one of the two sees the other.
func (f family) checkRevoked(ctx context.Context, familyID string, now time.Time) error {
	revoked, err := f.revocations.AnyRevoked(ctx, familyID)
	if err != nil {
		return unavailable("check the deny-list", err)
	}
	if !revoked {
		return nil
	}
	if _, err := f.refresh.RevokeFamily(ctx, familyID, now); err != nil {
		return unavailable("revoke the grant family", err)
	}
	return nil
}

// grantedTokens is what one successful exchange hands out. userID is the
// token's subject: the client's own ID for client credentials.
type grantedTokens struct {
	userID, familyID string
	audience, scopes []string
	authTime         time.Time
}

// access mints the access token of t for client c, in the format c
// registered (token.Minter: an RFC 9068 JWT, or an opaque token stored under
// its digest), and the response around it. Every grant mints here.
func (f family) access(ctx context.Context, c *valet.Client, t grantedTokens) (*Response, error) {
	m := token.Minter{Issuer: f.tokens, Access: f.opaque, Digester: f.digester}
	at, _, err := m.Mint(ctx, c, token.AccessRequest{
		Subject:  t.userID,
		ClientID: c.ID,
		Audience: t.audience,
		Scopes:   t.scopes,
		AuthTime: t.authTime,
		GrantID:  t.familyID,
	})
	if errors.Is(err, token.ErrStore) {
		// The opaque token could not be stored: like every store failure,
		// 503 so that the client retries (pin P7).
		return nil, unavailable("mint access token", err)
	}
	if err != nil {
		return nil, fmt.Errorf("mint access token: %w", err)
	}
	return &Response{
		AccessToken: at,
		// RFC 6749 §7.1 and RFC 6750 §4: the token is a bearer token.
		TokenType: "Bearer",
		// Both formats live AccessTTL from now.
		ExpiresIn: int64(f.tokens.AccessTTL / time.Second),
		// RFC 6749 §5.1: scope is "REQUIRED, if identical to the scope
		// requested by the client"... "OPTIONAL" otherwise; Valet always
		// sends the canonical granted set.
		Scope: oauth.JoinScope(t.scopes),
	}, nil
}

// newRefresh returns a fresh refresh token value and its stored form, a link
// of the family that keeps the family's original scopes and resources.
func newRefresh(d *secret.Digester, ttl time.Duration, now time.Time, fam *valet.RefreshToken) (string, *valet.RefreshToken) {
	value := secret.Token(refreshPrefix)
	t := *fam
	t.Digest = d.Digest(secret.PurposeRefresh, value)
	t.Scopes = slices.Clone(fam.Scopes)
	t.Resources = slices.Clone(fam.Resources)
	t.CreatedAt = now
	t.ExpiresAt = now.Add(ttl)
	t.UsedAt = time.Time{}
	t.RevokedAt = time.Time{}
	return value, &t
}

// audience chooses the access token's "aud" (RFC 8707 §2.2) for a code or
// refresh grant: the resources the token request names (already checked by
// oauth.ParseResources), each of which must be one the authorization
// allowed; or else every resource the authorization asked for; or else the
// configured default audience.
func audience(requested, authorized, defaults []string) ([]string, error) {
	allowed := authorized
	if len(allowed) == 0 {
		allowed = defaults
	}
	if len(requested) == 0 {
		return slices.Clone(allowed), nil
	}
	for _, r := range requested {
		if !slices.Contains(allowed, r) {
			// RFC 8707 §2.2: for a resource the grant does not cover, "the
			// authorization server ... MUST respond with an invalid_target error".
			return nil, oauth.Errorf(oauth.InvalidTarget, "resource is not among the resources this grant was authorized for")
		}
	}
	return requested, nil
}

// clientAudience chooses the "aud" of a token the client asks for in its
// own right (client credentials, password): RFC 8707 §2 resources must be
// among those the client registered (valet.Client.Resources), compared byte
// for byte as /authorize does; with none requested, the configured default.
func clientAudience(c *valet.Client, requested, defaults []string) ([]string, error) {
	if len(requested) == 0 {
		return defaults, nil
	}
	for _, r := range requested {
		if !slices.Contains(c.Resources, r) {
			return nil, oauth.Errorf(oauth.InvalidTarget, "the client is not allowed one or more of the requested resources")
		}
	}
	return requested, nil
}

// clientScopes chooses the scopes of a token the client asks for in its own
// right: RFC 6749 §3.3, the requested scopes, each one the client
// registered (else invalid_scope); with none requested, "the authorization
// server MUST either process the request using a pre-defined default value
// or fail": Valet's default is everything the client registered.
func clientScopes(c *valet.Client, requested []string) ([]string, error) {
	if requested == nil {
		return canonicalScopes(c.Scopes), nil
	}
	if !c.AllowsScopes(requested) {
		return nil, oauth.Errorf(oauth.InvalidScope, "the client is not allowed one or more of the requested scopes")
	}
	return requested, nil
}

// canonicalScopes returns scopes distinct and sorted, as oauth.ParseScope
// returns requested ones, without copying when they already are.
func canonicalScopes(scopes []string) []string {
	for i := 1; i < len(scopes); i++ {
		if scopes[i-1] >= scopes[i] {
			c := slices.Clone(scopes)
			slices.Sort(c)
			return slices.Compact(c)
		}
	}
	return scopes
}

// Token type prefixes (catalogue §3.2): a value with the wrong prefix is
// refused before any lookup.
const (
	codePrefix    = "ac_"
	refreshPrefix = token.RefreshPrefix
)

// maxTokenLen bounds a presented code or refresh token; real ones are the
// prefix and 43 characters.
const maxTokenLen = 256
