package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// The ring writes its compact JWS (RFC 7515 §7.1) itself rather than through
// go-jose: the protected header of a key and "typ" never changes, so it is
// encoded once and kept on the key, and a token costs one buffer, one hash
// and one signature. go-jose still verifies and serves the JWKS.

// es256Size is the length of R and of S in an ES256 signature (RFC 7518 §3.4).
const es256Size = 32

// header is the protected header, in the member order go-jose writes it
// (sorted by name): alg, kid, and typ when there is one.
type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ,omitempty"`
}

// header returns the base64url of the protected header for typ, encoding it
// on first use.
func (k *key) header(typ string) (string, error) {
	if h, ok := k.headers.Load(typ); ok {
		return h.(string), nil
	}
	b, err := json.Marshal(header{Alg: k.meta.Algorithm, Kid: k.meta.ID, Typ: typ})
	if err != nil {
		return "", fmt.Errorf("header for %s: %w", k.meta.ID, err)
	}
	h, _ := k.headers.LoadOrStore(typ, base64.RawURLEncoding.EncodeToString(b))
	return h.(string), nil
}

// sign returns header.payload.signature, all base64url, signed with k.
func (k *key) sign(typ string, payload []byte) (string, error) {
	var sigLen int
	switch priv := k.private.(type) {
	case *ecdsa.PrivateKey:
		if k.meta.Algorithm != ES256 || priv.Curve != elliptic.P256() {
			return "", fmt.Errorf("sign with %s: %s with an ECDSA %s key is not supported", k.meta.ID, k.meta.Algorithm, priv.Curve.Params().Name)
		}
		sigLen = 2 * es256Size
	case *rsa.PrivateKey:
		if k.meta.Algorithm != RS256 {
			return "", fmt.Errorf("sign with %s: %s with an RSA key is not supported", k.meta.ID, k.meta.Algorithm)
		}
		sigLen = priv.Size()
	default:
		return "", fmt.Errorf("sign with %s: unsupported %s key %T", k.meta.ID, k.meta.Algorithm, k.private)
	}
	h, err := k.header(typ)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(h)+1+enc.EncodedLen(len(payload))+1+enc.EncodedLen(sigLen))
	buf = append(buf, h...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	digest := sha256.Sum256(buf)

	var sig []byte
	switch priv := k.private.(type) {
	case *ecdsa.PrivateKey:
		// RFC 6979: the nonce is derived from the key and the digest with
		// HMAC-SHA-256 (nil randomness), instead of ecdsa.SignASN1's hedged
		// SHA-512 DRBG, which was a third of an ES256 signature's CPU here.
		// A nonce then repeats only for the same digest, whose signature is
		// the same too, and a failing random source cannot make one repeat;
		// what the hedge adds, fresh randomness, the payloads carry anyway
		// (an access token's random jti, every token's iat).
		der, err := priv.Sign(nil, digest[:], crypto.SHA256)
		if err != nil {
			return "", fmt.Errorf("sign with %s: %w", k.meta.ID, err)
		}
		var raw [2 * es256Size]byte
		if sig, err = appendRS(raw[:0], der, es256Size); err != nil {
			return "", fmt.Errorf("sign with %s: %w", k.meta.ID, err)
		}
	case *rsa.PrivateKey:
		if sig, err = rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, digest[:]); err != nil {
			return "", fmt.Errorf("sign with %s: %w", k.meta.ID, err)
		}
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

var errECDSASignature = errors.New("malformed ECDSA signature")

// appendRS converts an ASN.1 DER ECDSA signature, SEQUENCE { r INTEGER,
// s INTEGER }, to the JWS form of RFC 7518 §3.4: R and S as big-endian
// unsigned integers, each left-padded with zeros to size bytes, R then S.
func appendRS(dst, der []byte, size int) ([]byte, error) {
	var seq, r, s cryptobyte.String
	in := cryptobyte.String(der)
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1(&r, cbasn1.INTEGER) || !seq.ReadASN1(&s, cbasn1.INTEGER) || !seq.Empty() {
		return nil, errECDSASignature
	}
	for _, n := range []cryptobyte.String{r, s} {
		if len(n) == 0 || n[0]&0x80 != 0 {
			return nil, errECDSASignature // empty or negative
		}
		for len(n) > 0 && n[0] == 0 {
			n = n[1:]
		}
		if len(n) > size {
			return nil, errECDSASignature
		}
		for range size - len(n) {
			dst = append(dst, 0)
		}
		dst = append(dst, n...)
	}
	return dst, nil
}
