package grant

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/token"
)

// RefreshToken exchanges a refresh token for new tokens (RFC 6749 §6) with
// strict rotation (catalogue pin P5, grace 0): each refresh token works once
// and is replaced by a new one; presenting a used one revokes the whole
// family, the newest tokens included (RFC 9700 §4.14.2, pin P6).
type RefreshToken struct {
	Refresh     valet.RefreshStore
	Revocations valet.RevocationStore // the deny-list a reused token's family goes on
	Users       valet.UserStore       // a deleted user's tokens stop working
	Consents    valet.ConsentStore    // so do the tokens of a withdrawn consent
	Digester    *secret.Digester      // digests of refresh tokens and opaque access tokens
	Tokens      *token.Issuer
	// Access stores opaque access tokens, for clients registered with
	// access_token_format "opaque"; JWT access tokens are never stored.
	Access valet.AccessTokenStore
	// IDTokens, when set, adds a new ID token to a refresh whose scopes
	// include openid (OpenID Connect Core §12.2).
	IDTokens *IDTokens
	// Audience is the "aud" of access tokens whose family names no RFC 8707 resource.
	Audience []string
	// RefreshTTL is the lifetime of each new refresh token, counted from its rotation.
	RefreshTTL time.Duration
	Now        func() time.Time // nil means time.Now
	Log        *slog.Logger     // nil discards
}

// Type returns "refresh_token".
func (g *RefreshToken) Type() string { return valet.GrantRefreshToken }

// badRefresh is the one answer for a refresh token that is unknown, of the
// wrong type, expired, revoked, used or another client's.
func badRefresh() error {
	return oauth.Errorf(oauth.InvalidGrant, "the refresh token is invalid, expired or revoked, or was issued to another client")
}

// Exchange rotates r.RefreshToken for client c and mints an access token for
// the requested scopes, or the family's original scopes when none are given.
func (g *RefreshToken) Exchange(ctx context.Context, c *valet.Client, r *Request) (*Response, error) {
	now := g.now()
	if !strings.HasPrefix(r.RefreshToken, refreshPrefix) || len(r.RefreshToken) > maxTokenLen {
		return nil, badRefresh() // an access token or a code is not a refresh token (RT-03f)
	}
	digest := g.Digester.Digest(secret.PurposeRefresh, r.RefreshToken)
	old, err := g.Refresh.Get(ctx, digest)
	if errors.Is(err, valet.ErrNotFound) {
		return nil, badRefresh()
	}
	if err != nil {
		return nil, unavailable("get refresh token", err)
	}
	// RFC 6749 §6: the server MUST "validate the refresh token" and "ensure
	// that the refresh token was issued to the authenticated client".
	if old.ClientID != c.ID {
		g.log().WarnContext(ctx, "token: refresh token presented by another client",
			"client_id", c.ID, "token_client_id", old.ClientID, "family_id", old.FamilyID)
		return nil, badRefresh()
	}
	switch {
	case !old.RevokedAt.IsZero():
		return nil, badRefresh()
	case !old.UsedAt.IsZero():
		// RFC 9700 §4.14.2: with rotation, when a refresh token is used again
		// the server "cannot determine which party submitted the invalid
		// refresh token" and "will revoke the active refresh token".
		return nil, g.reused(ctx, old.FamilyID, now)
	case !now.Before(old.ExpiresAt):
		return nil, badRefresh()
	}

	user, err := g.Users.Get(ctx, old.UserID)
	if errors.Is(err, valet.ErrNotFound) {
		return nil, badRefresh()
	}
	if err != nil {
		return nil, unavailable("get user", err)
	}
	scopes := old.Scopes
	if r.Scopes != nil {
		// RFC 6749 §6: "The requested scope MUST NOT include any scope not
		// originally granted by the resource owner, and if omitted is treated
		// as equal to the scope originally granted" (catalogue RT-04, pin P12:
		// the original, not the last narrowed, scope).
		for _, s := range r.Scopes {
			if !slices.Contains(old.Scopes, s) {
				return nil, oauth.Errorf(oauth.InvalidScope, "scope may only narrow the scope originally granted")
			}
		}
		scopes = r.Scopes
	}
	// RFC 9700 §4.14.2: refresh tokens are bound "to the scope and resource
	// servers as consented"; once the person withdraws consent, or narrows it
	// below what this refresh asks for, the token is dead (catalogue RT-03e).
	consent, err := g.Consents.Get(ctx, old.UserID, c.ID)
	if errors.Is(err, valet.ErrNotFound) {
		return nil, badRefresh()
	}
	if err != nil {
		return nil, unavailable("get consent", err)
	}
	if !consent.Covers(scopes) {
		return nil, badRefresh()
	}
	aud, err := audience(r.Resources, old.Resources, g.Audience)
	if err != nil {
		return nil, err
	}
	// Minted before the rotation, so that a signing failure does not use up
	// the old token; a token minted by a request that loses the rotation
	// below is never sent.
	resp, err := g.family().access(ctx, c, grantedTokens{
		userID: old.UserID, familyID: old.FamilyID,
		audience: aud, scopes: scopes, authTime: old.AuthTime,
	})
	if err != nil {
		return nil, err
	}
	// Core §12.2: the new ID token has the sub, aud and auth_time of the
	// sign-in the family started with, a new iat, and no nonce. It goes
	// with the scopes of this refresh: narrowed without openid, none.
	if g.IDTokens.wanted(scopes) {
		resp.IDToken, err = g.IDTokens.mint(g.Tokens, c, signIn{
			user: user, scopes: scopes, authTime: old.AuthTime, accessToken: resp.AccessToken,
		})
		if err != nil {
			return nil, err
		}
	}
	// The next link keeps the family's original scopes and resources, so a
	// narrowed refresh never shrinks what later refreshes may ask for.
	value, next := newRefresh(g.Digester, g.RefreshTTL, now, old)
	ok, err := g.Refresh.Rotate(ctx, digest, next)
	if err != nil {
		return nil, unavailable("rotate refresh token", err)
	}
	if !ok {
		// Used, revoked or expired since Get: most often a concurrent refresh
		// of the same token won. Strict rotation treats every loser as reuse,
		// so of N concurrent refreshes one succeeds and the family then dies
		// (catalogue RT-02, R2 strict mode).
		return nil, g.reused(ctx, old.FamilyID, now)
	}
	// A concurrent revocation (POST /revoke, a replay elsewhere, the person
	// removing the app) may have revoked the family between Get and Rotate,
	// before the new link existed; then it is revoked now, as the code
	// grant does for its first refresh token. The response still goes out,
	// as if the revocation had come a moment later.
	if err := g.family().checkRevoked(ctx, old.FamilyID, now); err != nil {
		return nil, err
	}
	resp.RefreshToken = value
	touchConsent(ctx, g.Consents, g.log(), old.UserID, c.ID, now)
	return resp, nil
}

// reused revokes the family of a refresh token presented after its use and
// answers invalid_grant (catalogue RT-01, pin P6).
func (g *RefreshToken) reused(ctx context.Context, familyID string, now time.Time) error {
	if err := g.family().revoke(ctx, familyID, now, "refresh token reused"); err != nil {
		return err
	}
	return badRefresh()
}

func (g *RefreshToken) family() family {
	return family{refresh: g.Refresh, revocations: g.Revocations, opaque: g.Access,
		digester: g.Digester, tokens: g.Tokens, log: g.log()}
}

func (g *RefreshToken) now() time.Time {
	if g.Now == nil {
		return time.Now()
	}
	return g.Now()
}

func (g *RefreshToken) log() *slog.Logger {
	if g.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.Log
}
