package grant_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/secret"
)

// TestAuthorizationCode_Success checks the whole successful response and
// the access token's claims.
func TestAuthorizationCode_Success(t *testing.T) {
	e := newEnv(t)
	c := e.newCode("conf1")
	r := e.redeem(c)

	if r.str("token_type") != "Bearer" || r.body["expires_in"] != float64(accessTTL/time.Second) ||
		r.str("scope") != "openid profile" {
		t.Errorf("response %s", r.raw)
	}
	rt := r.str("refresh_token")
	if !strings.HasPrefix(rt, "rt_") {
		t.Fatalf("refresh_token %q lacks the rt_ prefix", rt)
	}
	claims := e.claims(r.str("access_token"))
	if claims.Subject != userID || claims.ClientID != "conf1" || claims.Scope != "openid profile" ||
		claims.GrantID != c.code.FamilyID || !slices.Equal(claims.Audience, defaultAudience) ||
		claims.AuthTime != c.code.AuthTime.Unix() {
		t.Errorf("claims %+v", claims)
	}
	stored, err := e.st.Refresh.Get(context.Background(), e.d.Digest(secret.PurposeRefresh, rt))
	if err != nil {
		t.Fatalf("the refresh token is not stored under its digest: %v", err)
	}
	if stored.FamilyID != c.code.FamilyID || stored.ClientID != "conf1" || stored.UserID != userID ||
		!slices.Equal(stored.Scopes, []string{"openid", "profile"}) || stored.Digest == rt ||
		stored.ExpiresAt.Sub(stored.CreatedAt) != refreshTTL {
		t.Errorf("stored refresh token %+v", stored)
	}

	// pub2 did not register refresh_token: no refresh token for it.
	r = e.redeem(e.newCode("pub2"))
	if _, ok := r.body["refresh_token"]; ok {
		t.Errorf("pub2 got a refresh token without registering the grant: %s", r.raw)
	}
}

// TestPK03_VerifierMissingWrongOrMalformed: each bad verifier is
// invalid_grant, and the code still works afterwards (pin P3).
func TestPK03_VerifierMissingWrongOrMalformed(t *testing.T) {
	e := newEnv(t)
	c := e.newCode("pub1")
	cases := map[string]string{
		"a missing":       "",
		"b different":     verifier(),
		"c 42 chars":      strings.Repeat("a", 42),
		"d 129 chars":     strings.Repeat("a", 129),
		"e plus":          c.verifier[:42] + "+",
		"e slash":         c.verifier[:42] + "/",
		"e space":         c.verifier[:42] + " ",
		"e NUL":           c.verifier[:42] + "\x00",
		"f the challenge": c.code.CodeChallenge,
		"g empty":         "",
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			e := e.with(t)
			f := codeForm(c)
			f.Set("code_verifier", v)
			if name == "a missing" {
				f.Del("code_verifier")
			}
			wantError(t, e.token(f, public("pub1")), http.StatusBadRequest, oauth.InvalidGrant)
		})
	}
	e.redeem(c)
}

// TestPK04_VerifierWithoutChallenge: a code issued without a challenge (a
// confidential client on the legacy opt-out) refuses a verifier.
func TestPK04_VerifierWithoutChallenge(t *testing.T) {
	e := newEnv(t)
	noPKCE := func(c *valet.AuthCode) { c.CodeChallenge, c.CodeChallengeMethod = "", "" }
	c := e.newCode("conf1", noPKCE)
	wantError(t, e.token(codeForm(c), e.as("conf1")), http.StatusBadRequest, oauth.InvalidGrant)

	f := codeForm(c)
	f.Del("code_verifier")
	e.wantOK(e.token(f, e.as("conf1")))

	// A public client's code always needs PKCE (RFC 9700 §2.1.1), even if
	// one were ever issued without a challenge.
	p := e.newCode("pub1", noPKCE)
	f = codeForm(p)
	f.Del("code_verifier")
	wantError(t, e.token(f, public("pub1")), http.StatusBadRequest, oauth.InvalidGrant)
}

// TestPK05_CodeInjectionStoppedByPKCE: the attacker's code, bound to the
// attacker's challenge, is redeemed with the victim's verifier.
func TestPK05_CodeInjectionStoppedByPKCE(t *testing.T) {
	e := newEnv(t)
	attackers := e.newCode("pub1") // bound to C(Va), the attacker's challenge
	victimVerifier := verifier()
	f := codeForm(attackers)
	f.Set("code_verifier", victimVerifier)
	r := e.token(f, public("pub1"))
	wantError(t, r, http.StatusBadRequest, oauth.InvalidGrant)
}

// TestCO01_ReuseRevokesDerivedTokens: a replayed code is refused and kills
// the access and refresh tokens of the first redemption.
func TestCO01_ReuseRevokesDerivedTokens(t *testing.T) {
	e := newEnv(t)
	c := e.newCode("conf1")
	first := e.redeem(c)
	fam := e.claims(first.str("access_token")).GrantID
	if fam != c.code.FamilyID {
		t.Fatalf("access token grant_id %q, want the code's family %q", fam, c.code.FamilyID)
	}

	for range 2 {
		wantError(t, e.token(codeForm(c), e.as("conf1")), http.StatusBadRequest, oauth.InvalidGrant)
	}
	e.denyListed(fam)
	e.refreshDead("conf1", first.str("refresh_token"))
	// What a resource server sees: both tokens of the first redemption are
	// inactive at /introspect.
	e.inactive(first.str("access_token"))
	e.inactive(first.str("refresh_token"))

	// A replay is detected before the other checks: whoever presents a used
	// code without its verifier (a thief) still revokes what it produced.
	c = e.newCode("conf1")
	first = e.redeem(c)
	f := codeForm(c)
	f.Del("code_verifier")
	f.Del("redirect_uri")
	wantError(t, e.token(f, e.as("conf1")), http.StatusBadRequest, oauth.InvalidGrant)
	e.denyListed(c.code.FamilyID)
	e.refreshDead("conf1", first.str("refresh_token"))
}

// TestCO03_CodeBoundToClientAndRedirectURI covers the catalogue's a-e and
// pin P9's cases where /authorize omitted redirect_uri.
func TestCO03_CodeBoundToClientAndRedirectURI(t *testing.T) {
	e := newEnv(t)

	t.Run("a another confidential client", func(t *testing.T) {
		e := e.with(t)
		c := e.newCode("conf1")
		wantError(t, e.token(codeForm(c), e.as("conf2")), http.StatusBadRequest, oauth.InvalidGrant)
		e.redeem(c) // not consumed, and not revoked: conf2 never held it
	})
	t.Run("b another public client", func(t *testing.T) {
		e := e.with(t)
		c := e.newCode("pub1")
		wantError(t, e.token(codeForm(c), public("pub2")), http.StatusBadRequest, oauth.InvalidGrant)
		e.redeem(c)
	})
	t.Run("c other registered redirect_uri", func(t *testing.T) {
		e := e.with(t)
		c := e.newCode("conf1")
		f := codeForm(c)
		f.Set("redirect_uri", "https://client.example/cb2")
		wantError(t, e.token(f, e.as("conf1")), http.StatusBadRequest, oauth.InvalidGrant)
		for _, near := range []string{"https://client.example/cb/", "https://CLIENT.example/cb", "https://client.example/cb?x=1", "https://client.example/%63b"} {
			f.Set("redirect_uri", near)
			wantError(t, e.token(f, e.as("conf1")), http.StatusBadRequest, oauth.InvalidGrant)
		}
		e.redeem(c)
	})
	t.Run("d redirect_uri omitted", func(t *testing.T) {
		e := e.with(t)
		c := e.newCode("conf1")
		f := codeForm(c)
		f.Del("redirect_uri")
		wantError(t, e.token(f, e.as("conf1")), http.StatusBadRequest, oauth.InvalidGrant)
		e.redeem(c)
	})
	t.Run("e client_id without secret", func(t *testing.T) {
		e := e.with(t)
		c := e.newCode("conf1")
		wantError(t, e.token(codeForm(c), public("conf1")), http.StatusUnauthorized, oauth.InvalidClient)
		e.redeem(c)
	})
	t.Run("P9 omitted at authorize", func(t *testing.T) {
		e := e.with(t)
		omitted := func(c *valet.AuthCode) { c.RedirectURI = "" }
		c := e.newCode("pub1", omitted)
		f := codeForm(c)
		f.Set("redirect_uri", "https://spa2.example/cb")
		wantError(t, e.token(f, public("pub1")), http.StatusBadRequest, oauth.InvalidGrant)
		f.Del("redirect_uri")
		e.wantOK(e.token(f, public("pub1")))

		c = e.newCode("pub1", omitted)
		f = codeForm(c)
		f.Set("redirect_uri", "https://spa.example/cb") // the single registered URI
		e.wantOK(e.token(f, public("pub1")))
	})
}

// TestCO04_ExpiredForgedWrongTypeAndGuessedCodes: every bad code gets the
// same status and body, whatever it was.
func TestCO04_ExpiredForgedWrongTypeAndGuessedCodes(t *testing.T) {
	e := newEnv(t)
	expired := e.newCode("conf1", func(c *valet.AuthCode) {
		c.CreatedAt = time.Now().Add(-2 * time.Minute)
		c.ExpiresAt = time.Now().Add(-time.Second)
	})
	good := e.newCode("conf1")
	tokens := e.redeem(e.newCode("conf1"))

	// f: a code from another deployment, digested under another server secret.
	other := secret.NewDigester(secret.Bytes(32))
	foreignValue := secret.Token("ac_")
	e.newCode("conf1", func(c *valet.AuthCode) { c.Digest = other.Digest(secret.PurposeCode, foreignValue) })

	flipped := []byte(good.value)
	if flipped[len(flipped)-1] == 'A' {
		flipped[len(flipped)-1] = 'B'
	} else {
		flipped[len(flipped)-1] = 'A'
	}
	cases := map[string]string{
		"a expired":                expired.value,
		"b random":                 secret.Token("ac_"),
		"b random without prefix":  secret.Token("")[:43],
		"c last character flipped": string(flipped),
		"d refresh token":          tokens.str("refresh_token"),
		"e access token":           tokens.str("access_token"),
		"f another issuer":         foreignValue,
	}
	var bodies []string
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			e := e.with(t)
			f := codeForm(good)
			f.Set("code", value)
			r := e.token(f, e.as("conf1"))
			wantError(t, r, http.StatusBadRequest, oauth.InvalidGrant)
			bodies = append(bodies, string(r.raw))
		})
	}
	// Another client's code and a used code read the same as a missing one.
	wantErrorBody := func(r *result) {
		t.Helper()
		wantError(t, r, http.StatusBadRequest, oauth.InvalidGrant)
		bodies = append(bodies, string(r.raw))
	}
	wantErrorBody(e.token(codeForm(good), e.as("conf2")))
	used := e.newCode("conf1")
	e.redeem(used)
	wantErrorBody(e.token(codeForm(used), e.as("conf1")))

	for _, b := range bodies[1:] {
		if b != bodies[0] {
			t.Errorf("bodies differ, telling one failure from another:\n%s\n%s", bodies[0], b)
		}
	}
	e.redeem(good)
}

// TestCO04g_CodeEntropy: code values carry 256 random bits and do not repeat.
func TestCO04g_CodeEntropy(t *testing.T) {
	seen := make(map[string]bool, 10000)
	for range 10000 {
		v := secret.Token("ac_")
		raw, err := base64.RawURLEncoding.Strict().DecodeString(strings.TrimPrefix(v, "ac_"))
		if err != nil || len(raw) < 32 {
			t.Fatalf("code %q is not 256 bits of base64url: %v", v, err)
		}
		if seen[v] {
			t.Fatalf("code repeated after %d", len(seen))
		}
		seen[v] = true
	}
	// The refresh tokens this package issues are made the same way.
	e := newEnv(t)
	r := e.redeem(e.newCode("conf1"))
	raw, err := base64.RawURLEncoding.Strict().DecodeString(strings.TrimPrefix(r.str("refresh_token"), "rt_"))
	if err != nil || len(raw) < 32 {
		t.Fatalf("refresh token is not 256 bits of base64url: %v", err)
	}
}

// TestResourceIndicator: RFC 8707 at the token endpoint.
func TestResourceIndicator(t *testing.T) {
	e := newEnv(t)
	withResources := func(c *valet.AuthCode) {
		c.Resources = []string{"https://contacts.example", "https://calendar.example"}
	}

	c := e.newCode("conf1", withResources)
	f := codeForm(c)
	f.Set("resource", "https://mail.example")
	wantError(t, e.token(f, e.as("conf1")), http.StatusBadRequest, oauth.InvalidTarget)
	for _, bad := range []string{"/relative", "https://contacts.example#frag"} {
		f.Set("resource", bad)
		wantError(t, e.token(f, e.as("conf1")), http.StatusBadRequest, oauth.InvalidTarget)
	}
	f.Set("resource", "https://contacts.example")
	r := e.token(f, e.as("conf1"))
	e.wantOK(r)
	if aud := e.claims(r.str("access_token")).Audience; !slices.Equal(aud, []string{"https://contacts.example"}) {
		t.Errorf("aud %v, want the requested resource", aud)
	}

	// Without a resource parameter: every resource of the authorization.
	r = e.redeem(e.newCode("conf1", withResources))
	if aud := e.claims(r.str("access_token")).Audience; !slices.Equal(aud, []string{"https://contacts.example", "https://calendar.example"}) {
		t.Errorf("aud %v, want the authorized resources", aud)
	}
	// A refresh keeps the family's resources.
	r = e.token(refreshForm(r.str("refresh_token")), e.as("conf1"))
	e.wantOK(r)
	if aud := e.claims(r.str("access_token")).Audience; len(aud) != 2 {
		t.Errorf("aud after refresh %v, want the authorized resources", aud)
	}
	r = e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.str("refresh_token")}, "resource": {"https://mail.example"}}, e.as("conf1"))
	wantError(t, r, http.StatusBadRequest, oauth.InvalidTarget)
}
