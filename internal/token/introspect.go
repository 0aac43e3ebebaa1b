package token

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/secret"
)

// Token kinds, the value of Introspection.TokenUse.
const (
	UseAccess  = "access_token"
	UseRefresh = "refresh_token"
)

// RevocationMargin is added to an access token's remaining lifetime when it
// or its grant goes on the deny-list: it covers clock skew between nodes
// and a token minted by a concurrent request just after the revocation.
const RevocationMargin = 5 * time.Minute

// RefreshPrefix starts every refresh token (catalogue §3.2).
const RefreshPrefix = "rt_"

// maxOpaque bounds a presented opaque token before it is digested; real
// ones are a three-character prefix and 43 characters.
const maxOpaque = 256

// Introspection is the RFC 7662 §2.2 introspection response. An inactive
// token has Active false and no other member (RFC 7662 §2.2: the server
// "SHOULD NOT include any additional information about an inactive token").
type Introspection struct {
	Active   bool   `json:"active"`
	Scope    string `json:"scope,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	// TokenType is "Bearer" for access tokens: RFC 7662 §2.2 defines it as
	// the type of RFC 6749 §5.1. It is absent for refresh tokens.
	TokenType string   `json:"token_type,omitempty"`
	Expiry    int64    `json:"exp,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	NotBefore int64    `json:"nbf,omitempty"`
	Subject   string   `json:"sub,omitempty"`
	Audience  Audience `json:"aud,omitempty"` // absent for refresh tokens, which no resource server accepts
	Issuer    string   `json:"iss,omitempty"`
	ID        string   `json:"jti,omitempty"`

	// Members Valet adds (RFC 7662 §2.2 allows "other members"). TokenUse
	// is UseAccess or UseRefresh, whatever token_type_hint said: a resource
	// server must accept only "access_token" (catalogue JW-02b). GrantID is
	// the grant family, absent for client-credentials tokens; AuthTime is
	// when the user last signed in, absent when no user is involved.
	TokenUse string `json:"token_use,omitempty"`
	GrantID  string `json:"grant_id,omitempty"`
	AuthTime int64  `json:"auth_time,omitempty"`
}

// Introspector finds the tokens Valet issued and says whether each still
// works: JWT access tokens are verified locally, opaque access tokens and
// refresh tokens are looked up by their keyed digest, and all of them are
// checked against the shared deny-list. POST /introspect and the admin API
// both use it, so both give the same answer.
type Introspector struct {
	Issuer      *Issuer // verifies JWT access tokens; its URL is the "iss" of the others
	Access      valet.AccessTokenStore
	Refresh     valet.RefreshStore
	Revocations valet.RevocationStore
	// Consents, when set, makes every token a person granted inactive once
	// the person removes the app (the account page), whether or not the
	// grant has refresh tokens to revoke. Client-credentials tokens, which
	// no person granted, are not affected.
	Consents valet.ConsentStore
	// Clients, when set, makes every token of a deleted client inactive,
	// including client-credentials JWTs, which no row ties to the client.
	// Every introspection reads the client, so give it a cached store
	// (cache.Clients) on the hot path.
	Clients  valet.ClientStore
	Digester *secret.Digester // digests of opaque access tokens and refresh tokens
	Now      func() time.Time // nil means time.Now

	// JWTCacheSize is how many verified JWT access tokens are remembered,
	// so that introspecting one again skips the signature check, and as
	// many opaque ones, so that it skips the read of the stored token;
	// zero means DefaultJWTCacheSize and a negative value turns both
	// caches off. The deny-list, client, consent, expiry and key checks
	// still run on every call. It is read once, at the first introspection.
	JWTCacheSize int

	cacheOnce  sync.Once
	cache      *claimsCache // verified JWTs by token; nil when off
	opaqueRows *claimsCache // opaque tokens found active, by digest; nil when off
	onParse    func()       // tests: called before every full verification
}

// Introspect returns the RFC 7662 response for raw. Anything that is not a
// token Valet issued and that still works (expired, revoked, rotated,
// garbage, signed by a foreign key, an ID token) is exactly {active: false},
// a fresh value with no other member. The error is only ever a storage
// failure, which the caller must not report as an inactive token.
func (i *Introspector) Introspect(ctx context.Context, raw string) (*Introspection, error) {
	t, err := i.Lookup(ctx, raw)
	if err != nil {
		return nil, err
	}
	if t == nil || !t.Active {
		return &Introspection{Active: false}, nil
	}
	return t, nil
}

// Lookup finds the token raw stands for and describes it, with Active
// saying whether it works now. It returns nil, nil when raw is no token
// Valet could have issued: an unknown or malformed value, or a JWT that does
// not verify (bad signature, foreign or removed key, wrong type, expired).
// Unlike Introspect it describes a token that exists but no longer works,
// such as a used or revoked refresh token, so that revocation can find the
// grant behind it; never send such a description to a caller.
func (i *Introspector) Lookup(ctx context.Context, raw string) (*Introspection, error) {
	switch {
	case strings.HasPrefix(raw, accessPrefix):
		return i.opaque(ctx, raw)
	case strings.HasPrefix(raw, RefreshPrefix):
		return i.refresh(ctx, raw)
	case strings.Count(raw, ".") == 2:
		return i.jwt(ctx, raw)
	}
	// Codes (ac_), ID tokens and garbage: never an access or refresh token
	// (catalogue JW-02).
	return nil, nil
}

// jwt verifies an RFC 9068 access token and checks its jti and grant on
// the deny-list (catalogue IR-02c: a revoked JWT still verifies).
func (i *Introspector) jwt(ctx context.Context, raw string) (*Introspection, error) {
	// The Issuer's clock decides expiry here; Now serves the stored tokens.
	c, ok := i.cachedJWT(raw)
	if !ok {
		if i.onParse != nil {
			i.onParse()
		}
		parsed, key, err := i.Issuer.parseAccess(raw)
		if err != nil {
			return nil, nil
		}
		c = *parsed
		if cache := i.jwtCache(); cache != nil {
			cache.put(raw, parsed, key.KeyID, key.Key, i.Issuer.Now())
		}
	}
	// The token verified and is in time; what is left is the deny-list.
	return i.describeAccess(ctx, c, true)
}

// cachedJWT returns the claims of raw if ParseAccess accepted it before and
// would still: it has not expired by the Issuer's clock (nor is it before
// its nbf or iat), and the key that verified it is still published. A token
// that fails these checks leaves the cache and is verified in full.
func (i *Introspector) cachedJWT(raw string) (AccessClaims, bool) {
	cache := i.jwtCache()
	if cache == nil {
		return AccessClaims{}, false
	}
	c, kid, verifiedBy, ok := cache.get(raw)
	if !ok {
		return AccessClaims{}, false
	}
	key, published := i.Issuer.Keys.PublicKey(kid)
	if !published || !slices.Contains(AccessAlgs, key.Algorithm) || !sameKey(key.Key, verifiedBy) || !c.validAt(i.Issuer.Now()) {
		cache.remove(raw)
		return AccessClaims{}, false
	}
	return c, true
}

// jwtCache returns the cache of verified JWTs, or nil when it is off.
func (i *Introspector) jwtCache() *claimsCache {
	i.initCaches()
	return i.cache
}

// opaqueCache returns the cache of stored opaque tokens found active, or
// nil when it is off; it has the size of the JWT cache.
func (i *Introspector) opaqueCache() *claimsCache {
	i.initCaches()
	return i.opaqueRows
}

func (i *Introspector) initCaches() {
	i.cacheOnce.Do(func() {
		size := i.JWTCacheSize
		if size == 0 {
			size = DefaultJWTCacheSize
		}
		if size > 0 {
			i.cache = newClaimsCache(size)
			i.opaqueRows = newClaimsCache(size)
		}
	})
}

// opaque looks up an opaque access token by its digest. A stored token
// never changes (revocation goes to the deny-list, and only expiry or a
// deleted client removes the row), so one found active is remembered like a
// verified JWT, under its digest; the deny-list, client and consent checks
// still run on every call.
func (i *Introspector) opaque(ctx context.Context, raw string) (*Introspection, error) {
	if len(raw) > maxOpaque {
		return nil, nil
	}
	digest := OpaqueKey(i.Digester, raw)
	c, ok := i.cachedOpaque(digest)
	if !ok {
		a, err := i.Access.Get(ctx, digest)
		if errors.Is(err, valet.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		c = AccessClaims{
			Issuer:   i.Issuer.URL,
			Subject:  a.Subject,
			Audience: a.Audience,
			ClientID: a.ClientID,
			Scope:    strings.Join(a.Scopes, " "),
			Expiry:   a.ExpiresAt.Unix(),
			IssuedAt: a.CreatedAt.Unix(),
			ID:       a.ID,
			AuthTime: unixOrZero(a.AuthTime),
			GrantID:  a.GrantID,
		}
		// The store may still hold an expired token (AccessTokenStore.Get).
		if !i.now().Before(a.ExpiresAt) {
			return i.describeAccess(ctx, c, false)
		}
		// Minter stores whole seconds; an expiry with a fraction would not
		// survive the claims' Unix seconds, so such a row is not remembered.
		if cache := i.opaqueCache(); cache != nil && a.ExpiresAt.Equal(time.Unix(c.Expiry, 0)) {
			cache.put(digest, &c, "", nil, i.now())
		}
	}
	return i.describeAccess(ctx, c, true)
}

// cachedOpaque returns the remembered row of digest while it is unexpired
// by the Introspector's clock.
func (i *Introspector) cachedOpaque(digest string) (AccessClaims, bool) {
	cache := i.opaqueCache()
	if cache == nil {
		return AccessClaims{}, false
	}
	c, _, _, ok := cache.get(digest)
	if !ok {
		return AccessClaims{}, false
	}
	if !i.now().Before(time.Unix(c.Expiry, 0)) {
		cache.remove(digest)
		return AccessClaims{}, false
	}
	return c, true
}

// describeAccess is the description of an access token of either format,
// checked against the deny-list, its client and its consent.
func (i *Introspector) describeAccess(ctx context.Context, c AccessClaims, active bool) (*Introspection, error) {
	t := &Introspection{
		Active:    active,
		Scope:     c.Scope,
		ClientID:  c.ClientID,
		TokenType: "Bearer",
		Expiry:    c.Expiry,
		IssuedAt:  c.IssuedAt,
		NotBefore: c.NotBefore,
		Subject:   c.Subject,
		Audience:  c.Audience,
		Issuer:    c.Issuer,
		ID:        c.ID,
		TokenUse:  UseAccess,
		GrantID:   c.GrantID,
		AuthTime:  c.AuthTime,
	}
	return i.denyListed(ctx, t, c.ID, c.GrantID)
}

// refresh looks up a refresh token by its digest: it is active while it is
// unused, unrevoked and unexpired and its family is not on the deny-list.
func (i *Introspector) refresh(ctx context.Context, raw string) (*Introspection, error) {
	if len(raw) > maxOpaque {
		return nil, nil
	}
	r, err := i.Refresh.Get(ctx, i.Digester.Digest(secret.PurposeRefresh, raw))
	if errors.Is(err, valet.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	t := &Introspection{
		Active:   r.Active(i.now()),
		Scope:    strings.Join(r.Scopes, " "),
		ClientID: r.ClientID,
		Expiry:   r.ExpiresAt.Unix(),
		IssuedAt: r.CreatedAt.Unix(),
		Subject:  r.UserID,
		Issuer:   i.Issuer.URL,
		TokenUse: UseRefresh,
		GrantID:  r.FamilyID,
		AuthTime: unixOrZero(r.AuthTime),
	}
	return i.denyListed(ctx, t, r.FamilyID, "")
}

// denyListed clears t.Active when id or grantID is on the deny-list and
// returns t. A token already inactive costs no lookup.
func (i *Introspector) denyListed(ctx context.Context, t *Introspection, id, grantID string) (*Introspection, error) {
	if !t.Active {
		return t, nil
	}
	ids := [2]string{id, grantID}
	n := 1
	if grantID != "" {
		n = 2
	}
	revoked, err := i.Revocations.AnyRevoked(ctx, ids[:n]...)
	if err != nil {
		return nil, err
	}
	t.Active = !revoked
	if t.Active && i.Clients != nil {
		// A token lives only as long as its client's registration.
		_, err := i.Clients.Get(ctx, t.ClientID)
		if errors.Is(err, valet.ErrNotFound) {
			t.Active = false
		} else if err != nil {
			return nil, err
		}
	}
	if t.Active && t.GrantID != "" && i.Consents != nil {
		// A person's grant lives only as long as their consent.
		_, err := i.Consents.Get(ctx, t.Subject, t.ClientID)
		if errors.Is(err, valet.ErrNotFound) {
			t.Active = false
		} else if err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (i *Introspector) now() time.Time {
	if i.Now == nil {
		return time.Now()
	}
	return i.Now()
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
