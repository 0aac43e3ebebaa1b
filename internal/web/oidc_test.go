package web_test

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/token"
)

// oidcReq is an OpenID Connect request of response type rt for hyb1 (or
// the client in kv), with nonce and PKCE; kv override as in authz.
func oidcReq(rt string, kv ...string) url.Values {
	base := []string{"response_type", rt, "scope", "openid profile email org", "nonce", "n-0S6_WzA2Mj"}
	return authz("hyb1", "https://hyb.example/cb", append(base, kv...)...)
}

// signedInOIDC is a browser whose user allowed hyb1 and pair1 every scope.
func (e *env) signedInOIDC() *browser {
	e.consentTo(e.user, "hyb1", oidcScopes...)
	e.consentTo(e.user, "pair1", oidcScopes...)
	return e.signedIn(e.user)
}

// verifyID verifies an ID token as a relying party does, with go-oidc over
// the key ring's published keys, and returns it with its claims.
func verifyID(t *testing.T, clientID, raw string, algs ...string) (*oidc.IDToken, map[string]any) {
	t.Helper()
	var pubs []crypto.PublicKey
	for _, k := range ring.JWKS().Keys {
		pubs = append(pubs, k.Key)
	}
	if len(algs) == 0 {
		algs = []string{"RS256"}
	}
	v := oidc.NewVerifier(issuer, &oidc.StaticKeySet{PublicKeys: pubs}, &oidc.Config{ClientID: clientID, SupportedSigningAlgs: algs})
	tok, err := v.Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("go-oidc refused the ID token: %v", err)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	return tok, claims
}

// halfHash is at_hash / c_hash for a SHA-256 algorithm, computed here from
// OpenID Connect Core §3.1.3.6 rather than with the code under test.
func halfHash(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// jwtHeader decodes the protected header of a compact JWS.
func jwtHeader(t *testing.T, raw string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// sessionOf returns the stored session behind b's cookie.
func (e *env) sessionOf(t *testing.T, b *browser) *valet.Session {
	t.Helper()
	s, err := e.st.Sessions.Get(context.Background(), e.dig.Digest(secret.PurposeSession, b.cookie(e.sessionCookieName())))
	if err != nil {
		t.Fatalf("no session behind the cookie: %v", err)
	}
	return s
}

func (e *env) storedCode(t *testing.T, code string) *valet.AuthCode {
	t.Helper()
	c, err := e.st.Codes.Get(context.Background(), e.dig.Digest(secret.PurposeCode, code), time.Now())
	if err != nil {
		t.Fatalf("code %.10s… is not stored: %v", code, err)
	}
	return c
}

// scopeClaims are the claims "openid profile email org" release for ana.
var scopeClaims = []string{"name", "preferred_username", "email", "email_verified", "department"}

// TestOIDC_ResponseTypes drives every OpenID Connect response type to its
// fragment and checks each part: which parameters, the code as stored, the
// access token, and the ID token as go-oidc verifies it, with nonce,
// at_hash and c_hash computed here.
func TestOIDC_ResponseTypes(t *testing.T) {
	e := newEnv(t)
	b := e.signedInOIDC()
	sess := e.sessionOf(t, b)
	for _, rt := range []string{"id_token", "id_token token", "code id_token", "code token", "code id_token token"} {
		t.Run(rt, func(t *testing.T) {
			want := map[string]bool{
				"code":     strings.Contains(rt, "code"),
				"id_token": strings.Contains(rt, "id_token"),
				// "token" as a value of its own, not inside "id_token".
				"access_token": slices.Contains(strings.Fields(rt), "token"),
			}
			r := b.authorize(oidcReq(rt))
			if r.StatusCode != http.StatusFound {
				t.Fatalf("status %d\n%s", r.StatusCode, r.body)
			}
			f := fragmentOf(t, r, "https://hyb.example/cb")
			if f.Has("error") {
				t.Fatalf("error %s: %s", f.Get("error"), f.Get("error_description"))
			}
			for k, v := range f {
				allowed := []string{"state", "iss", "code", "id_token", "access_token", "token_type", "expires_in", "scope"}
				if !slices.Contains(allowed, k) || len(v) != 1 {
					t.Errorf("fragment carries %s=%q", k, v) // refresh_token...
				}
			}
			for k, w := range want {
				if f.Has(k) != w {
					t.Errorf("%s present: %v, want %v", k, f.Has(k), w)
				}
			}
			checkErrorParams(t, f, "", "st-1")

			var code *valet.AuthCode
			if want["code"] {
				code = e.storedCode(t, f.Get("code"))
				if code.SessionID == "" || code.SessionID != sess.SID || code.Nonce != "n-0S6_WzA2Mj" || code.CodeChallenge != challenge {
					t.Errorf("stored code = %+v, want sid %q", code, sess.SID)
				}
			}
			if want["access_token"] {
				at := e.claims(t, f.Get("access_token"))
				if f.Get("token_type") != "Bearer" || at.Subject != e.user.ID || at.ClientID != "hyb1" {
					t.Errorf("access token %+v, token_type %q", at, f.Get("token_type"))
				}
				// Beside a code, the token belongs to the code's grant, so
				// a replayed code revokes it too.
				if code != nil && at.GrantID != code.FamilyID {
					t.Errorf("grant_id %q, want the code's family %q", at.GrantID, code.FamilyID)
				}
			}
			if !want["id_token"] {
				return
			}
			raw := f.Get("id_token")
			if h := jwtHeader(t, raw); h["alg"] != "RS256" {
				t.Errorf("alg %v, want RS256 (the default)", h["alg"])
			}
			tok, claims := verifyID(t, "hyb1", raw)
			if tok.Nonce != "n-0S6_WzA2Mj" || tok.Subject != e.user.ID || !slices.Equal(tok.Audience, []string{"hyb1"}) {
				t.Errorf("nonce %q, sub %q, aud %v", tok.Nonce, tok.Subject, tok.Audience)
			}
			if got, _ := claims["auth_time"].(float64); int64(got) != sess.AuthTime.Unix() {
				t.Errorf("auth_time %v, want the session's %d", claims["auth_time"], sess.AuthTime.Unix())
			}
			if claims["sid"] != sess.SID || sess.SID == "" {
				t.Errorf("sid %v, want the session's %q", claims["sid"], sess.SID)
			}
			if exp, _ := claims["exp"].(float64); time.Until(time.Unix(int64(exp), 0)) > idTokenTTL || time.Until(time.Unix(int64(exp), 0)) < idTokenTTL-time.Minute {
				t.Errorf("exp %v is not IDTokenTTL from now", claims["exp"])
			}
			if want["access_token"] {
				if claims["at_hash"] != halfHash(f.Get("access_token")) {
					t.Errorf("at_hash %v, want %s", claims["at_hash"], halfHash(f.Get("access_token")))
				}
				if err := tok.VerifyAccessToken(f.Get("access_token")); err != nil {
					t.Errorf("go-oidc: %v", err)
				}
			} else if claims["at_hash"] != nil {
				t.Errorf("at_hash %v without an access token", claims["at_hash"])
			}
			if want["code"] {
				if claims["c_hash"] != halfHash(f.Get("code")) {
					t.Errorf("c_hash %v, want %s", claims["c_hash"], halfHash(f.Get("code")))
				}
			} else if claims["c_hash"] != nil {
				t.Errorf("c_hash %v without a code", claims["c_hash"])
			}
			// OIDC Core §5.4: only id_token alone, with no access token to
			// call UserInfo with, carries the scopes' claims.
			for _, c := range scopeClaims {
				if has := claims[c] != nil; has != (rt == "id_token") {
					t.Errorf("claim %s present: %v", c, has)
				}
			}
			if rt == "id_token" && (claims["name"] != "Ana Lima" || claims["email"] != "ana@example.com" ||
				claims["email_verified"] != true || claims["preferred_username"] != "ana" || claims["department"] != "R&D") {
				t.Errorf("claims = %v", claims)
			}
		})
	}
}

// TestOIDC_PairwiseAndES256: the ID token's sub is the client's pairwise
// subject, computed here from Core §8.1, and it is signed with the alg the
// client registered.
func TestOIDC_PairwiseAndES256(t *testing.T) {
	e := newEnv(t)
	b := e.signedInOIDC()
	r := b.authorize(authz("pair1", "https://pair.example/cb", "response_type", "code id_token", "nonce", "n-p"))
	f := fragmentOf(t, r, "https://pair.example/cb")
	raw := f.Get("id_token")
	if h := jwtHeader(t, raw); h["alg"] != "ES256" {
		t.Errorf("alg %v, want ES256", h["alg"])
	}
	tok, _ := verifyID(t, "pair1", raw, "ES256")
	m := hmac.New(sha256.New, e.dig.Key(token.PairwisePurpose))
	m.Write([]byte("pair.example\x00" + e.user.ID))
	if want := base64.RawURLEncoding.EncodeToString(m.Sum(nil)); tok.Subject != want || tok.Subject == e.user.ID {
		t.Errorf("sub %q, want the pairwise %q", tok.Subject, want)
	}
}

// TestAZ01e_ResponseTypeOrder: the values of response_type may come in any
// order (RFC 6749 §3.1.1).
func TestAZ01e_ResponseTypeOrder(t *testing.T) {
	e := newEnv(t)
	b := e.signedInOIDC()
	for sent, canonical := range map[string]string{
		"id_token code":       "code id_token",
		"token id_token":      "id_token token",
		"token code":          "code token",
		"token id_token code": "code id_token token",
		"id_token token code": "code id_token token",
	} {
		t.Run(sent, func(t *testing.T) {
			keys := func(rt string) []string {
				f := fragmentOf(t, b.authorize(oidcReq(rt)), "https://hyb.example/cb")
				if f.Has("error") {
					t.Fatalf("%s: %s %s", rt, f.Get("error"), f.Get("error_description"))
				}
				var k []string
				for name := range f {
					k = append(k, name)
				}
				slices.Sort(k)
				return k
			}
			if got, want := keys(sent), keys(canonical); !slices.Equal(got, want) {
				t.Errorf("%q answered with %v, %q with %v", sent, got, canonical, want)
			}
		})
	}
	// A client registered "code id_token" is asked "id_token code".
	e.addClient(&valet.Client{ID: "reg-order", RedirectURIs: []string{"https://ro.example/cb"}, TokenEndpointAuthMethod: valet.AuthNone,
		GrantTypes: []string{"authorization_code", "implicit"}, ResponseTypes: []string{"id_token code"}, Scopes: []string{"openid"}})
	e.consentTo(e.user, "reg-order", "openid")
	f := fragmentOf(t, b.authorize(authz("reg-order", "https://ro.example/cb", "response_type", "code id_token", "scope", "openid")), "https://ro.example/cb")
	if !f.Has("code") || !f.Has("id_token") {
		t.Errorf("fragment %v", f)
	}
}

func TestAZ03_OpenIDConnectTypes(t *testing.T) {
	e := newEnv(t)
	b := e.signedInOIDC()
	tokenTypes := []string{"token", "id_token", "id_token token", "code id_token", "code token", "code id_token token"}
	t.Run("a response_mode=query is invalid_request, in the fragment", func(t *testing.T) {
		for _, rt := range tokenTypes {
			r := b.authorize(oidcReq(rt, "response_mode", "query"))
			assertFragmentError(t, r, http.StatusFound, "https://hyb.example/cb", "invalid_request", "st-1")
		}
	})
	t.Run("b no refresh token from the front channel", func(t *testing.T) {
		for _, rt := range tokenTypes {
			f := fragmentOf(t, b.authorize(oidcReq(rt, "scope", "openid offline_access")), "https://hyb.example/cb")
			if f.Has("refresh_token") {
				t.Errorf("%s: refresh_token in the fragment", rt)
			}
		}
	})
	t.Run("c nonce is required with id_token", func(t *testing.T) {
		for _, rt := range []string{"id_token", "id_token token", "code id_token", "code id_token token", "token id_token"} {
			r := b.authorize(oidcReq(rt, "nonce", del))
			q := assertFragmentError(t, r, http.StatusFound, "https://hyb.example/cb", "invalid_request", "st-1")
			if !strings.Contains(q.Get("error_description"), "nonce") {
				t.Errorf("%s: error_description %q", rt, q.Get("error_description"))
			}
		}
		// Control: "code token" returns no ID token from /authorize, so
		// nonce stays optional (conformance oidcc-ensure-request-without-
		// nonce-fails does not apply to it).
		f := fragmentOf(t, b.authorize(oidcReq("code token", "nonce", del)), "https://hyb.example/cb")
		if !f.Has("code") || !f.Has("access_token") {
			t.Errorf("code token without nonce: %v", f)
		}
	})
	t.Run("id_token needs the openid scope", func(t *testing.T) {
		for _, rt := range []string{"id_token", "id_token token", "code id_token", "code id_token token"} {
			for _, scope := range []string{"profile email", ""} {
				r := b.authorize(oidcReq(rt, "scope", scope))
				q := assertFragmentError(t, r, http.StatusFound, "https://hyb.example/cb", "invalid_request", "st-1")
				if !strings.Contains(q.Get("error_description"), "openid") {
					t.Errorf("%s: error_description %q", rt, q.Get("error_description"))
				}
			}
		}
	})
}

// TestPKCEWheneverACodeIsIssued: hybrid types issue a code, so they need
// PKCE; id_token and token alone do not.
func TestPKCEWheneverACodeIsIssued(t *testing.T) {
	e := newEnv(t)
	b := e.signedInOIDC()
	for _, rt := range []string{"code id_token", "code token", "code id_token token"} {
		r := b.authorize(oidcReq(rt, "code_challenge", del, "code_challenge_method", del))
		q := assertFragmentError(t, r, http.StatusFound, "https://hyb.example/cb", "invalid_request", "st-1")
		if !strings.Contains(q.Get("error_description"), "code_challenge") {
			t.Errorf("%s: error_description %q", rt, q.Get("error_description"))
		}
	}
	for _, rt := range []string{"id_token", "id_token token"} {
		f := fragmentOf(t, b.authorize(oidcReq(rt, "code_challenge", del, "code_challenge_method", del)), "https://hyb.example/cb")
		if !f.Has("id_token") {
			t.Errorf("%s without PKCE: %v", rt, f)
		}
	}
}

// TestOIDCTypesFollowTheImplicitSwitch: pin P16's server-wide switch turns
// off every type that returns a token through the browser.
func TestOIDCTypesFollowTheImplicitSwitch(t *testing.T) {
	e := newEnv(t, implicitOff)
	b := e.signedInOIDC()
	for _, rt := range []string{"token", "id_token", "id_token token", "code id_token", "code token", "code id_token token"} {
		r := b.authorize(oidcReq(rt))
		assertFragmentError(t, r, http.StatusFound, "https://hyb.example/cb", "unsupported_response_type", "st-1")
	}
	e.assertCode(t, b.authorize(oidcReq("code")), http.StatusFound, "https://hyb.example/cb", "st-1")
}

// TestRU06b_IDTokenWithoutRedirectURI: an OpenID Connect request without
// redirect_uri is an error page, even for a token-returning type.
func TestRU06b_IDTokenWithoutRedirectURI(t *testing.T) {
	e := newEnv(t)
	b := e.signedInOIDC()
	e.addClient(&valet.Client{ID: "one-uri", RedirectURIs: []string{"https://one.example/cb"}, TokenEndpointAuthMethod: valet.AuthNone,
		GrantTypes: []string{"authorization_code", "implicit"}, ResponseTypes: allResponseTypes, Scopes: oidcScopes})
	e.consentTo(e.user, "one-uri", oidcScopes...)
	for _, rt := range []string{"id_token", "code id_token", "code"} {
		assertNeverRedirects(t, b.authorize(authz("one-uri", "", "response_type", rt)), "https://one.example/cb")
		assertNeverRedirects(t, b.authorize(authz("one-uri", "", "response_type", rt, "response_mode", "form_post")), "https://one.example/cb")
	}
	// Control: with it, the same request succeeds.
	f := fragmentOf(t, b.authorize(authz("one-uri", "https://one.example/cb", "response_type", "id_token")), "https://one.example/cb")
	if !f.Has("id_token") {
		t.Errorf("fragment %v", f)
	}
}

func TestRegisterNeedsIDTokens(t *testing.T) {
	e := newEnv(t)
	h := &webHandler{Issuer: issuer, Clients: e.st.Clients, Users: e.st.Users, Sessions: e.st.Sessions,
		Consents: e.st.Consents, Codes: e.st.Codes, Replays: e.st.Replays, Digester: e.dig, ImplicitDisabled: true,
		Refresh: e.st.Refresh, Revocations: e.st.Revocations}
	defer func() {
		if p := recover(); p == nil || !strings.Contains(p.(string), "IDTokens") {
			t.Errorf("Register without IDTokens: %v", p)
		}
	}()
	h.Register(http.NewServeMux())
}

// TestLogsHoldNoIDTokens: the ID tokens, access tokens, codes, hints and
// form_post values of OpenID Connect flows never reach the log (catalogue
// §3.5).
func TestLogsHoldNoIDTokens(t *testing.T) {
	e := newEnv(t)
	b := e.signedInOIDC()
	state, nonce, hint := "state-canary-77aa", "nonce-canary-31bd", "login-hint-canary"
	f := fragmentOf(t, b.authorize(oidcReq("code id_token token", "state", state, "nonce", nonce, "login_hint", hint)), "https://hyb.example/cb")
	idt := f.Get("id_token")
	r := b.authorize(oidcReq("code id_token", "response_mode", "form_post", "id_token_hint", idt, "state", state))
	p := e.assertFormPost(t, r, "https://hyb.example/cb")
	b.authorize(oidcReq("id_token", "id_token_hint", idt+"x"))
	logs := e.logs.String()
	if !strings.Contains(logs, "ID token issued") {
		t.Fatalf("the flow logged nothing useful:\n%s", logs)
	}
	for _, secret := range []string{state, nonce, hint, idt, f.Get("code"), f.Get("access_token"), p.fields.Get("code"), p.fields.Get("id_token"), e.sessionOf(t, b).SID} {
		if secret == "" {
			t.Fatal("a canary is empty")
		}
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %.30q…:\n%s", secret, logs)
		}
	}
}
