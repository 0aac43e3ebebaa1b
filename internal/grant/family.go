package grant

import (
	"context"
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

// revocationMargin is added to the access-token lifetime when a family goes
// on the deny-list: it covers clock skew between nodes and a token minted by
// a concurrent request just after the revocation.
const revocationMargin = 5 * time.Minute

// family names the stores and token issuer a grant needs to mint and revoke
// a family's tokens.
type family struct {
	refresh     valet.RefreshStore
	revocations valet.RevocationStore
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
	if err := f.revocations.Add(ctx, familyID, now.Add(f.tokens.AccessTTL+revocationMargin)); err != nil {
		return unavailable("deny-list the grant family", err)
	}
	if _, err := f.refresh.RevokeFamily(ctx, familyID, now); err != nil {
		return unavailable("revoke the grant family", err)
	}
	return nil
}

// checkRevoked closes the window between a code's consumption and the
// creation of its first refresh token: a concurrent replay may have revoked
// the family in between, before that token existed. If the family is on the
// deny-list, the new token is revoked as well.
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

// grantedTokens is what one successful exchange hands out.
type grantedTokens struct {
	clientID, userID, familyID string
	audience, scopes           []string
	authTime                   time.Time
}

// access mints the RFC 9068 access token of t and the response around it.
func (f family) access(t grantedTokens) (*Response, error) {
	at, claims, err := f.tokens.Access(token.AccessRequest{
		Subject:  t.userID,
		ClientID: t.clientID,
		Audience: t.audience,
		Scopes:   t.scopes,
		AuthTime: t.authTime,
		GrantID:  t.familyID,
	})
	if err != nil {
		return nil, fmt.Errorf("mint access token: %w", err)
	}
	return &Response{
		AccessToken: at,
		// RFC 6749 §7.1 and RFC 6750 §4: the token is a bearer token.
		TokenType: "Bearer",
		ExpiresIn: claims.Expiry - claims.IssuedAt,
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

// audience chooses the access token's "aud" (RFC 8707 §2.2): the resource
// the token request names, which must be one the authorization allowed; or
// else every resource the authorization asked for; or else the configured
// default audience.
func audience(requested string, authorized, defaults []string) ([]string, error) {
	allowed := authorized
	if len(allowed) == 0 {
		allowed = defaults
	}
	if requested == "" {
		return slices.Clone(allowed), nil
	}
	if !slices.Contains(allowed, requested) {
		// RFC 8707 §2.2: for a resource the grant does not cover, "the
		// authorization server ... MUST respond with an invalid_target error".
		return nil, oauth.Errorf(oauth.InvalidTarget, "resource is not among the resources this grant was authorized for")
	}
	return []string{requested}, nil
}

// Token type prefixes (catalogue §3.2): a value with the wrong prefix is
// refused before any lookup.
const (
	codePrefix    = "ac_"
	refreshPrefix = "rt_"
)

// maxTokenLen bounds a presented code or refresh token; real ones are the
// prefix and 43 characters.
const maxTokenLen = 256
