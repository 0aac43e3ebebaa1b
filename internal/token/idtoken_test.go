package token

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func TestIDTokenClaimsAndHint(t *testing.T) {
	now := time.Now()
	iss := &Issuer{URL: "https://as.example", Keys: newTestKeys(t), AccessTTL: time.Minute, Now: func() time.Time { return now }}
	raw, err := iss.ID(IDRequest{Alg: "ES256", Subject: "u1", ClientID: "app", Nonce: "n-1", AuthTime: now.Add(-time.Minute),
		SessionID: "sid-1", AccessToken: "at-value", Code: "ac-value", TTL: time.Hour,
		Claims: map[string]any{"email": "ana@example.com", "sub": "overwrite-attempt"}})
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[1])
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	// OpenID Connect Core §3.1.3.6 example: at_hash is the left half of SHA-256, base64url.
	if c["at_hash"] != HalfHash("at-value") || c["c_hash"] != HalfHash("ac-value") || len(HalfHash("x")) != 22 {
		t.Errorf("at_hash/c_hash = %v %v", c["at_hash"], c["c_hash"])
	}
	if c["sub"] != "u1" || c["aud"] != "app" || c["nonce"] != "n-1" || c["email"] != "ana@example.com" || c["sid"] != "sid-1" {
		t.Errorf("claims = %v", c)
	}
	if int64(c["exp"].(float64)) != now.Add(time.Hour).Unix() || int64(c["auth_time"].(float64)) != now.Add(-time.Minute).Unix() {
		t.Errorf("times = %v %v", c["exp"], c["auth_time"])
	}

	got, err := iss.ParseIDTokenHint(raw)
	if err != nil || got.Subject != "u1" || got.Audience[0] != "app" || got.SessionID != "sid-1" {
		t.Fatalf("hint = %+v, %v", got, err)
	}
	// An access token is never an ID token hint (catalogue JW-02c).
	at, _, _ := iss.Access(AccessRequest{Subject: "u1", ClientID: "app", Audience: []string{"x"}})
	if _, err := iss.ParseIDTokenHint(at); err == nil {
		t.Error("an at+jwt was accepted as id_token_hint")
	}
	other := &Issuer{URL: "https://other.example", Keys: iss.Keys, Now: iss.Now}
	if _, err := other.ParseIDTokenHint(raw); err == nil {
		t.Error("another issuer's ID token accepted")
	}
	// Expired hints are fine for logout.
	later := &Issuer{URL: iss.URL, Keys: iss.Keys, Now: func() time.Time { return now.Add(48 * time.Hour) }}
	if _, err := later.ParseIDTokenHint(raw); err != nil {
		t.Errorf("expired hint refused: %v", err)
	}
}

func TestIDTokenAlgAndLifetime(t *testing.T) {
	now := time.Now()
	iss := &Issuer{URL: "https://as.example", Keys: newTestKeys(t), Now: func() time.Time { return now }}
	raw, err := iss.ID(IDRequest{Alg: "ES256", Subject: "u1", ClientID: "app"})
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[1])
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	if int64(c["exp"].(float64)) != now.Add(DefaultIDTokenTTL).Unix() {
		t.Errorf("exp = %v with no TTL, want iat + %v", c["exp"], DefaultIDTokenTTL)
	}
	// aud is the client alone, so no azp (Core §2).
	if _, ok := c["azp"]; ok || c["aud"] != "app" {
		t.Errorf("aud %v, azp %v", c["aud"], c["azp"])
	}
	// Keys that would sign with anything: ID itself refuses other algs.
	rec := &anyAlgKeys{}
	lax := &Issuer{URL: iss.URL, Keys: rec, Now: iss.Now}
	for _, alg := range []string{"none", "HS256", "PS256", "rs256"} {
		if _, err := lax.ID(IDRequest{Alg: alg, Subject: "u1", ClientID: "app"}); err == nil {
			t.Errorf("alg %q accepted", alg)
		}
	}
	for alg, want := range map[string]string{"": "RS256", "RS256": "RS256", "ES256": "ES256"} {
		if _, err := lax.ID(IDRequest{Alg: alg, Subject: "u1", ClientID: "app"}); err != nil || rec.alg != want {
			t.Errorf("alg %q: signed %q (%v), want %s", alg, rec.alg, err, want)
		}
	}
}

// anyAlgKeys signs nothing and records the alg it was asked for.
type anyAlgKeys struct{ alg string }

func (k *anyAlgKeys) Sign(alg, typ string, payload []byte) (string, error) {
	k.alg = alg
	return "e30.e30.sig", nil
}

func (k *anyAlgKeys) PublicKey(string) (jose.JSONWebKey, bool) { return jose.JSONWebKey{}, false }
