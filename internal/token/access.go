package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/valetauth/valet/internal/secret"
)

// Keys signs JWTs and finds the public key of a kid; *keys.Ring implements it.
type Keys interface {
	Sign(alg, typ string, payload []byte) (string, error)
	PublicKey(kid string) (jose.JSONWebKey, bool)
}

// AccessAlg signs access tokens unless the Issuer names another of
// AccessAlgs; AccessType is their "typ" header (RFC 9068 §2.1).
const (
	AccessAlg  = "ES256"
	AccessType = "at+jwt"
)

// AccessAlgs are the algorithms an access token may be signed with: ES256,
// the default (a signature costs 31-38 µs here), and RS256, which RFC 9068 §4
// requires every authorization server to support (about 1.4 ms). Tokens of
// either verify whatever the Issuer signs with now, so that changing the
// algorithm does not cut off the tokens already out.
var AccessAlgs = []string{AccessAlg, "RS256"}

// Issuer mints and verifies the access tokens of one issuer.
type Issuer struct {
	URL       string // "iss"
	Keys      Keys
	AccessTTL time.Duration
	// AccessAlg signs new access tokens: one of AccessAlgs; "" is
	// AccessAlg (ES256).
	AccessAlg string
	Now       func() time.Time
}

// AccessClaims are the claims of an RFC 9068 access token. GrantID ties the
// token to the grant (code and refresh family) it came from, so that revoking
// the grant revokes it; it is absent for client-credentials tokens.
type AccessClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  Audience `json:"aud"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope,omitempty"`
	Expiry    int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf,omitempty"`
	ID        string   `json:"jti"`
	AuthTime  int64    `json:"auth_time,omitempty"`
	GrantID   string   `json:"grant_id,omitempty"`
}

// Audience is the "aud" claim: one string, or an array when there are several
// (RFC 7519 §4.1.3).
type Audience []string

// MarshalJSON writes a single audience as a string.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON reads a string or an array of strings.
func (a *Audience) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = Audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return errors.New("aud must be a string or an array of strings")
	}
	*a = l
	return nil
}

// AccessRequest says what an access token grants.
type AccessRequest struct {
	Subject  string // the user ID, or the client ID for client credentials
	ClientID string
	Audience []string
	Scopes   []string
	AuthTime time.Time
	GrantID  string
}

// Access mints a signed access token and returns it with its claims.
func (i *Issuer) Access(r AccessRequest) (string, *AccessClaims, error) {
	now := i.Now()
	c := &AccessClaims{
		Issuer:   i.URL,
		Subject:  r.Subject,
		Audience: r.Audience,
		ClientID: r.ClientID,
		Scope:    strings.Join(r.Scopes, " "),
		IssuedAt: now.Unix(),
		Expiry:   now.Add(i.AccessTTL).Unix(),
		ID:       secret.ID(""),
		GrantID:  r.GrantID,
	}
	if !r.AuthTime.IsZero() {
		c.AuthTime = r.AuthTime.Unix()
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", nil, err
	}
	tok, err := i.Keys.Sign(i.accessAlg(), AccessType, payload)
	if err != nil {
		return "", nil, fmt.Errorf("sign access token: %w", err)
	}
	return tok, c, nil
}

// accessAlg is the algorithm new access tokens are signed with.
func (i *Issuer) accessAlg() string {
	if i.AccessAlg == "" {
		return AccessAlg
	}
	return i.AccessAlg
}

// ErrInvalid means the token is not a valid access token of this issuer.
var ErrInvalid = errors.New("token: not a valid access token")

// maxJWT bounds what is parsed at all (catalogue DS-01, pin P23).
const maxJWT = 16 << 10

// leeway is the clock skew between nodes allowed on nbf and iat; exp has
// none, so a revoked-at-expiry promise holds to the second.
const leeway = 60 * time.Second

// ParseAccess verifies raw as an access token of this issuer: compact JWS
// with exactly two dots, alg one of AccessAlgs and that of the key its kid
// names, typ "at+jwt" (RFC 9068 §4), a valid signature, iss equal to the
// issuer, and not expired. It does not consult revocations; the caller does.
func (i *Issuer) ParseAccess(raw string) (*AccessClaims, error) {
	c, _, err := i.parseAccess(raw)
	return c, err
}

// parseAccess is ParseAccess, and also returns the key that verified the
// token.
func (i *Issuer) parseAccess(raw string) (*AccessClaims, jose.JSONWebKey, error) {
	if len(raw) > maxJWT || strings.Count(raw, ".") != 2 {
		return nil, jose.JSONWebKey{}, ErrInvalid
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, jose.JSONWebKey{}, ErrInvalid
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, AccessType) && !strings.EqualFold(typ, "application/"+AccessType) {
		return nil, jose.JSONWebKey{}, ErrInvalid
	}
	if _, crit := h.ExtraHeaders[jose.HeaderKey("crit")]; crit {
		return nil, jose.JSONWebKey{}, ErrInvalid // RFC 7515 §4.1.11: Valet sets no critical headers
	}
	key, ok := i.Keys.PublicKey(h.KeyID)
	if !ok || key.Algorithm != h.Algorithm || !slices.Contains(AccessAlgs, key.Algorithm) {
		return nil, jose.JSONWebKey{}, ErrInvalid
	}
	payload, err := jws.Verify(key)
	if err != nil || !uniqueMembers(payload) || !uniqueMembers(protectedHeader(raw)) {
		return nil, jose.JSONWebKey{}, ErrInvalid
	}
	var c AccessClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, jose.JSONWebKey{}, ErrInvalid
	}
	if c.Issuer != i.URL || c.ID == "" || c.Subject == "" || c.ClientID == "" || !c.validAt(i.Now()) {
		return nil, jose.JSONWebKey{}, ErrInvalid
	}
	return &c, key, nil
}

// validAt reports whether the token's time claims allow it at now: not
// expired (exp has no leeway), and neither nbf nor iat in the future by more
// than leeway.
func (c *AccessClaims) validAt(now time.Time) bool {
	return !expiredAt(c.Expiry, now) &&
		(c.NotBefore == 0 || !now.Add(leeway).Before(time.Unix(c.NotBefore, 0))) &&
		!now.Add(leeway).Before(time.Unix(c.IssuedAt, 0))
}

// expiredAt reports whether a token with exp is expired at now.
func expiredAt(exp int64, now time.Time) bool { return !now.Before(time.Unix(exp, 0)) }

// Scopes returns the token's scopes as a list.
func (c *AccessClaims) Scopes() []string {
	if c.Scope == "" {
		return nil
	}
	return strings.Fields(c.Scope)
}

// HasAudience reports whether aud is among the token's audiences.
func (c *AccessClaims) HasAudience(aud string) bool { return slices.Contains(c.Audience, aud) }
