package token

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/secret"
)

// accessPrefix starts every opaque access token (catalogue §3.2), so that a
// token of another type is refused before any lookup.
const accessPrefix = "at_"

// ErrStore marks a Mint that failed because the token could not be stored:
// a storage outage, which callers answer with 503 (pin P7) so that the
// client retries, unlike a configuration error.
var ErrStore = errors.New("token: the store failed")

// Minter mints an access token in the format the client registered: an RFC
// 9068 JWT signed by Issuer, or, for access_token_format "opaque", a random
// value stored in Access under its keyed digest. Every place that hands out
// access tokens (the token endpoint's grants, the implicit grant at
// /authorize) goes through it, so both formats mean the same thing
// everywhere.
type Minter struct {
	Issuer *Issuer // signs JWTs; its AccessTTL and Now serve opaque tokens too
	Access valet.AccessTokenStore
	// Digester computes the opaque token's digest (secret.PurposeAccess);
	// only the digest is stored.
	Digester *secret.Digester
}

// Mint mints an access token for r in the format c registered and returns
// the token and its expiry. r.ClientID must be c's ID. An opaque token gets
// a fresh ID (its jti, for revocation); r.GrantID ties either format to its
// grant family.
func (m *Minter) Mint(ctx context.Context, c *valet.Client, r AccessRequest) (raw string, exp time.Time, err error) {
	if r.ClientID != c.ID {
		return "", time.Time{}, fmt.Errorf("token: minting for client %q with the registration of %q", r.ClientID, c.ID)
	}
	switch c.AccessTokenFormat {
	case valet.TokenFormatJWT, "": // "": a client stored before formats existed
		raw, claims, err := m.Issuer.Access(r)
		if err != nil {
			return "", time.Time{}, err
		}
		return raw, time.Unix(claims.Expiry, 0), nil
	case valet.TokenFormatOpaque:
		return m.opaque(ctx, r)
	default:
		// Validate refuses other formats; a stored one is a data error, and
		// guessing a format could hand out a token nobody can check.
		return "", time.Time{}, fmt.Errorf("token: client %q has unknown access_token_format %q", c.ID, c.AccessTokenFormat)
	}
}

// opaque stores a new opaque access token for r and returns its value.
func (m *Minter) opaque(ctx context.Context, r AccessRequest) (string, time.Time, error) {
	if m.Access == nil || m.Digester == nil {
		return "", time.Time{}, errors.New("token: minting an opaque access token needs Access and Digester")
	}
	now := m.Issuer.Now()
	value := newOpaque(now)
	// Whole seconds, like a JWT's exp: a token of either format issued at
	// one instant expires at the same second, and the stored expiry is
	// exactly the one returned.
	exp := now.Add(m.Issuer.AccessTTL).Truncate(time.Second)
	t := &valet.AccessToken{
		Digest:    OpaqueKey(m.Digester, value),
		ID:        secret.ID(""),
		GrantID:   r.GrantID,
		ClientID:  r.ClientID,
		Subject:   r.Subject,
		Scopes:    slices.Clone(r.Scopes),
		Audience:  slices.Clone(r.Audience),
		AuthTime:  r.AuthTime,
		CreatedAt: now,
		ExpiresAt: exp,
	}
	if err := m.Access.Create(ctx, t); err != nil {
		return "", time.Time{}, fmt.Errorf("%w: store opaque access token: %w", ErrStore, err)
	}
	return value, exp, nil
}
