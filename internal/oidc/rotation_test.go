package oidc_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/valetauth/valet/internal/keys"
	"github.com/valetauth/valet/internal/oidc"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/token"

	"github.com/valetauth/valet/internal/testclock"
)

// TestJW01RotationOverlap is catalogue JW-01 and R6 through HTTP: right
// after a rotation the JWKS holds the new key and the previous one; tokens
// keep the old kid until the new one has been published for at least the
// JWKS max-age; a token signed just before the switch verifies and
// introspects active until it expires; the old key leaves only after that.
func TestJW01RotationOverlap(t *testing.T) {
	c := testclock.New(t0)
	ring, st := newRing(t, c)
	url := serve(t, &oidc.Handler{Issuer: issuer, Keys: ring, Supported: modern})
	tokens := &token.Issuer{URL: issuer, Keys: ring, AccessTTL: 10 * time.Minute, Now: c.Now}
	introspector := &token.Introspector{Issuer: tokens, Access: st.Access, Refresh: st.Refresh,
		Revocations: st.Revocations, Digester: secret.NewDigester(secret.Bytes(32)), Now: c.Now}
	mint := func() (string, string) {
		t.Helper()
		raw, _, err := tokens.Access(token.AccessRequest{Subject: "ana", ClientID: "friendfinder", Audience: []string{issuer}})
		if err != nil {
			t.Fatal(err)
		}
		return raw, kidOf(t, raw)
	}
	fetch := func() jose.JSONWebKeySet {
		t.Helper()
		r := get(t, url+"/jwks")
		r.wantPublic(t)
		jwksKeys(t, r.body)
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(r.body, &set); err != nil {
			t.Fatal(err)
		}
		return set
	}
	active := func(raw string) bool {
		t.Helper()
		in, err := introspector.Introspect(t.Context(), raw)
		if err != nil {
			t.Fatal(err)
		}
		return in.Active
	}

	rotateAt := t0.Add(24 * time.Hour)
	c.Set(rotateAt)
	_, oldKid := mint()
	if rotated, err := ring.Rotate(t.Context(), keys.ES256, true); err != nil || !rotated {
		t.Fatalf("Rotate = %v, %v", rotated, err)
	}
	set := fetch()
	var newKid string
	for _, k := range set.Keys {
		if k.Algorithm == keys.ES256 && k.KeyID != oldKid {
			newKid = k.KeyID
		}
	}
	if newKid == "" || len(set.Key(oldKid)) != 1 {
		t.Fatalf("JWKS right after the rotation: %v; want the new ES256 key and the old %s", kidList(set), oldKid)
	}
	published := c.Now() // the first moment the new kid is in the JWKS

	// Walk the clock in steps; every token carries a kid that the JWKS
	// served at that moment holds, and the new kid appears in tokens only
	// after it has been published for JWKSMaxAge.
	var lastOld string
	var lastOldAt, switched time.Time
	for at := rotateAt; at.Before(rotateAt.Add(keys.DefaultPrePublish + 30*time.Minute)); at = at.Add(5 * time.Minute) {
		c.Set(at)
		raw, kid := mint()
		if kid != oldKid && kid != newKid {
			t.Fatalf("at +%v a token carries kid %s", at.Sub(rotateAt), kid)
		}
		verifyWith(t, fetch(), raw)
		if kid == oldKid {
			lastOld, lastOldAt = raw, at
		} else if switched.IsZero() {
			switched = at
		}
	}
	if switched.IsZero() {
		t.Fatal("the new key never signed")
	}
	if d := switched.Sub(published); d < keys.JWKSMaxAge {
		t.Errorf("the new kid signed %v after it was first published, less than the JWKS max-age %v (pin P21)", d, keys.JWKSMaxAge)
	}

	// The last token of the old key: still valid until it expires, with a
	// JWKS fetched now and at introspection.
	c.Set(lastOldAt)
	claims, err := tokens.ParseAccess(lastOld)
	if err != nil {
		t.Fatalf("the old key's last token no longer parses: %v", err)
	}
	c.Set(time.Unix(claims.Expiry, 0).Add(-time.Second))
	verifyWith(t, fetch(), lastOld)
	if !active(lastOld) {
		t.Error("the old key's last token introspects inactive before it expires")
	}

	// Once every token the old key signed has expired, it leaves the JWKS.
	c.Set(rotateAt.Add(keys.DefaultPrePublish + keys.DefaultMaxTokenLifetime))
	if set := fetch(); len(set.Key(oldKid)) != 0 || len(set.Key(newKid)) != 1 {
		t.Errorf("JWKS after the old key's RemoveAt: %v", kidList(set))
	}
}

// TestRotateNowOverHTTP is the emergency rotation: the new key signs at
// once and the old one is gone from the JWKS, so its tokens stop working.
func TestRotateNowOverHTTP(t *testing.T) {
	c := testclock.New(t0)
	ring, st := newRing(t, c)
	url := serve(t, &oidc.Handler{Issuer: issuer, Keys: ring})
	tokens := &token.Issuer{URL: issuer, Keys: ring, AccessTTL: 10 * time.Minute, Now: c.Now}
	introspector := &token.Introspector{Issuer: tokens, Access: st.Access, Refresh: st.Refresh,
		Revocations: st.Revocations, Digester: secret.NewDigester(secret.Bytes(32)), Now: c.Now}
	old, _, err := tokens.Access(token.AccessRequest{Subject: "ana", ClientID: "ff", Audience: []string{issuer}})
	if err != nil {
		t.Fatal(err)
	}
	oldKid := kidOf(t, old)
	if err := ring.RotateNow(t.Context(), keys.ES256); err != nil {
		t.Fatal(err)
	}
	next, _, err := tokens.Access(token.AccessRequest{Subject: "ana", ClientID: "ff", Audience: []string{issuer}})
	if err != nil {
		t.Fatal(err)
	}
	r := get(t, url+"/jwks")
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.body, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Key(oldKid)) != 0 {
		t.Errorf("the old key %s is still published after RotateNow: %v", oldKid, kidList(set))
	}
	if kid := verifyWith(t, set, next); kid == oldKid {
		t.Error("RotateNow did not switch the signing key")
	}
	if in, err := introspector.Introspect(t.Context(), old); err != nil || in.Active {
		t.Errorf("a token of the removed key introspects %+v, %v; want inactive", in, err)
	}
}

func kidOf(t *testing.T, raw string) string {
	t.Helper()
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Header.KeyID
}

func kidList(set jose.JSONWebKeySet) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.Algorithm+":"+k.KeyID)
	}
	slices.Sort(out)
	return out
}
