package token_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/token"
)

func TestClaimRulesRelease(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	updated := created.Add(48 * time.Hour)
	ana := &valet.User{ID: "usr_ana", Username: "ana", Name: "Ana Lima", Email: "ana@example.com", EmailVerified: true,
		Claims:    map[string]any{"department": "Sales", "groups": []any{"a", "b"}, "locale": "pt-BR", "empty": nil},
		CreatedAt: created, UpdatedAt: updated}
	bare := &valet.User{ID: "usr_bo", Username: "bo", CreatedAt: created}
	rules := token.ClaimRules{Custom: map[string][]string{
		"org":     {"department", "groups"},
		"profile": {"team"},       // the user record has no team: left out
		"misc":    {"empty", "x"}, // a null value is no value
	}}
	for _, tc := range []struct {
		name   string
		user   *valet.User
		scopes []string
		want   map[string]any
	}{
		{"openid only", ana, []string{"openid"}, map[string]any{"sub": "S"}},
		{"no openid, no sub", ana, []string{"email"},
			map[string]any{"email": "ana@example.com", "email_verified": true}},
		{"profile", ana, []string{"openid", "profile"}, map[string]any{"sub": "S",
			"name": "Ana Lima", "preferred_username": "ana", "updated_at": updated.Unix()}},
		{"email", ana, []string{"openid", "email"}, map[string]any{"sub": "S",
			"email": "ana@example.com", "email_verified": true}},
		{"custom", ana, []string{"openid", "org"}, map[string]any{"sub": "S",
			"department": "Sales", "groups": []any{"a", "b"}}},
		{"unknown scope releases nothing", ana, []string{"openid", "contacts.read"}, map[string]any{"sub": "S"}},
		{"null custom value", ana, []string{"misc"}, map[string]any{}},
		// Empty values are left out, not sent as "" (Core §5.3.2);
		// updated_at falls back to the creation time; no e-mail, no
		// email_verified.
		{"bare user", bare, []string{"openid", "profile", "email", "org"}, map[string]any{"sub": "S",
			"preferred_username": "bo", "updated_at": created.Unix()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := rules.Release("S", tc.user, tc.scopes)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Release(%v)\n got %v\nwant %v", tc.scopes, got, tc.want)
			}
		})
	}
	unverified := *ana
	unverified.EmailVerified = false
	if got := rules.Release("S", &unverified, []string{"email"}); got["email_verified"] != false {
		t.Errorf("email_verified = %v, want false", got["email_verified"])
	}
}

func TestClaimRulesAdvertise(t *testing.T) {
	rules := token.ClaimRules{Custom: map[string][]string{"org": {"department", "groups"}, "hr": {"department"}}}
	claims := rules.Supported()
	for _, c := range []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid",
		"name", "preferred_username", "updated_at", "email", "email_verified", "department", "groups"} {
		if !slices.Contains(claims, c) {
			t.Errorf("claims_supported %v lacks %s", claims, c)
		}
	}
	if n := len(claims); n != len(slices.Compact(slices.Sorted(slices.Values(claims)))) {
		t.Errorf("claims_supported has duplicates: %v", claims)
	}
	if got, want := rules.Scopes(), []string{"openid", "profile", "email", "hr", "org"}; !slices.Equal(got, want) {
		t.Errorf("Scopes = %v, want %v", got, want)
	}
}

func TestValidateCustomClaims(t *testing.T) {
	for _, ok := range []map[string][]string{
		nil,
		{"org": {"department", "groups"}},
		{"profile": {"team"}, "email": {"alias"}, "openid": {"tenant"}},
	} {
		if err := token.ValidateCustomClaims(ok); err != nil {
			t.Errorf("%v refused: %v", ok, err)
		}
	}
	for name, bad := range map[string]map[string][]string{
		"sub":              {"org": {"sub"}},
		"email_verified":   {"org": {"email_verified"}},
		"a §5.1 claim":     {"profile": {"locale"}},
		"a protocol claim": {"org": {"nonce"}},
		"sid":              {"org": {"sid"}},
		"client_id":        {"org": {"client_id"}},
		"empty claim":      {"org": {""}},
		"claim with space": {"org": {"de partment"}},
		"twice":            {"org": {"department", "department"}},
		"no claims":        {"org": {}},
		"bad scope":        {"o rg": {"department"}},
		"empty scope":      {"": {"department"}},
		"long claim":       {"org": {strings.Repeat("x", 256)}},
	} {
		if err := token.ValidateCustomClaims(bad); err == nil {
			t.Errorf("%s: %v accepted", name, bad)
		}
	}
}
