package token

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// twoKeys signs RS256 and ES256, like the ring, so that the algorithm a
// logout token is signed with can be seen.
type twoKeys struct {
	ec  *testKeys
	rsa *rsa.PrivateKey
}

func newTwoKeys(t *testing.T) *twoKeys {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &twoKeys{ec: newTestKeys(t), rsa: k}
}

func (k *twoKeys) Sign(alg, typ string, payload []byte) (string, error) {
	if alg == "RS256" {
		return signWith(k.rsa, jose.RS256, "r1", typ, nil, payload)
	}
	return k.ec.Sign(alg, typ, payload)
}

func (k *twoKeys) PublicKey(kid string) (jose.JSONWebKey, bool) {
	if kid == "r1" {
		return jose.JSONWebKey{Key: &k.rsa.PublicKey, KeyID: "r1", Algorithm: "RS256", Use: "sig"}, true
	}
	return k.ec.PublicKey(kid)
}

// verifiedLogout checks raw's signature with keys and returns its header and
// its claims as raw JSON members.
func verifiedLogout(t *testing.T, keys Keys, raw string) (map[string]any, map[string]json.RawMessage) {
	t.Helper()
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	key, ok := keys.PublicKey(jws.Signatures[0].Header.KeyID)
	if !ok {
		t.Fatalf("unknown kid %q", jws.Signatures[0].Header.KeyID)
	}
	payload, err := jws.Verify(key)
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	var h map[string]any
	b, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	var c map[string]json.RawMessage
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return h, c
}

func TestLogoutToken(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	keys := newTwoKeys(t)
	iss := &Issuer{URL: "https://as.example", Keys: keys, AccessTTL: time.Minute, Now: func() time.Time { return now }}

	raw, err := iss.Logout(LogoutRequest{ClientID: "app", Subject: "u1", SessionID: "sid-1"})
	if err != nil {
		t.Fatal(err)
	}
	h, c := verifiedLogout(t, keys, raw)
	// Back-Channel Logout §2.4 and §4.1: typ logout+jwt; RS256 by default,
	// like ID tokens.
	if h["typ"] != "logout+jwt" || h["alg"] != "RS256" {
		t.Errorf("header = %v", h)
	}
	want := map[string]string{
		"iss":    `"https://as.example"`,
		"aud":    `"app"`,
		"sub":    `"u1"`,
		"sid":    `"sid-1"`,
		"iat":    "1700000000",
		"exp":    "1700000120",
		"events": `{"http://schemas.openid.net/event/backchannel-logout":{}}`,
	}
	for k, v := range want {
		if string(c[k]) != v {
			t.Errorf("%s = %s, want %s", k, c[k], v)
		}
	}
	if _, ok := c["nonce"]; ok {
		t.Error("a logout token carries nonce; §2.4 prohibits it")
	}
	if len(c["jti"]) < 10 {
		t.Errorf("jti = %s", c["jti"])
	}
	again, _ := iss.Logout(LogoutRequest{ClientID: "app", Subject: "u1", SessionID: "sid-1"})
	if _, c2 := verifiedLogout(t, keys, again); string(c2["jti"]) == string(c["jti"]) {
		t.Error("two logout tokens share a jti")
	}

	// The client's id_token_signed_response_alg; sid alone is enough.
	raw, err = iss.Logout(LogoutRequest{Alg: "ES256", ClientID: "app", SessionID: "sid-1"})
	if err != nil {
		t.Fatal(err)
	}
	h, c = verifiedLogout(t, keys, raw)
	if h["alg"] != "ES256" || h["typ"] != "logout+jwt" {
		t.Errorf("header = %v", h)
	}
	if _, ok := c["sub"]; ok {
		t.Errorf("sub = %s, want none", c["sub"])
	}

	// Cross-JWT confusion (§4.1, catalogue JW-02e): a logout token is
	// neither an ID token hint nor an access token.
	if _, err := iss.ParseIDTokenHint(raw); err == nil {
		t.Error("a logout token was accepted as id_token_hint")
	}
	if _, err := iss.ParseAccess(raw); err == nil {
		t.Error("a logout token was accepted as an access token")
	}
}

// signsAnything signs with whatever algorithm it is asked for, so that only
// Logout's own checks can refuse.
type signsAnything struct{}

func (signsAnything) Sign(alg, typ string, payload []byte) (string, error) { return "h.p.s", nil }
func (signsAnything) PublicKey(string) (jose.JSONWebKey, bool)             { return jose.JSONWebKey{}, false }

func TestLogoutTokenRefuses(t *testing.T) {
	iss := &Issuer{URL: "https://as.example", Keys: signsAnything{}, Now: time.Now}
	if _, err := iss.Logout(LogoutRequest{ClientID: "app", SessionID: "s"}); err != nil {
		t.Fatalf("control: %v", err)
	}
	for name, r := range map[string]LogoutRequest{
		"no audience":      {Subject: "u1", SessionID: "s"},
		"neither sub/sid":  {ClientID: "app"},
		"symmetric alg":    {Alg: "HS256", ClientID: "app", Subject: "u1"},
		"unsigned":         {Alg: "none", ClientID: "app", Subject: "u1"},
		"unknown alg name": {Alg: "rs256", ClientID: "app", Subject: "u1"},
	} {
		if tok, err := iss.Logout(r); err == nil {
			t.Errorf("%s: minted %s", name, tok)
		}
	}
}
