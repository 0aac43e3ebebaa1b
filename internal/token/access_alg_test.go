package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// algKeys holds an ES256 key (kid e1) and an RS256 key (kid r1), as the
// ring does.
type algKeys struct {
	ec  *ecdsa.PrivateKey
	rsa *rsa.PrivateKey
}

func newAlgKeys(t *testing.T) *algKeys {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &algKeys{ec: ec, rsa: r}
}

func (k *algKeys) Sign(alg, typ string, payload []byte) (string, error) {
	if alg == "RS256" {
		return signWith(k.rsa, jose.RS256, "r1", typ, nil, payload)
	}
	return signWith(k.ec, jose.ES256, "e1", typ, nil, payload)
}

func (k *algKeys) PublicKey(kid string) (jose.JSONWebKey, bool) {
	switch kid {
	case "e1":
		return jose.JSONWebKey{Key: &k.ec.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}, true
	case "r1":
		return jose.JSONWebKey{Key: &k.rsa.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"}, true
	}
	return jose.JSONWebKey{}, false
}

func headerAlg(t *testing.T, raw string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Alg, Kid string }
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h.Alg + "/" + h.Kid
}

// TestAccessRS256: RFC 9068 §4 requires RS256; an Issuer set to it signs
// with the RS256 key, and tokens of either algorithm verify whichever the
// Issuer signs with now.
func TestAccessRS256(t *testing.T) {
	now := time.Now()
	keys := newAlgKeys(t)
	iss := &Issuer{URL: "https://as.example", Keys: keys, AccessTTL: time.Minute, AccessAlg: "RS256", Now: func() time.Time { return now }}
	req := AccessRequest{Subject: "u", ClientID: "c", Audience: []string{"https://api.example"}}
	rs, _, err := iss.Access(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := headerAlg(t, rs); got != "RS256/r1" {
		t.Fatalf("RS256 issuer signed with %s", got)
	}
	iss.AccessAlg = ""
	es, _, err := iss.Access(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := headerAlg(t, es); got != "ES256/e1" {
		t.Fatalf("default issuer signed with %s", got)
	}
	for _, raw := range []string{rs, es} {
		if c, err := iss.ParseAccess(raw); err != nil || c.ClientID != "c" {
			t.Errorf("%s: %v", headerAlg(t, raw), err)
		}
	}
}

// TestParseAccessRefusesAlgorithmConfusion: the header's alg must be the
// alg of the key its kid names, and one of AccessAlgs.
func TestParseAccessRefusesAlgorithmConfusion(t *testing.T) {
	now := time.Now()
	keys := newAlgKeys(t)
	iss := &Issuer{URL: "https://as.example", Keys: keys, AccessTTL: time.Minute, Now: func() time.Time { return now }}
	claims, _ := json.Marshal(map[string]any{"iss": "https://as.example", "sub": "u", "aud": "x", "client_id": "c",
		"jti": "j", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
	sign := func(key any, alg jose.SignatureAlgorithm, kid string) string {
		s, err := signWith(key, alg, kid, "at+jwt", nil, claims)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	rsaPub, _ := jose.JSONWebKey{Key: &keys.rsa.PublicKey}.MarshalJSON()
	for name, raw := range map[string]string{
		"RS256 under the ES256 kid":       sign(keys.rsa, jose.RS256, "e1"),
		"ES256 under the RS256 kid":       sign(keys.ec, jose.ES256, "r1"),
		"PS256 with the RSA key":          sign(keys.rsa, jose.PS256, "r1"),
		"RS384 with the RSA key":          sign(keys.rsa, jose.RS384, "r1"),
		"HS256 keyed with the RSA public": sign(rsaPub, jose.HS256, "r1"),
	} {
		if _, err := iss.ParseAccess(raw); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
