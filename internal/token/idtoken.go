package token

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// IDTokenType is the "typ" header of ID tokens. OpenID Connect sets none;
// "JWT" keeps ID tokens distinct from at+jwt access tokens (RFC 8725 §3.11).
const IDTokenType = "JWT"

// IDRequest says what an ID token asserts (OpenID Connect Core §2).
type IDRequest struct {
	Alg      string // "RS256" (default) or "ES256"
	Subject  string
	ClientID string
	Nonce    string
	AuthTime time.Time
	// SessionID is the "sid" claim (OpenID Connect Front-/Back-Channel
	// Logout): the same for every ID token of one browser session.
	SessionID string
	// AccessToken and Code, when set, add at_hash and c_hash (Core §3.3.2.11).
	AccessToken string
	Code        string
	// Claims are extra claims by name (profile, email, custom).
	Claims map[string]any
	// TTL is the ID token's lifetime; zero means DefaultIDTokenTTL.
	TTL time.Duration
}

// DefaultIDTokenTTL is the lifetime of an ID token when none is configured.
// An ID token proves a sign-in to the client once; it is not a session, so
// an hour is plenty. The key ring must keep a retired key published at least
// this long (keys.Ring.MaxTokenLifetime).
const DefaultIDTokenTTL = time.Hour

// IDClaims are the standard claims of an ID token; extra claims are merged
// into the same JSON object.
type IDClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  Audience `json:"aud"`
	Expiry    int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	AuthTime  int64    `json:"auth_time,omitempty"`
	Nonce     string   `json:"nonce,omitempty"`
	AtHash    string   `json:"at_hash,omitempty"`
	CHash     string   `json:"c_hash,omitempty"`
	SessionID string   `json:"sid,omitempty"`
	ID        string   `json:"jti,omitempty"`
}

// ID mints a signed ID token, signed RS256 unless r.Alg is "ES256".
//
// Its aud is exactly the client ID, one value, so it carries no azp: OpenID
// Connect Core §2 wants azp "when the ID Token has a single audience value
// and that audience is different than the authorized party", which never
// happens here (the client is both), and Core §3.1.3.7 has a client check
// azp only when present.
func (i *Issuer) ID(r IDRequest) (string, error) {
	alg := r.Alg
	switch alg {
	case "":
		alg = "RS256" // Core §15.1: mandatory to implement, the default
	case "RS256", "ES256":
	default:
		return "", fmt.Errorf("token: ID tokens are signed RS256 or ES256, not %q", alg)
	}
	ttl := r.TTL
	if ttl <= 0 {
		ttl = DefaultIDTokenTTL
	}
	now := i.Now()
	c := IDClaims{
		Issuer: i.URL, Subject: r.Subject, Audience: Audience{r.ClientID},
		IssuedAt: now.Unix(), Expiry: now.Add(ttl).Unix(), Nonce: r.Nonce, SessionID: r.SessionID,
	}
	if !r.AuthTime.IsZero() {
		c.AuthTime = r.AuthTime.Unix()
	}
	if r.AccessToken != "" {
		c.AtHash = HalfHash(r.AccessToken)
	}
	if r.Code != "" {
		c.CHash = HalfHash(r.Code)
	}
	payload, err := mergeClaims(c, r.Claims)
	if err != nil {
		return "", err
	}
	tok, err := i.Keys.Sign(alg, IDTokenType, payload)
	if err != nil {
		return "", fmt.Errorf("sign ID token: %w", err)
	}
	return tok, nil
}

// mergeClaims writes the standard claims and adds the extra ones; a standard
// claim is never overwritten by an extra one.
func mergeClaims(c IDClaims, extra map[string]any) ([]byte, error) {
	if len(extra) == 0 {
		return json.Marshal(c)
	}
	std, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(std, &m); err != nil {
		return nil, err
	}
	for k, v := range extra {
		if _, taken := m[k]; !taken {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

// HalfHash is at_hash / c_hash for RS256 and ES256: the base64url of the left
// half of the SHA-256 of the value (OpenID Connect Core §3.3.2.11).
func HalfHash(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// ParseIDTokenHint verifies raw as an ID token this issuer signed, for
// id_token_hint at /authorize and /logout. Expiry is not checked: OpenID
// Connect RP-Initiated Logout §2 accepts an expired hint. An access token, a
// token of another issuer or one signed by an unknown key is refused.
func (i *Issuer) ParseIDTokenHint(raw string) (*IDClaims, error) {
	if len(raw) > maxJWT || strings.Count(raw, ".") != 2 {
		return nil, ErrInvalid
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, ErrInvalid
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "" && typ != IDTokenType {
		return nil, ErrInvalid // an at+jwt is never an id_token_hint (catalogue JW-02c)
	}
	if _, crit := h.ExtraHeaders[jose.HeaderKey("crit")]; crit {
		return nil, ErrInvalid
	}
	key, ok := i.Keys.PublicKey(h.KeyID)
	if !ok || key.Algorithm != h.Algorithm {
		return nil, ErrInvalid
	}
	payload, err := jws.Verify(key)
	if err != nil || !uniqueMembers(payload) || !uniqueMembers(protectedHeader(raw)) {
		return nil, ErrInvalid
	}
	var c IDClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Issuer != i.URL || c.Subject == "" || len(c.Audience) == 0 {
		return nil, ErrInvalid
	}
	return &c, nil
}
