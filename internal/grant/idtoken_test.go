package grant_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/token"
)

// idToken verifies raw with the ring's public key of its kid and returns
// its alg and claims. go-oidc checks the same tokens end to end in
// internal/server; these tests pin each claim.
func (e *env) idToken(raw string) (alg string, claims map[string]any) {
	e.t.Helper()
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		e.t.Fatalf("ID token %q: %v", raw, err)
	}
	h := jws.Signatures[0].Protected
	key, ok := e.keys.PublicKey(h.KeyID)
	if !ok || key.Algorithm != h.Algorithm {
		e.t.Fatalf("ID token signed by unknown key %q (%s)", h.KeyID, h.Algorithm)
	}
	payload, err := jws.Verify(key)
	if err != nil {
		e.t.Fatalf("ID token signature: %v", err)
	}
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != token.IDTokenType {
		e.t.Errorf("ID token typ = %q, want %q", typ, token.IDTokenType)
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		e.t.Fatal(err)
	}
	return h.Algorithm, claims
}

func num(v any) int64 { f, _ := v.(float64); return int64(f) }

// TestIDTokenFromCode: OpenID Connect Core §3.1.3.3, §3.1.3.6 — the code
// grant with scope openid answers an ID token about the sign-in the code
// came from, signed RS256.
func TestIDTokenFromCode(t *testing.T) {
	e := newEnv(t)
	authTime := time.Now().Add(-3 * time.Minute).Truncate(time.Second)
	// A nonce with characters JSON escapes and a length near the limit
	// comes back byte for byte (catalogue IP-05).
	nonce := `n<>&"\'` + "\u2028é𝄞 +/=" + longString(900)
	scopes := []string{"email", "openid", "org", "profile"}
	// The person consented to these scopes; the code grant checks it.
	if err := e.st.Consents.Put(context.Background(), &valet.Consent{UserID: userID, ClientID: "conf1", Scopes: scopes, GrantedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	c := e.newCode("conf1", func(c *valet.AuthCode) {
		c.Scopes = scopes
		c.Nonce, c.SessionID, c.AuthTime = nonce, "sid-123", authTime
	})
	before := time.Now().Unix()
	r := e.redeem(c)
	alg, claims := e.idToken(r.str("id_token"))
	if alg != "RS256" {
		t.Errorf("alg %s, want RS256 (the default, Core §15.1)", alg)
	}
	want := map[string]any{
		"iss": issuer, "sub": userID, "aud": "conf1", "nonce": nonce, "sid": "sid-123",
		"at_hash": token.HalfHash(r.str("access_token")),
		"name":    "Ana Lima", "preferred_username": username, "email": "ana@example.com", "email_verified": true,
		"department": "Sales",
	}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("%s = %v, want %v", k, claims[k], v)
		}
	}
	if num(claims["auth_time"]) != authTime.Unix() {
		t.Errorf("auth_time = %v, want the code's %d", claims["auth_time"], authTime.Unix())
	}
	if iat := num(claims["iat"]); iat < before || iat > time.Now().Unix() || num(claims["exp"])-iat != int64(idTokenTTL/time.Second) {
		t.Errorf("iat %v exp %v, want now and now + %v", claims["iat"], claims["exp"], idTokenTTL)
	}
	// aud is the client alone: no azp (Core §2). No code went to the
	// browser with the ID token, so no c_hash.
	for _, k := range []string{"azp", "c_hash", "scope", "client_id", "grant_id"} {
		if _, ok := claims[k]; ok {
			t.Errorf("ID token carries %s: %v", k, claims)
		}
	}

	// Without a nonce, sid or openid.
	c = e.newCode("conf1", func(c *valet.AuthCode) { c.Scopes = []string{"openid"} })
	_, claims = e.idToken(e.redeem(c).str("id_token"))
	for _, k := range []string{"nonce", "sid", "name", "email", "department"} {
		if _, ok := claims[k]; ok {
			t.Errorf("ID token for scope openid alone carries %s", k)
		}
	}
	c = e.newCode("conf1", func(c *valet.AuthCode) { c.Scopes = []string{"profile"} })
	if r := e.redeem(c); r.str("id_token") != "" {
		t.Errorf("an ID token without scope openid: %s", r.raw)
	}
}

func longString(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return string(b)
}

// TestIDTokenAlgPerClient: a client that registered ES256 gets ES256.
func TestIDTokenAlgPerClient(t *testing.T) {
	e := newEnv(t)
	alg, claims := e.idToken(e.redeem(e.newCode("es1")).str("id_token"))
	if alg != "ES256" || claims["aud"] != "es1" {
		t.Errorf("alg %s aud %v, want ES256 for es1", alg, claims["aud"])
	}
}

// TestIDTokenPairwise: Core §8 — a pairwise client's sub is not the user
// ID, is the same for a client of the same sector and differs across
// sectors; the access token keeps the user ID.
func TestIDTokenPairwise(t *testing.T) {
	e := newEnv(t)
	sub := func(client string) string {
		r := e.redeem(e.newCode(client))
		_, claims := e.idToken(r.str("id_token"))
		if at := e.claims(r.str("access_token")); at.Subject != userID {
			t.Errorf("%s: the access token's sub is %q, want the user ID", client, at.Subject)
		}
		s, _ := claims["sub"].(string)
		return s
	}
	p1 := sub("pair1")
	want, err := e.subjects.For(&valet.Client{ID: "pair1", SubjectType: "pairwise", RedirectURIs: []string{"https://pair.example/cb"}}, userID)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case p1 == userID || p1 == "":
		t.Fatalf("pairwise sub %q", p1)
	case p1 != want:
		t.Errorf("sub %q, want the pairwise value %q", p1, want)
	case sub("pair1") != p1:
		t.Error("the pairwise sub changed between sign-ins")
	case sub("pair2") != p1:
		t.Error("two clients of one sector see different subs")
	case sub("pair3") == p1:
		t.Error("two sectors see the same sub")
	case sub("conf1") != userID:
		t.Error("a public client's sub is not the user ID")
	}
}

// TestIDTokenOnRefresh: Core §12.2 — a refresh of a family with openid
// answers a new ID token with the same sub and auth_time, a new iat, and
// no nonce; a refresh narrowed without openid answers none.
func TestIDTokenOnRefresh(t *testing.T) {
	e := newEnv(t)
	authTime := time.Now().Add(-time.Hour).Truncate(time.Second)
	c := e.newCode("pair1", func(c *valet.AuthCode) { c.Nonce, c.SessionID, c.AuthTime = "n-1", "sid-1", authTime })
	first := e.redeem(c)
	_, orig := e.idToken(first.str("id_token"))
	r := e.refresh("pair1", first.str("refresh_token"))
	_, again := e.idToken(r.str("id_token"))
	for _, k := range []string{"iss", "sub", "aud", "auth_time"} {
		if again[k] != orig[k] {
			t.Errorf("%s: %v after refresh, %v before", k, again[k], orig[k])
		}
	}
	if _, ok := again["nonce"]; ok {
		t.Errorf("a refreshed ID token carries the nonce (Core §12.2: SHOULD NOT)")
	}
	if again["at_hash"] != token.HalfHash(r.str("access_token")) {
		t.Errorf("at_hash is not the new access token's")
	}
	narrowed := e.refresh("pair1", r.str("refresh_token"), "profile")
	if narrowed.str("id_token") != "" {
		t.Errorf("a refresh narrowed to profile carries an ID token")
	}
	// The family still has openid: the next full refresh has one again.
	if e.refresh("pair1", narrowed.str("refresh_token")).str("id_token") == "" {
		t.Errorf("no ID token once the scope is the family's again")
	}
}

// TestIDTokenPasswordAndClientCredentials: the password grant answers an ID
// token when openid is granted (explicitly or by the default scope), the
// client-credentials grant never.
func TestIDTokenPasswordAndClientCredentials(t *testing.T) {
	e := newEnv(t)
	for _, scope := range []string{"openid email", ""} {
		r := e.token(passwordForm(username, password, scope), e.as("pwoidc"))
		e.wantOK(r)
		_, claims := e.idToken(r.str("id_token"))
		if claims["sub"] != userID || claims["aud"] != "pwoidc" || claims["email"] != "ana@example.com" {
			t.Errorf("scope %q: claims %v", scope, claims)
		}
		if at := num(claims["auth_time"]); at < time.Now().Unix()-5 {
			t.Errorf("auth_time %d, want now: the password was just checked", at)
		}
		if e.refresh("pwoidc", r.str("refresh_token")).str("id_token") == "" {
			t.Errorf("scope %q: refreshing a password family with openid gives no ID token", scope)
		}
	}
	r := e.token(passwordForm(username, password, "contacts.read"), e.as("pwoidc"))
	e.wantOK(r)
	if r.str("id_token") != "" {
		t.Error("an ID token without scope openid")
	}
	r = e.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"openid profile"}}, e.as("ccoidc"))
	e.wantOK(r)
	if _, ok := r.body["id_token"]; ok {
		t.Errorf("client credentials answered an ID token: %s", r.raw)
	}
}

// TestIDTokenFailureKeepsTheCode: an ID token that cannot be signed, or a
// person whose account is gone, fails the exchange before the code is
// used; with the signer back the same code still works.
func TestIDTokenFailureKeepsTheCode(t *testing.T) {
	e := newEnv(t)
	c := e.newCode("conf1")
	e.keys.failID.Store(true)
	wantError(t, e.token(codeForm(c), e.as("conf1")), http.StatusInternalServerError, oauth.ServerError)
	e.keys.failID.Store(false)
	_, claims := e.idToken(e.redeem(c).str("id_token"))
	if claims["sub"] != userID {
		t.Errorf("claims %v", claims)
	}

	hidden := &hiddenUsers{}
	e = newEnv(t, func(st *valet.Store) { hidden.UserStore = st.Users; st.Users = hidden })
	c = e.newCode("conf1")
	hidden.hide.Store(true)
	wantError(t, e.token(codeForm(c), e.as("conf1")), http.StatusBadRequest, oauth.InvalidGrant)
	stored, err := e.st.Codes.Get(context.Background(), c.code.Digest, time.Now())
	if err != nil || !stored.UsedAt.IsZero() {
		t.Errorf("the code was used up: %v %v", stored, err)
	}
}
