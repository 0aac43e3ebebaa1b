package web_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestFlow_SignInConsentCode walks the whole browser side: no session, sign
// in through the form, consent through the form, a code at the client.
func TestFlow_SignInConsentCode(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	q := authz("conf1", "https://client.example/cb", "scope", "openid contacts.read")

	r := b.authorize(q)
	if r.StatusCode != http.StatusFound {
		t.Fatalf("no session: status %d, want 302 to /login\n%s", r.StatusCode, r.body)
	}
	loc := r.location(t)
	if loc.Path != "/login" || !strings.HasPrefix(loc.Query().Get("return_to"), "/authorize?") {
		t.Fatalf("no session: Location %s, want /login?return_to=/authorize?...", loc)
	}
	page := b.get(loc.String())
	assertPage(t, page, http.StatusOK)
	for _, want := range []string{`name="username"`, `name="password"`, `<label for="username">`, `<label for="password">`, "Conf One"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("sign-in page lacks %s", want)
		}
	}
	form := url.Values{"username": {"ana"}, "password": {password}, "csrf": {hidden(t, page.body, "csrf")}, "return_to": {hidden(t, page.body, "return_to")}}
	r = b.post("/login", form.Encode())
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: status %d, want 303\n%s", r.StatusCode, r.body)
	}
	back := r.location(t)
	if back.Path != "/authorize" || back.Host != "" {
		t.Fatalf("sign-in returns to %s, want /authorize", back)
	}
	r = b.get(back.String())
	assertPage(t, r, http.StatusOK)
	for _, want := range []string{"Conf One", "Read your contacts", "Confirm who you are", `name="decision" value="allow"`, `name="decision" value="deny"`, `action="/consent"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("consent page lacks %s", want)
		}
	}
	f := consentForm{hidden(t, r.body, "request"), hidden(t, r.body, "expires"), hidden(t, r.body, "csrf")}
	before := time.Now()
	r = b.post("/consent", f.encode("allow"))
	c := e.assertCode(t, r, http.StatusSeeOther, "https://client.example/cb", "st-1")
	if c.ClientID != "conf1" || c.UserID != e.user.ID || c.RedirectURI != "https://client.example/cb" ||
		!slices.Equal(c.Scopes, []string{"contacts.read", "openid"}) || c.Nonce != "n-1" ||
		c.CodeChallenge != challenge || c.CodeChallengeMethod != "S256" || !strings.HasPrefix(c.FamilyID, "fam_") {
		t.Errorf("stored code = %+v", c)
	}
	if d := c.ExpiresAt.Sub(c.CreatedAt); d != 60*time.Second {
		t.Errorf("code lifetime %v, want 60s", d)
	}
	if c.AuthTime.Before(before.Add(-5*time.Second)) || c.AuthTime.After(time.Now()) {
		t.Errorf("auth_time %v is not the sign-in time", c.AuthTime)
	}
	if got := e.consentOf(e.user, "conf1"); got == nil || !slices.Equal(got.Scopes, []string{"contacts.read", "openid"}) {
		t.Errorf("remembered consent = %+v", got)
	}
}

func TestRememberedConsentSkipsThePage(t *testing.T) {
	e := newEnv(t)
	e.consentTo(e.user, "conf1", "openid", "profile", "email")
	r := e.signedIn(e.user).authorize(authz("conf1", "https://client.example/cb"))
	e.assertCode(t, r, http.StatusFound, "https://client.example/cb", "st-1")
}

func TestMoreScopesAskAgain(t *testing.T) {
	e := newEnv(t)
	e.consentTo(e.user, "conf1", "openid", "profile")
	b := e.signedIn(e.user)
	f := b.consentPage(authz("conf1", "https://client.example/cb", "scope", "openid profile contacts.read"))
	r := b.post("/consent", f.encode("allow"))
	e.assertCode(t, r, http.StatusSeeOther, "https://client.example/cb", "st-1")
	// The new consent is the union of the old and the new scopes.
	if got := e.consentOf(e.user, "conf1"); !slices.Equal(got.Scopes, []string{"contacts.read", "openid", "profile"}) {
		t.Errorf("consent scopes = %v", got.Scopes)
	}
	r = b.authorize(authz("conf1", "https://client.example/cb", "scope", "profile"))
	e.assertCode(t, r, http.StatusFound, "https://client.example/cb", "st-1")
}

func TestPromptLoginShowsSignInWithASession(t *testing.T) {
	e := newEnv(t)
	e.consentTo(e.user, "conf1", "openid", "profile")
	b := e.signedIn(e.user)
	r := b.authorize(authz("conf1", "https://client.example/cb", "prompt", "login"))
	if r.StatusCode != http.StatusFound || r.location(t).Path != "/login" {
		t.Fatalf("prompt=login: %d %s, want 302 to /login", r.StatusCode, r.Header.Get("Location"))
	}
	// Signing in satisfies prompt=login, so the way back does not loop.
	rt := r.location(t).Query().Get("return_to")
	if strings.Contains(rt, "prompt") {
		t.Errorf("return_to %q still asks for login", rt)
	}
	r = b.login(authz("conf1", "https://client.example/cb"), "ana", password)
	r = b.get(r.location(t).String())
	c := e.assertCode(t, r, http.StatusFound, "https://client.example/cb", "st-1")
	if time.Since(c.AuthTime) > 10*time.Second {
		t.Errorf("auth_time %v is not the new sign-in", c.AuthTime)
	}
}

func TestPromptConsentShowsConsentAgain(t *testing.T) {
	e := newEnv(t)
	e.consentTo(e.user, "conf1", "openid", "profile")
	e.signedIn(e.user).consentPage(authz("conf1", "https://client.example/cb", "prompt", "consent"))
}

func TestUnknownPromptIsInvalidRequest(t *testing.T) {
	e := newEnv(t)
	b := e.signedIn(e.user)
	for _, p := range []string{"bogus", "none login", "login  consent", "none consent"} {
		r := b.authorize(authz("conf1", "https://client.example/cb", "prompt", p))
		assertRedirectError(t, r, http.StatusFound, "https://client.example/cb", "invalid_request", "st-1")
	}
}

func TestPostAuthorize(t *testing.T) {
	e := newEnv(t)
	e.consentTo(e.user, "conf1", "openid", "profile")
	b := e.signedIn(e.user)
	r := b.post("/authorize", authz("conf1", "https://client.example/cb").Encode())
	e.assertCode(t, r, http.StatusSeeOther, "https://client.example/cb", "st-1")
	r = b.post("/authorize", authz("conf1", "https://client.example/cb", "scope", "openid nope").Encode())
	assertRedirectError(t, r, http.StatusSeeOther, "https://client.example/cb", "invalid_scope", "st-1")
}

func TestDeletedUserSessionIsNoSession(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("gone", "pw-gone-123")
	b := e.signedIn(u)
	if err := e.st.Users.Delete(context.Background(), u.ID); err != nil {
		t.Fatal(err)
	}
	r := b.authorize(authz("conf1", "https://client.example/cb"))
	if r.StatusCode != http.StatusFound || r.location(t).Path != "/login" {
		t.Fatalf("%d %s, want 302 to /login", r.StatusCode, r.Header.Get("Location"))
	}
}
