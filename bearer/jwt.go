package bearer

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// verifyJWT checks raw, which Verify has bounded to MaxTokenSize and exactly
// two dots, as an RFC 9068 JWT access token.
func (v *Verifier) verifyJWT(ctx context.Context, raw string) (*Token, error) {
	encHeader, _, _ := strings.Cut(raw, ".")
	hb, err := base64.RawURLEncoding.Strict().DecodeString(encHeader)
	if err != nil {
		return nil, invalid("the token is malformed", fmt.Errorf("header: %w", err))
	}
	h, err := decodeObject(hb)
	if err != nil {
		return nil, invalid("the token is malformed", fmt.Errorf("header: %w", err))
	}

	// RFC 8725 §3.1 and RFC 9068 §4: the algorithm comes from our allow-list,
	// never from the token alone; "none" and HS* are never on it.
	alg, _ := h["alg"].(string)
	if !slices.Contains(v.algs, alg) {
		return nil, invalid("the token's signing algorithm is not accepted", fmt.Errorf("alg %q", alg))
	}
	// RFC 9068 §4: "Resource servers MUST verify that the typ header value is
	// at+jwt or application/at+jwt and reject tokens carrying any other type
	// value." This is what keeps ID tokens, logout tokens and client
	// assertions from passing as access tokens (catalogue JW-02).
	typ, _ := h["typ"].(string)
	if !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return nil, invalid("the token is not a JWT access token (typ must be at+jwt)", fmt.Errorf("typ %q", typ))
	}
	// RFC 7515 §4.1.11: a recipient MUST reject a JWS whose "crit" lists an
	// extension it does not understand; we understand none. "b64" (RFC 7797)
	// would change what the signature covers, so it is refused with or
	// without "crit".
	for _, name := range []string{"crit", "b64"} {
		if _, ok := h[name]; ok {
			return nil, invalid("the token uses an unsupported header", fmt.Errorf("header %q", name))
		}
	}
	// The key comes only from the issuer's published set, by "kid". The
	// "jku", "x5u", "jwk" and "x5c" headers name keys the token's holder
	// chose, so they are never looked at (RFC 8725 §3.10, catalogue JW-03).
	kid, _ := h["kid"].(string)
	if kid == "" {
		return nil, invalid("the token has no key ID", nil)
	}
	key, err := v.key(ctx, kid, alg)
	if err != nil {
		return nil, err
	}

	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		return nil, invalid("the token is malformed", err)
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, invalid("the token's signature is invalid", err)
	}
	claims, err := decodeObject(payload)
	if err != nil {
		return nil, invalid("the token's claims are malformed", err)
	}
	tok, e := v.tokenFromClaims(claims, claimRules{jwt: true})
	if e != nil {
		return nil, e
	}
	return tok, nil
}

// fits reports whether a public key can check signatures of alg, so that a
// key published for one algorithm is never used with another (RFC 8725 §3.1).
func fits(key any, alg string) bool {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return k.Curve == elliptic.P256()
		case "ES384":
			return k.Curve == elliptic.P384()
		case "ES512":
			return k.Curve == elliptic.P521()
		}
	case *rsa.PublicKey:
		// RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used".
		return (strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")) && k.N.BitLen() >= 2048
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}
