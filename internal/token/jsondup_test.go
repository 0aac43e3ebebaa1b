package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func TestUniqueMembers(t *testing.T) {
	for in, want := range map[string]bool{
		`{"a":1,"b":{"a":2,"a":3},"c":[1,{"a":1}]}`: true, // nested duplicates are not claims
		`{}`:                       true,
		`{"sub":"a","sub":"b"}`:    false,
		`{"sub":"a","s\u0075b":1}`: false, // the same name, escaped
		`[1,2]`:                    false,
		`{"a":1`:                   false,
		``:                         false,
	} {
		if got := uniqueMembers([]byte(in)); got != want {
			t.Errorf("uniqueMembers(%s) = %v, want %v", in, got, want)
		}
	}
}

// TestJW03_VerifiedTokensRefuseDuplicatesAndForeignKeyHeaders: access
// tokens and ID token hints, the JWTs the server verifies, are refused with
// duplicate claim or header names (pinned: reject), with alg none, with
// HS256 keyed by the public key, with crit, with a key of their own in jwk
// or jku, oversized or all dots.
func TestJW03_VerifiedTokensRefuseDuplicatesAndForeignKeyHeaders(t *testing.T) {
	now := time.Now()
	keys := newTestKeys(t)
	iss := &Issuer{URL: "https://as.example", Keys: keys, AccessTTL: time.Minute, Now: func() time.Time { return now }}
	claims := func(dup string) []byte {
		return []byte(`{"iss":"https://as.example","sub":"u","aud":"app","client_id":"app","jti":"j","iat":` +
			strconv.FormatInt(now.Unix(), 10) + `,"exp":` + strconv.FormatInt(now.Add(time.Minute).Unix(), 10) + dup + `}`)
	}
	sign := func(key any, alg jose.SignatureAlgorithm, kid, typ string, extra map[jose.HeaderKey]any, payload []byte) string {
		s, err := signWith(key, alg, kid, typ, extra, payload)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	enc := base64.RawURLEncoding.EncodeToString
	// A header written by hand, signed for real with the server's key.
	signHeader := func(header string, payload []byte) string {
		input := enc([]byte(header)) + "." + enc(payload)
		sum := sha256.Sum256([]byte(input))
		r, s, err := ecdsa.Sign(rand.Reader, keys.priv, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return input + "." + enc(sig)
	}
	foreign, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	foreignJWK, _ := json.Marshal(jose.JSONWebKey{Key: &foreign.PublicKey, KeyID: "k1"})
	pub, _ := jose.JSONWebKey{Key: &keys.priv.PublicKey}.MarshalJSON()

	for _, typ := range []string{AccessType, IDTokenType} {
		parse := func(raw string) error { _, err := iss.ParseAccess(raw); return err }
		if typ == IDTokenType {
			parse = func(raw string) error { _, err := iss.ParseIDTokenHint(raw); return err }
		}
		if err := parse(sign(keys.priv, jose.ES256, "k1", typ, nil, claims(""))); err != nil {
			t.Fatalf("%s: the control token is refused: %v", typ, err)
		}
		for name, raw := range map[string]string{
			"duplicate claim":        sign(keys.priv, jose.ES256, "k1", typ, nil, claims(`,"sub":"admin"`)),
			"duplicate header":       signHeader(`{"alg":"ES256","kid":"k1","typ":"`+typ+`","kid":"k1"}`, claims("")),
			"alg none":               enc([]byte(`{"alg":"none","kid":"k1","typ":"`+typ+`"}`)) + "." + enc(claims("")) + ".",
			"HS256 with public key":  sign(pub, jose.HS256, "k1", typ, nil, claims("")),
			"crit":                   sign(keys.priv, jose.ES256, "k1", typ, map[jose.HeaderKey]any{"crit": []string{"b64"}, "b64": false}, claims("")),
			"foreign key in jwk":     sign(foreign, jose.ES256, "k1", typ, map[jose.HeaderKey]any{"jwk": json.RawMessage(foreignJWK)}, claims("")),
			"foreign key behind jku": sign(foreign, jose.ES256, "k1", typ, map[jose.HeaderKey]any{"jku": "https://evil.example/jwks"}, claims("")),
			"oversized":              sign(keys.priv, jose.ES256, "k1", typ, nil, claims(`,"x":"`+strings.Repeat("A", 20<<10)+`"`)),
			"all dots":               strings.Repeat(".", 50000),
		} {
			if err := parse(raw); err == nil {
				t.Errorf("%s, %s: accepted", typ, name)
			}
		}
	}
}
