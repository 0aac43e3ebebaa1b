package token

import (
	"fmt"
	"maps"
	"slices"

	"github.com/valetauth/valet"
)

// The scopes OpenID Connect gives a meaning (Core §3.1.2.1, §5.4).
const (
	ScopeOpenID  = "openid"
	ScopeProfile = "profile"
	ScopeEmail   = "email"
)

// standardClaims are the claims each standard scope releases, in the order
// claims_supported lists them. Valet holds a username, a display name and an
// e-mail address, so it fills only these of OpenID Connect Core §5.1.
var standardClaims = []struct {
	scope  string
	claims []string
}{
	{ScopeOpenID, []string{"sub"}},
	{ScopeProfile, []string{"name", "preferred_username", "updated_at"}},
	{ScopeEmail, []string{"email", "email_verified"}},
}

// reservedClaims may never come from the custom mapping: the claims of
// OpenID Connect Core §5.1, whose meaning and JSON type the specification
// fixes, and every claim the ID token or access token carries for the
// protocol (RFC 7519 §4.1, Core §2, RFC 9068 §2.2, Back-Channel Logout
// §2.4, RFC 8693 §4). A custom claim named "sub" or "email_verified" would
// let a value in User.Claims speak for what Valet asserts.
var reservedClaims = []string{
	// OpenID Connect Core §5.1.
	"sub", "name", "given_name", "family_name", "middle_name", "nickname", "preferred_username",
	"profile", "picture", "website", "email", "email_verified", "gender", "birthdate", "zoneinfo",
	"locale", "phone_number", "phone_number_verified", "address", "updated_at",
	"_claim_names", "_claim_sources",
	// JWT, ID token, access token and logout token claims.
	"iss", "aud", "exp", "nbf", "iat", "jti", "auth_time", "nonce", "acr", "amr", "azp",
	"at_hash", "c_hash", "s_hash", "sid", "cnf", "client_id", "scope", "grant_id", "token_use",
	"events", "act", "may_act", "typ",
}

// ClaimRules decides which claims about a person each scope releases: the
// standard ones of OpenID Connect Core §5.4 (openid → sub; profile → name,
// preferred_username, updated_at; email → email, email_verified) and a
// configured custom mapping. ID tokens and UserInfo both release claims
// through it, so the two never disagree.
type ClaimRules struct {
	// Custom maps a scope to names of User.Claims that it releases, such as
	// {"org": ["department"]}. cmd/valet checks it with
	// ValidateCustomClaims before the server starts.
	Custom map[string][]string
}

// ValidateCustomClaims checks a custom-claims mapping: every scope is an
// RFC 6749 §3.3 scope token and every claim name is non-empty printable
// ASCII, listed once per scope, and is not a standard or protocol claim.
// Standard claims are refused even where Valet fills none (such as
// "locale"): OpenID Connect fixes their meaning and type, and a mapped value
// from User.Claims is not checked against either.
func ValidateCustomClaims(custom map[string][]string) error {
	for _, scope := range slices.Sorted(maps.Keys(custom)) {
		if !valet.ValidScopeToken(scope) {
			return fmt.Errorf("custom claims: %q is not a valid scope name", scope)
		}
		names := custom[scope]
		if len(names) == 0 {
			return fmt.Errorf("custom claims: scope %q lists no claims", scope)
		}
		for i, name := range names {
			if !validClaimName(name) {
				return fmt.Errorf("custom claims: scope %q: %q is not a valid claim name (1 to 255 printable ASCII characters)", scope, name)
			}
			if slices.Contains(reservedClaims, name) {
				return fmt.Errorf("custom claims: scope %q: %q is a standard claim; only Valet sets it", scope, name)
			}
			if slices.Contains(names[:i], name) {
				return fmt.Errorf("custom claims: scope %q lists %q twice", scope, name)
			}
		}
	}
	return nil
}

func validClaimName(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Release returns the claims about u that scopes release, with sub as the
// subject when scopes include openid. A claim with no value is left out
// rather than sent empty (OpenID Connect Core §5.3.2); email_verified goes
// only with an e-mail address, which it is about. Custom claims come from
// u.Claims; one the user record lacks is left out.
func (r ClaimRules) Release(sub string, u *valet.User, scopes []string) map[string]any {
	out := map[string]any{}
	has := func(s string) bool { return slices.Contains(scopes, s) }
	if has(ScopeOpenID) {
		out["sub"] = sub
	}
	if has(ScopeProfile) {
		if u.Name != "" {
			out["name"] = u.Name
		}
		out["preferred_username"] = u.Username
		// Core §5.1: updated_at is "the number of seconds from
		// 1970-01-01T00:00:00Z" when the information last changed.
		updated := u.UpdatedAt
		if updated.IsZero() {
			updated = u.CreatedAt
		}
		if !updated.IsZero() {
			out["updated_at"] = updated.Unix()
		}
	}
	if has(ScopeEmail) && u.Email != "" {
		out["email"] = u.Email
		out["email_verified"] = u.EmailVerified
	}
	for scope, names := range r.Custom {
		if !has(scope) {
			continue
		}
		for _, name := range names {
			if v, ok := u.Claims[name]; ok && v != nil {
				out[name] = v
			}
		}
	}
	return out
}

// Supported lists every claim the rules can release, for the discovery
// document's claims_supported, after the protocol claims of ID tokens.
func (r ClaimRules) Supported() []string {
	out := []string{"iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid"}
	for _, s := range standardClaims {
		out = append(out, s.claims...)
	}
	var custom []string
	for _, names := range r.Custom {
		custom = append(custom, names...)
	}
	slices.Sort(custom)
	for _, c := range slices.Compact(custom) {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// Scopes lists the scopes that release claims: openid, profile and email,
// then the custom mapping's, sorted.
func (r ClaimRules) Scopes() []string {
	out := []string{ScopeOpenID, ScopeProfile, ScopeEmail}
	for _, s := range slices.Sorted(maps.Keys(r.Custom)) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
