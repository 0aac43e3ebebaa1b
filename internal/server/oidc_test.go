package server_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/token"
	"golang.org/x/oauth2"
)

// OpenID Connect through the assembled server, with coreos/go-oidc as the
// relying party: it finds everything from the discovery document, verifies
// ID tokens against /jwks, and calls UserInfo. The person is the cookie-jar
// browser of flow_test.go.

// rp is a relying party registered for these tests.
type rp struct {
	id, secret, redirect string
}

// oidcEnv is env with the person's profile filled in, OpenID clients
// registered, and go-oidc's provider built from discovery.
type oidcEnv struct {
	*env
	provider *oidc.Provider
	rps      map[string]rp
}

func newOIDCEnv(t *testing.T) *oidcEnv {
	t.Helper()
	ctx := context.Background()
	e := &oidcEnv{env: newEnv(t, ""), rps: map[string]rp{}}
	if err := e.store.Users.Update(ctx, "user-ana", func(u *valet.User) error {
		u.Name, u.Email, u.EmailVerified = "Ana Lima", "ana@example.com", true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*valet.Client{
		{ID: "rp", RedirectURIs: []string{"https://rp.example/cb"}},
		{ID: "rp-es", RedirectURIs: []string{"https://rp-es.example/cb"}, IDTokenSignedResponseAlg: "ES256"},
		// Two clients of the sector a.example, one of b.example.
		{ID: "pw-a", RedirectURIs: []string{"https://a.example/cb"}, SubjectType: "pairwise"},
		{ID: "pw-a2", RedirectURIs: []string{"https://a.example/other"}, SubjectType: "pairwise"},
		{ID: "pw-b", RedirectURIs: []string{"https://b.example/cb"}, SubjectType: "pairwise"},
	} {
		s := secret.Token("vcs_")
		c.SecretDigest = e.digester.Digest(secret.PurposeClientSecret, s)
		c.GrantTypes = []string{valet.GrantAuthorizationCode, valet.GrantRefreshToken}
		c.Scopes = []string{"openid", "profile", "email", "contacts.read"}
		c.CreatedAt = time.Now()
		c.ApplyDefaults()
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		if err := e.store.Clients.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
		e.rps[c.ID] = rp{id: c.ID, secret: s, redirect: c.RedirectURIs[0]}
	}
	// Everything go-oidc knows comes from the discovery document, which
	// it checks names this very issuer (Discovery §4.3).
	p, err := oidc.NewProvider(ctx, e.srv.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	e.provider = p
	return e
}

// config is the x/oauth2 configuration of client, endpoints from discovery.
func (e *oidcEnv) config(client string, scopes ...string) *oauth2.Config {
	c := e.rps[client]
	ep := e.provider.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader
	return &oauth2.Config{ClientID: c.id, ClientSecret: c.secret, RedirectURL: c.redirect, Scopes: scopes, Endpoint: ep}
}

// signIn runs the code flow for client as p with nonce and returns the
// token response.
func (e *oidcEnv) signIn(t *testing.T, p *person, client, nonce string, scopes ...string) *oauth2.Token {
	t.Helper()
	conf := e.config(client, scopes...)
	v := oauth2.GenerateVerifier()
	state := "st-" + secret.ID("")
	q := p.authorizeTo(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(v), oidc.Nonce(nonce)), conf.RedirectURL)
	if q.Get("state") != state || q.Get("code") == "" {
		t.Fatalf("authorization response %v", q)
	}
	tok, err := conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

// authorizeTo is person.authorize for a client whose redirect URI is
// redirectURI.
func (p *person) authorizeTo(authURL, redirectURI string) url.Values {
	p.t.Helper()
	resp, body := p.get(authURL)
	for range 5 {
		switch {
		case resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther:
			loc, _ := resp.Location()
			if strings.HasPrefix(loc.String(), redirectURI) {
				return loc.Query()
			}
			if !strings.HasPrefix(loc.String(), p.base) {
				p.t.Fatalf("redirected to %s", loc)
			}
			resp, body = p.get(loc.String())
		case resp.StatusCode == http.StatusOK && strings.Contains(body, `action="/login"`):
			f := hiddenFields(body)
			f.Set("username", username)
			f.Set("password", password)
			resp, body = p.post("/login", f)
		case resp.StatusCode == http.StatusOK && strings.Contains(body, `action="/consent"`):
			f := hiddenFields(body)
			f.Set("decision", "allow")
			resp, body = p.post("/consent", f)
		default:
			p.t.Fatalf("unexpected page %d:\n%s", resp.StatusCode, body)
		}
	}
	p.t.Fatal("the flow did not end at the client")
	return nil
}

// idToken returns the id_token of tok.
func idToken(t *testing.T, tok *oauth2.Token) string {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("the token response has no id_token")
	}
	return raw
}

// verify verifies raw with go-oidc as client, at now.
func (e *oidcEnv) verify(raw, client string, now time.Time) (*oidc.IDToken, error) {
	return e.provider.Verifier(&oidc.Config{ClientID: client, Now: func() time.Time { return now }}).Verify(context.Background(), raw)
}

// TestOIDCCodeFlowWithGoOIDC is "sign in with Valet" as a Go app does it:
// discovery, the code flow with PKCE and nonce, the ID token verified by
// go-oidc with its nonce and at_hash, and UserInfo.
func TestOIDCCodeFlowWithGoOIDC(t *testing.T) {
	e := newOIDCEnv(t)
	ctx := context.Background()
	p := newPerson(t, e.srv.URL)
	// A long nonce with characters that URLs and JSON escape comes back
	// exactly (catalogue IP-05).
	nonce := `n-"<>&'\` + "é 𝄞+/=" + strings.Repeat("x", 900)
	tok := e.signIn(t, p, "rp", nonce, oidc.ScopeOpenID, "profile", "email")

	raw := idToken(t, tok)
	idt, err := e.verify(raw, "rp", time.Now())
	if err != nil {
		t.Fatalf("go-oidc refuses the ID token: %v", err)
	}
	// go-oidc leaves the nonce to the app (Core §3.1.3.7 step 11).
	if idt.Nonce != nonce {
		t.Errorf("nonce %q, want the one sent", idt.Nonce)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
		Name          string `json:"name"`
		Username      string `json:"preferred_username"`
		AuthTime      int64  `json:"auth_time"`
		SID           string `json:"sid"`
		AZP           string `json:"azp"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if idt.Subject != "user-ana" || idt.Issuer != e.srv.URL || !slices.Equal(idt.Audience, []string{"rp"}) ||
		claims.Email != "ana@example.com" || !claims.EmailVerified || claims.Name != "Ana Lima" || claims.Username != username ||
		claims.AZP != "" {
		t.Errorf("ID token %+v, claims %+v", idt, claims)
	}
	if d := time.Since(time.Unix(claims.AuthTime, 0)); d < 0 || d > time.Minute {
		t.Errorf("auth_time %d is not the sign-in a moment ago", claims.AuthTime)
	}
	if sid := e.sessionSID(t, p); claims.SID == "" || claims.SID != sid {
		t.Errorf("sid %q, want the browser session's %q", claims.SID, sid)
	}

	// UserInfo, found by go-oidc in the discovery document.
	ui, err := e.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("UserInfo: %v", err)
	}
	var uiClaims map[string]any
	if err := ui.Claims(&uiClaims); err != nil {
		t.Fatal(err)
	}
	if ui.Subject != idt.Subject || ui.Email != "ana@example.com" || !ui.EmailVerified || uiClaims["name"] != "Ana Lima" {
		t.Errorf("UserInfo %+v %v", ui, uiClaims)
	}

	e.logMu.Lock()
	logs := e.logs.String()
	e.logMu.Unlock()
	for name, v := range map[string]string{"ID token": raw, "access token": tok.AccessToken, "nonce": nonce} {
		if strings.Contains(logs, v) || strings.Contains(logs, url.QueryEscape(v)) {
			t.Errorf("the logs contain the %s", name)
		}
	}
}

// sessionSID returns the sid of p's browser session, read from the store
// through the session cookie's digest.
func (e *oidcEnv) sessionSID(t *testing.T, p *person) string {
	t.Helper()
	u, _ := url.Parse(e.srv.URL)
	for _, c := range p.http.Jar.Cookies(u) {
		if strings.HasPrefix(c.Value, "vs_") {
			s, err := e.store.Sessions.Get(context.Background(), e.digester.Digest(secret.PurposeSession, c.Value))
			if err != nil {
				t.Fatal(err)
			}
			return s.SID
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// TestOIDCRejections: what go-oidc (and the nonce check it leaves to the
// app) refuses: a token from another sign-in's nonce, for another client,
// past its lifetime, or signed by a key that is not Valet's.
func TestOIDCRejections(t *testing.T) {
	e := newOIDCEnv(t)
	p := newPerson(t, e.srv.URL)
	raw := idToken(t, e.signIn(t, p, "rp", "nonce-one", oidc.ScopeOpenID))
	other := idToken(t, e.signIn(t, p, "rp", "nonce-two", oidc.ScopeOpenID))
	now := time.Now()
	idt, err := e.verify(raw, "rp", now)
	if err != nil {
		t.Fatalf("control: %v", err)
	}
	// Nonce: an app that sent nonce-two accepts only nonce-two.
	if idt2, err := e.verify(other, "rp", now); err != nil || idt2.Nonce != "nonce-two" || idt.Nonce == idt2.Nonce {
		t.Errorf("nonces %q and %v (%v): each sign-in's ID token must carry its own", idt.Nonce, idt2, err)
	}
	// Another client's verifier.
	if _, err := e.verify(raw, "rp-es", now); err == nil {
		t.Error("go-oidc accepted an ID token for rp as rp-es")
	}
	// Lifetime: one hour (token.DefaultIDTokenTTL), then expired.
	if _, err := e.verify(raw, "rp", now.Add(token.DefaultIDTokenTTL-time.Minute)); err != nil {
		t.Errorf("refused before its hour is up: %v", err)
	}
	if _, err := e.verify(raw, "rp", now.Add(token.DefaultIDTokenTTL+time.Minute)); err == nil {
		t.Error("go-oidc accepted an expired ID token")
	} else if _, ok := err.(*oidc.TokenExpiredError); !ok {
		t.Errorf("expired token: %v, want *oidc.TokenExpiredError", err)
	}
	// The same claims and kid, signed by a key Valet never had.
	parts := strings.Split(raw, ".")
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var h struct{ Kid string }
	json.Unmarshal(header, &h)
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	foreign, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, kid := range []string{h.Kid, "unknown-kid"} {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: foreign},
			(&jose.SignerOptions{}).WithHeader("kid", kid).WithType("JWT"))
		if err != nil {
			t.Fatal(err)
		}
		jws, _ := signer.Sign(payload)
		forged, _ := jws.CompactSerialize()
		if _, err := e.verify(forged, "rp", now); err == nil {
			t.Errorf("go-oidc accepted a token signed by another key (kid %s)", kid)
		}
	}
}

// TestOIDCES256Client: a client registered with ES256 gets ES256 ID tokens,
// which go-oidc verifies; others get RS256.
func TestOIDCES256Client(t *testing.T) {
	e := newOIDCEnv(t)
	p := newPerson(t, e.srv.URL)
	for client, want := range map[string]string{"rp-es": "ES256", "rp": "RS256"} {
		raw := idToken(t, e.signIn(t, p, client, "n", oidc.ScopeOpenID))
		jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		if alg := jws.Signatures[0].Header.Algorithm; alg != want {
			t.Errorf("%s: alg %s, want %s", client, alg, want)
		}
		if _, err := e.verify(raw, client, time.Now()); err != nil {
			t.Errorf("%s: go-oidc refuses: %v", client, err)
		}
	}
}

// TestOIDCPairwise: Core §8 — a pairwise client's sub is not the user ID,
// stays the same across sign-ins, is shared within a sector and differs
// across sectors; UserInfo tells the client the same sub (Core §5.3.2).
func TestOIDCPairwise(t *testing.T) {
	e := newOIDCEnv(t)
	ctx := context.Background()
	sub := func(client string) string {
		t.Helper()
		// A new browser each time: a new sign-in.
		tok := e.signIn(t, newPerson(t, e.srv.URL), client, "n", oidc.ScopeOpenID, "email")
		idt, err := e.verify(idToken(t, tok), client, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ui, err := e.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatal(err)
		}
		if ui.Subject != idt.Subject {
			t.Errorf("%s: UserInfo sub %q, ID token sub %q", client, ui.Subject, idt.Subject)
		}
		// The access token keeps the user ID: introspection and UserInfo
		// look the person up by it.
		if at, err := e.issuer.ParseAccess(tok.AccessToken); err != nil || at.Subject != "user-ana" {
			t.Errorf("%s: access token sub %v (%v), want the user ID", client, at, err)
		}
		return idt.Subject
	}
	a := sub("pw-a")
	switch {
	case a == "user-ana" || a == "":
		t.Fatalf("pairwise sub %q", a)
	case sub("pw-a") != a:
		t.Error("the pairwise sub changed between sign-ins")
	case sub("pw-a2") != a:
		t.Error("two clients of one sector see different subs")
	case sub("pw-b") == a:
		t.Error("two sectors see the same sub")
	case sub("rp") != "user-ana":
		t.Error("a public client's sub is not the user ID")
	}
}

// TestOIDCRefresh: Core §12.2 — refreshing gives a new ID token that go-oidc
// accepts, with the same sub and auth_time and no nonce.
func TestOIDCRefresh(t *testing.T) {
	e := newOIDCEnv(t)
	clients := []string{"rp", "pw-a"}
	toks := map[string]*oauth2.Token{}
	for _, client := range clients {
		toks[client] = e.signIn(t, newPerson(t, e.srv.URL), client, "n-1", oidc.ScopeOpenID, "profile")
	}
	time.Sleep(1100 * time.Millisecond) // so that a new iat is a later second
	for _, client := range clients {
		tok := toks[client]
		first, err := e.verify(idToken(t, tok), client, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		next, err := e.config(client).TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		again, err := e.verify(idToken(t, next), client, time.Now())
		if err != nil {
			t.Fatalf("go-oidc refuses the refreshed ID token: %v", err)
		}
		var c1, c2 struct {
			AuthTime int64 `json:"auth_time"`
		}
		first.Claims(&c1)
		again.Claims(&c2)
		if again.Subject != first.Subject || c2.AuthTime != c1.AuthTime || c1.AuthTime == 0 || again.Nonce != "" ||
			!again.IssuedAt.After(first.IssuedAt) {
			t.Errorf("%s: refreshed %+v (auth_time %d), first %+v (auth_time %d)", client, again, c2.AuthTime, first, c1.AuthTime)
		}
		if err := again.VerifyAccessToken(next.AccessToken); err != nil {
			t.Errorf("%s: at_hash of the refreshed token: %v", client, err)
		}
	}
}
