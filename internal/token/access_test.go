package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// testKeys signs with one ES256 key; it is the smallest Keys there is.
type testKeys struct {
	priv *ecdsa.PrivateKey
	kid  string
}

func newTestKeys(t *testing.T) *testKeys {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testKeys{priv: k, kid: "k1"}
}

func (k *testKeys) Sign(alg, typ string, payload []byte) (string, error) {
	return signWith(k.priv, jose.SignatureAlgorithm(alg), k.kid, typ, nil, payload)
}

func (k *testKeys) PublicKey(kid string) (jose.JSONWebKey, bool) {
	if kid != k.kid {
		return jose.JSONWebKey{}, false
	}
	return jose.JSONWebKey{Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: "ES256", Use: "sig"}, true
}

func signWith(key any, alg jose.SignatureAlgorithm, kid, typ string, extra map[jose.HeaderKey]any, payload []byte) (string, error) {
	opts := (&jose.SignerOptions{}).WithHeader("kid", kid)
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	for k, v := range extra {
		opts = opts.WithHeader(k, v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return "", err
	}
	j, err := s.Sign(payload)
	if err != nil {
		return "", err
	}
	return j.CompactSerialize()
}

func TestAccessRoundTrip(t *testing.T) {
	now := time.Now()
	iss := &Issuer{URL: "https://as.example", Keys: newTestKeys(t), AccessTTL: 10 * time.Minute, Now: func() time.Time { return now }}
	raw, c, err := iss.Access(AccessRequest{Subject: "user-1", ClientID: "app", Audience: []string{"https://api.example"},
		Scopes: []string{"a", "b"}, AuthTime: now.Add(-time.Minute), GrantID: "fam_1"})
	if err != nil {
		t.Fatal(err)
	}
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	var h map[string]any
	json.Unmarshal(header, &h)
	if h["typ"] != "at+jwt" || h["alg"] != "ES256" || h["kid"] != "k1" {
		t.Errorf("header = %v; RFC 9068 wants typ at+jwt", h)
	}
	got, err := iss.ParseAccess(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "user-1" || got.ClientID != "app" || got.Scope != "a b" || got.ID != c.ID || got.GrantID != "fam_1" ||
		!got.HasAudience("https://api.example") || got.Expiry != now.Add(10*time.Minute).Unix() || got.Issuer != "https://as.example" {
		t.Errorf("claims = %+v", got)
	}
	var claims map[string]any
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[1])
	json.Unmarshal(payload, &claims)
	if claims["aud"] != "https://api.example" {
		t.Errorf("a single audience should be a string: %v", claims["aud"])
	}
	for _, k := range []string{"iss", "sub", "aud", "client_id", "exp", "iat", "jti", "scope"} {
		if _, ok := claims[k]; !ok {
			t.Errorf("claim %s missing (RFC 9068 §2.2)", k)
		}
	}
}

func TestParseAccessRefuses(t *testing.T) {
	now := time.Now()
	keys := newTestKeys(t)
	iss := &Issuer{URL: "https://as.example", Keys: keys, AccessTTL: 10 * time.Minute, Now: func() time.Time { return now }}
	good := func(mut func(map[string]any)) []byte {
		c := map[string]any{"iss": "https://as.example", "sub": "u", "aud": "x", "client_id": "c", "jti": "j",
			"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
		if mut != nil {
			mut(c)
		}
		b, _ := json.Marshal(c)
		return b
	}
	sign := func(key any, alg jose.SignatureAlgorithm, kid, typ string, extra map[jose.HeaderKey]any, payload []byte) string {
		s, err := signWith(key, alg, kid, typ, extra, payload)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	control := sign(keys.priv, jose.ES256, "k1", "at+jwt", nil, good(nil))
	if _, err := iss.ParseAccess(control); err != nil {
		t.Fatalf("control token refused: %v", err)
	}
	foreign, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pubBytes, _ := jose.JSONWebKey{Key: &keys.priv.PublicKey}.MarshalJSON()
	parts := strings.Split(control, ".")
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt","kid":"k1"}`))
	flipped := []byte(parts[2])
	flipped[5] ^= 1

	cases := map[string]string{
		"foreign key, known kid": sign(foreign, jose.ES256, "k1", "at+jwt", nil, good(nil)),
		"unknown kid":            sign(keys.priv, jose.ES256, "k9", "at+jwt", nil, good(nil)),
		"typ JWT":                sign(keys.priv, jose.ES256, "k1", "JWT", nil, good(nil)),
		"no typ":                 sign(keys.priv, jose.ES256, "k1", "", nil, good(nil)),
		"id token typ":           sign(keys.priv, jose.ES256, "k1", "id_token+jwt", nil, good(nil)),
		"HS256 with public key":  sign(pubBytes, jose.HS256, "k1", "at+jwt", nil, good(nil)),
		"alg none":               noneHeader + "." + parts[1] + ".",
		"crit header":            sign(keys.priv, jose.ES256, "k1", "at+jwt", map[jose.HeaderKey]any{"crit": []string{"exp"}, "exp": 1}, good(nil)),
		"expired":                sign(keys.priv, jose.ES256, "k1", "at+jwt", nil, good(func(c map[string]any) { c["exp"] = now.Add(-time.Second).Unix() })),
		"other issuer":           sign(keys.priv, jose.ES256, "k1", "at+jwt", nil, good(func(c map[string]any) { c["iss"] = "https://evil.example" })),
		"issued in the future":   sign(keys.priv, jose.ES256, "k1", "at+jwt", nil, good(func(c map[string]any) { c["iat"] = now.Add(time.Hour).Unix() })),
		"not yet valid":          sign(keys.priv, jose.ES256, "k1", "at+jwt", nil, good(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() })),
		"no jti":                 sign(keys.priv, jose.ES256, "k1", "at+jwt", nil, good(func(c map[string]any) { delete(c, "jti") })),
		"flipped signature":      parts[0] + "." + parts[1] + "." + string(flipped),
		"three dots":             control + ".x",
		"many dots":              strings.Repeat(".", 100000),
		"huge":                   control + strings.Repeat("A", 20<<10),
		"empty":                  "",
		"opaque":                 "at_" + strings.Repeat("A", 43),
	}
	for name, raw := range cases {
		if _, err := iss.ParseAccess(raw); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func BenchmarkAccessJWT(b *testing.B) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	iss := &Issuer{URL: "https://as.example", Keys: &testKeys{priv: k, kid: "k1"}, AccessTTL: time.Minute, Now: time.Now}
	r := AccessRequest{Subject: "svc", ClientID: "svc", Audience: []string{"https://api.example"}, Scopes: []string{"a"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := iss.Access(r); err != nil {
			b.Fatal(err)
		}
	}
}
